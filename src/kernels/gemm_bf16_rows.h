// CPU-specific builds of the bf16 GEMM's panels. Decoding rows (M = 1) with AVX512_BF16's vdpbf16ps
// (kernels/gemv_bf16_avx512bf16.cpp), used by gemm_bf16_deterministic's oneDNN kernel for its one-row panels:
// oneDNN 2.6's bf16 matmul re-packs the weight panel on every call, which for a single row costs more than the product
// (docs/precision.md). Internal to kernels/; call only where avx512bf16_rows_available().
#pragma once
#include <cstdint>

namespace gaincell {

// Built in (GAINCELL_HAVE_AVX512BF16_KERNELS) and the CPU has AVX512_BF16.
bool avx512bf16_rows_available();

#if GAINCELL_HAVE_AVX512BF16_KERNELS
// c[j] = sum_k a[k] b[k * ldb + j] for j < N (B [K, N] rows of bf16; a [K] bf16), rows added in pairs in k order.
void gemv_bf16_rows_avx512bf16(float* c, const uint16_t* a, const uint16_t* b, int64_t ldb, int64_t K, int64_t N);
// c[j] = dot(a[0, K), b[j * ldb, j * ldb + K)) for j < N (B [N, K]): 16 lanes of pairs, then a fixed reduction.
void gemv_bf16_dots_avx512bf16(float* c, const uint16_t* a, const uint16_t* b, int64_t ldb, int64_t K, int64_t N);
#endif

// One panel of the portable kernel (kernels/gemm_bf16_portable.h), by its AVX2 compilation (avx2, where
// portable_bf16_avx2_available()) or its baseline one: the same bits (tests/unit/gemm_bf16_test.cpp).
bool portable_bf16_avx2_available();
void portable_bf16_panel(bool avx2, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const uint16_t* a,
                         int64_t lda, const uint16_t* b, int64_t ldb, float beta, float* c, int64_t ldc);
#if GAINCELL_HAVE_AVX2_KERNELS
// row and acc: scratch of K and N floats.
void portable_bf16_panel_avx2(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const uint16_t* a,
                              int64_t lda, const uint16_t* b, int64_t ldb, float beta, float* c, int64_t ldc,
                              float* row, float* acc);
#endif

}  // namespace gaincell
