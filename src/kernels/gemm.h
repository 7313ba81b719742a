// The one GEMM entry of the engine, inference and training alike (style R9: same bits at any thread count).
//
// Multi-threaded BLAS calls are not reproducible across thread counts: OpenBLAS changes its blocking with the
// thread count (measured: sgemm and the large sgemv round differently at 1 and 2 threads). gemm_deterministic
// cuts the output into panels whose size depends on the shape only and computes each panel with one
// single-threaded BLAS call inside an OpenMP region, so every output element is computed the same way whatever
// the thread count. On this project's 2-core machines the panels run as fast as OpenBLAS's own threading, within
// run-to-run noise (docs/performance.md, "Deterministic GEMMs").
#pragma once
#include <cstdint>
#include <string>

namespace gaincell {

// The library that computes the panels. kAuto picks, per shape class (one row: matrix-vector, decoding; more
// rows: matrix-matrix), the faster library this build has, as measured on this project's machines
// (docs/performance.md, "oneDNN", "Intel AMX host"): OpenBLAS for both classes on AVX2 CPUs; oneDNN for several
// rows and OpenBLAS for one on CPUs with AMX. kLoops is the plain triple loop.
enum class GemmLibrary { kAuto, kOpenBlas, kDnnl, kLoops };
// Forces one library for every shape class (kAuto restores the defaults); throws Error when the build lacks it.
void set_gemm_library(GemmLibrary lib);
bool gemm_library_available(GemmLibrary lib);
// The library that computes a product with M rows under the current setting (never kAuto).
GemmLibrary gemm_library_for_rows(int64_t M);
// "OpenBLAS 0.3.21 ... core=Zen", "oneDNN 2.6.3 gemm:jit isa=avx2" (oneDNN's implementation string for a
// product of M rows and its run-time ISA), "loops".
std::string gemm_library_label(GemmLibrary lib, int64_t M);

// C[M, N] = alpha op(A) op(B) + beta C (row-major, leading dimensions lda, ldb, ldc; beta 0 ignores C's old
// contents). The output is cut along its longer side into at most 8 panels (multiples of 64, >= 128 wide). A
// single row times an untransposed B (M == 1, !trans_b: decoding through matmul_forward) cuts K instead, into
// matrix-vector products over contiguous blocks of B's rows whose partial rows are added in panel order; a
// single row times a transposed B (the lm_head) cuts N. Products of at most 2^16 multiply-adds run as plain
// loops on the calling thread.
void gemm_deterministic(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* a,
                        int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// One product of a decoding row with a transposed B: c[1, N] = a[1, K] B^T, B [N][K] with row stride ldb (T: float,
// or uint16_t bf16 bits).
template <typename T>
struct RowProduct {
  int64_t N;
  const T* b;
  int64_t ldb;
  float* c;
};
// Products c_i[1, N_i] = a[1, K] B_i^T of one row: for each the bits of gemm_deterministic(false, true, 1, N_i, K,
// 1, a, K, B_i, ldb_i, 0, c_i, N_i), in one parallel region (kernels/gemm_panels.h, row_products).
void gemm_row_products(const float* a, int64_t K, const RowProduct<float>* parts, int n_parts);

}  // namespace gaincell
