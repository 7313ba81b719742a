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
// oneDNN's implementation string for a single-threaded f32 product of rows x 768 x 3072 (e.g. "gemm:jit",
// "brg:avx512_core") and the ISA it detected ("avx2", "avx512_core_amx", ...).
std::string dnnl_impl_name(int64_t rows);
std::string dnnl_isa_name();
// oneDNN's version, "2.6.3".
std::string dnnl_version_string();
#endif

}  // namespace gaincell
