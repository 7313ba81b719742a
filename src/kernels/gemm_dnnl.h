// oneDNN matmul panels (Debian libdnnl-dev, built with GAINCELL_DNNL): one primitive per (shape, strides,
// alpha, beta, precision), created once and cached, each run single-threaded on the calling thread. Used by
// gemm_deterministic (kernels/gemm.cpp) for the panels of the shape classes routed to oneDNN, so the panel
// scheme, and with it the same bits at any thread count, stays the same as with OpenBLAS.
#pragma once
#include <cstdint>
#include <string>

namespace gaincell {

#if GAINCELL_WITH_DNNL
// C[M, N] = alpha op(A) op(B) + beta C on the calling thread (row-major; a, b, c as in gemm_deterministic).
void dnnl_gemm_panel(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* a, int64_t lda,
                     const float* b, int64_t ldb, float beta, float* c, int64_t ldc);
// The same with bf16 operands (uint16_t bits, core/bf16.h) and a float32 C: oneDNN multiplies bf16 values exactly
// and accumulates in float32 (vdpbf16ps on AVX512_BF16, tdpbf16ps on AMX). Returns false, computing nothing, when
// oneDNN has no bf16 implementation of this panel's layout on this CPU (always, where !dnnl_bf16_available()).
bool dnnl_gemm_panel_bf16(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const uint16_t* a,
                          int64_t lda, const uint16_t* b, int64_t ldb, float beta, float* c, int64_t ldc);
// Whether oneDNN creates bf16 matmul primitives on this CPU (oneDNN 2.6: AVX512_BF16 or AMX; not on AVX2 CPUs,
// where even its reference implementation is missing). Probed once.
bool dnnl_bf16_available();
// oneDNN's implementation string for a single-threaded bf16 product of rows x 768 x 3072 ("brg:avx512_core_bf16",
// "brg:avx512_core_amx"), "none" when unavailable.
std::string dnnl_bf16_impl_name(int64_t rows);
// oneDNN's implementation string for a single-threaded f32 product of rows x 768 x 3072 (e.g. "gemm:jit",
// "brg:avx512_core") and the ISA it detected ("avx2", "avx512_core_amx", ...).
std::string dnnl_impl_name(int64_t rows);
std::string dnnl_isa_name();
// oneDNN's version, "2.6.3".
std::string dnnl_version_string();
#endif

}  // namespace gaincell
