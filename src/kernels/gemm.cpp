#include "kernels/gemm.h"

#include <atomic>

#include "core/error.h"
#include "core/parallel.h"
#include "kernels/gemm_dnnl.h"
#include "kernels/gemm_panels.h"

#if GAINCELL_WITH_OPENBLAS
#include <cblas.h>
#endif

namespace gaincell {
namespace {

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

// The measured default (docs/performance.md, "oneDNN" and "Intel AMX host"): on AVX2 CPUs OpenBLAS's kernels
// beat oneDNN 2.6's gemm:jit for both shape classes; on the Intel host with AMX, oneDNN's brgemm f32 kernels
// (brg:avx512_core) run a gpt2 prompt in 181 ms against OpenBLAS SkylakeX's 224 and a training step in 879
// against 1011 ms, while OpenBLAS's sgemv still decodes faster (24 against 31 ms/token). So oneDNN for products
// of several rows on CPUs whose oneDNN ISA includes AMX (other AVX-512 CPUs are not measured: OpenBLAS, as
// before), and OpenBLAS otherwise wherever it is built in, then oneDNN, then loops.
GemmLibrary default_library(int64_t M) {
#if GAINCELL_WITH_DNNL && GAINCELL_WITH_OPENBLAS
  static const bool dnnl_for_rows = dnnl_isa_name().find("amx") != std::string::npos;
  if (M > 1 && dnnl_for_rows) return GemmLibrary::kDnnl;
#else
  (void)M;
#endif
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
  if (M * N * K <= panels::kSmallGemm) {  // tiny: plain loops on this thread (a parallel region costs more)
    gemm_loops(ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  const GemmLibrary lib = gemm_library_for_rows(M);
  panels::gemm_panels([lib](bool pta, bool ptb, int64_t m, int64_t n, int64_t k, float al, const float* pa,
                            int64_t plda, const float* pb, int64_t pldb, float be, float* pc,
                            int64_t pldc) { gemm_panel(lib, pta, ptb, m, n, k, al, pa, plda, pb, pldb, be, pc, pldc); },
                      ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
}

void gemm_row_products(const float* a, int64_t K, const RowProduct<float>* parts, int n_parts) {
  const GemmLibrary lib = gemm_library_for_rows(1);
  panels::row_products(
      [lib](bool pta, bool ptb, int64_t m, int64_t n, int64_t k, float al, const float* pa, int64_t plda,
            const float* pb, int64_t pldb, float be, float* pc,
            int64_t pldc) { gemm_panel(lib, pta, ptb, m, n, k, al, pa, plda, pb, pldb, be, pc, pldc); },
      [a, K](const RowProduct<float>& p) {
        gemm_deterministic(false, true, 1, p.N, K, 1.0f, a, K, p.b, p.ldb, 0.0f, p.c, p.N);
      },
      a, K, parts, n_parts);
}

}  // namespace gaincell
