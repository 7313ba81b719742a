// The portable bf16 kernel (kernels/gemm_bf16_portable.h) compiled with AVX2 (files named *_avx2.cpp get
// -mavx2 -mfma -mf16c); called after a CPUID check (kernels/gemm_bf16.cpp). The same bits as its baseline build.
#include "kernels/gemm_bf16_portable.h"
#include "kernels/gemm_bf16_rows.h"

namespace gaincell {

void portable_bf16_panel_avx2(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const uint16_t* a,
                              int64_t lda, const uint16_t* b, int64_t ldb, float beta, float* c, int64_t ldc,
                              float* row, float* acc) {
  portable_bf16_panel_impl(ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc, row, acc);
}

}  // namespace gaincell
