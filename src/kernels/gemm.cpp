#include "kernels/gemm.h"

#include <algorithm>
#include <atomic>
#include <vector>

#include "core/error.h"
#include "core/parallel.h"
#include "kernels/gemm_dnnl.h"

#if GAINCELL_WITH_OPENBLAS
#include <cblas.h>
#endif

namespace gaincell {
namespace {

constexpr int64_t kSmallGemm = int64_t{1} << 16;
#if GAINCELL_WITH_OPENBLAS
constexpr bool kHaveOpenBlas = true;
#else
constexpr bool kHaveOpenBlas = false;
#endif
#if GAINCELL_WITH_DNNL
constexpr bool kHaveDnnl = true;
#else
constexpr bool kHaveDnnl = false;
#endif

// The plain triple loop (float accumulation in k order): the small-product path, and every panel when built
// without BLAS.
void gemm_loops(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* a, int64_t lda,
                const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      float acc = 0.0f;
      for (int64_t k = 0; k < K; ++k)
        acc += (ta ? a[k * lda + i] : a[i * lda + k]) * (tb ? b[j * ldb + k] : b[k * ldb + j]);
      c[i * ldc + j] = alpha * acc + (beta == 0.0f ? 0.0f : beta * c[i * ldc + j]);
    }
}

#if GAINCELL_WITH_OPENBLAS
// One panel C[M, N] of the product, on the calling thread (BLAS runs single-threaded inside an OpenMP region).
// A single row is a matrix-vector product: c = alpha op(B)^T a + beta c.
void openblas_panel(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* a, int64_t lda,
                    const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (M == 1) {
    const int64_t inc_a = ta ? lda : 1;
    if (tb)  // B is [N, K]: c[N] = B a
      cblas_sgemv(CblasRowMajor, CblasNoTrans, N, K, alpha, b, ldb, a, inc_a, beta, c, 1);
    else  // B is [K, N]: c[N] = B^T a
      cblas_sgemv(CblasRowMajor, CblasTrans, K, N, alpha, b, ldb, a, inc_a, beta, c, 1);
    return;
  }
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, a, lda, b,
              ldb, beta, c, ldc);
}
#endif

std::atomic<GemmLibrary> g_library{GemmLibrary::kAuto};

// The measured default (docs/performance.md, "oneDNN"): on AVX2 CPUs OpenBLAS's kernels beat oneDNN 2.6's
// gemm:jit for both shape classes, so OpenBLAS wherever it is built in, then oneDNN, then loops.
GemmLibrary default_library(int64_t /*M*/) {
#if GAINCELL_WITH_OPENBLAS
  return GemmLibrary::kOpenBlas;
#elif GAINCELL_WITH_DNNL
  return GemmLibrary::kDnnl;
#else
  return GemmLibrary::kLoops;
#endif
}

// One panel on the calling thread, by the library chosen for the whole product (lib, never kAuto).
void gemm_panel(GemmLibrary lib, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* a,
                int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  switch (lib) {
#if GAINCELL_WITH_OPENBLAS
    case GemmLibrary::kOpenBlas:
      openblas_panel(ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
      return;
#endif
#if GAINCELL_WITH_DNNL
    case GemmLibrary::kDnnl:
      dnnl_gemm_panel(ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
      return;
#endif
    default:
      gemm_loops(ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
  }
}

// Panel length along a dimension of length len: at most 8 panels, each a multiple of 64 and at least 128 long,
// so a shared operand is packed rarely and 2-8 threads balance. Depends on the shape only.
int64_t panel_length(int64_t len) {
  return std::max<int64_t>(128, ((len + 7) / 8 + 63) / 64 * 64);
}

// A decoding row c[1, N] = alpha a[1, K] B[K, N] + beta c, with B's rows contiguous. Cutting N would make every
// panel read short strided pieces of each row of B (measured 25 % slower decoding on one thread than one BLAS call), so
// K is cut instead: panel p reads rows [k0, k1) of B, one contiguous block, into its own partial row, and the
// partial rows are added in panel order, an order that depends on the shape only.
void gemv_rows_deterministic(GemmLibrary lib, int64_t N, int64_t K, float alpha, const float* a, int64_t inc_a,
                             const float* b, int64_t ldb, float beta, float* c) {
  const int64_t panel = panel_length(K), panels = (K + panel - 1) / panel;
  thread_local std::vector<float> partial;  // grows once to the largest panels x N, then reused
  if (partial.size() < static_cast<size_t>(panels * N)) partial.resize(panels * N);
  float* part = partial.data();
#pragma omp parallel num_threads(num_threads())
  {
#pragma omp for schedule(static)
    for (int64_t p = 0; p < panels; ++p) {
      const int64_t k0 = p * panel, k = std::min(panel, K - k0);
      gemm_panel(lib, inc_a != 1, false, 1, N, k, 1.0f, a + k0 * inc_a, inc_a, b + k0 * ldb, ldb, 0.0f, part + p * N,
                 N);
    }
#pragma omp for schedule(static)
    for (int64_t j = 0; j < N; ++j) {
      float acc = part[j];
      for (int64_t p = 1; p < panels; ++p) acc += part[p * N + j];
      c[j] = alpha * acc + (beta == 0.0f ? 0.0f : beta * c[j]);
    }
  }
}

}  // namespace

bool gemm_library_available(GemmLibrary lib) {
  switch (lib) {
    case GemmLibrary::kOpenBlas:
      return kHaveOpenBlas;
    case GemmLibrary::kDnnl:
      return kHaveDnnl;
    default:
      return true;
  }
}

void set_gemm_library(GemmLibrary lib) {
  if (!gemm_library_available(lib))
    fail_expected("gemm", "a GEMM library built into this binary",
                  lib == GemmLibrary::kDnnl ? "oneDNN (configure with GAINCELL_DNNL=ON and libdnnl-dev)"
                                            : "OpenBLAS (configure with GAINCELL_WITH_OPENBLAS=ON)");
  g_library.store(lib);
}

GemmLibrary gemm_library_for_rows(int64_t M) {
  const GemmLibrary lib = g_library.load();
  return lib == GemmLibrary::kAuto ? default_library(M) : lib;
}

std::string gemm_library_label(GemmLibrary lib, int64_t M) {
  switch (lib) {
#if GAINCELL_WITH_OPENBLAS
    case GemmLibrary::kOpenBlas:
      return std::string("OpenBLAS ") + openblas_get_config() + " core=" + openblas_get_corename();
#endif
#if GAINCELL_WITH_DNNL
    case GemmLibrary::kDnnl:
      return "oneDNN " + dnnl_version_string() + " " + dnnl_impl_name(M) + " isa=" + dnnl_isa_name();
#endif
    case GemmLibrary::kAuto:
      return gemm_library_label(gemm_library_for_rows(M), M);
    default:
      return "loops";
  }
}

void gemm_deterministic(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* a, int64_t lda,
                        const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (M * N * K <= kSmallGemm) {  // tiny: plain loops on this thread (a parallel region costs more)
    gemm_loops(ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  const GemmLibrary lib = gemm_library_for_rows(M);
  if (M == 1 && !tb) {
    gemv_rows_deterministic(lib, N, K, alpha, a, ta ? lda : 1, b, ldb, beta, c);
    return;
  }
  const bool by_rows = M >= N;
  const int64_t len = by_rows ? M : N;
  const int64_t panel = panel_length(len), panels = (len + panel - 1) / panel;
  // Always a parallel region, even for one panel or one thread: BLAS called inside one runs single-threaded.
#pragma omp parallel for schedule(static) num_threads(num_threads())
  for (int64_t p = 0; p < panels; ++p) {
    const int64_t lo = p * panel, n = std::min(panel, len - lo);
    if (by_rows)
      gemm_panel(lib, ta, tb, n, N, K, alpha, ta ? a + lo : a + lo * lda, lda, b, ldb, beta, c + lo * ldc, ldc);
    else
      gemm_panel(lib, ta, tb, M, n, K, alpha, a, lda, tb ? b + lo * ldb : b + lo, ldb, beta, c + lo, ldc);
  }
}

}  // namespace gaincell
