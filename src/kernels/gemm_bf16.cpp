#include "kernels/gemm_bf16.h"

#include <algorithm>
#include <atomic>
#include <vector>

#include "core/bf16.h"
#include "core/error.h"
#include "core/parallel.h"
#include "core/simd.h"
#include "kernels/gemm.h"
#include "kernels/gemm_bf16_portable.h"
#include "kernels/gemm_bf16_rows.h"
#include "kernels/gemm_dnnl.h"
#include "kernels/gemm_panels.h"

namespace gaincell {
namespace {

std::atomic<Bf16Kernel> g_kernel{Bf16Kernel::kAuto};

#if GAINCELL_WITH_DNNL
constexpr bool kDnnlBuilt = true;
bool have_dnnl_bf16() {
  return dnnl_bf16_available();
}
#else
constexpr bool kDnnlBuilt = false;
bool have_dnnl_bf16() {
  return false;
}
#endif

// A one-row panel by the vdpbf16ps kernels (B [K, N] or, tb, [N, K]); false when they do not apply (no AVX512_BF16
// kernels, or a strided row of A).
[[maybe_unused]] bool avx512bf16_row_panel(bool ta, bool tb, int64_t N, int64_t K, float alpha, const uint16_t* a,
                                           const uint16_t* b, int64_t ldb, float beta, float* c) {
#if GAINCELL_HAVE_AVX512BF16_KERNELS
  if (ta || !avx512bf16_rows_available()) return false;
  thread_local std::vector<float> row;
  const bool direct = alpha == 1.0f && beta == 0.0f;
  if (!direct && row.size() < static_cast<size_t>(N)) row.resize(N);
  float* out = direct ? c : row.data();
  if (tb)
    gemv_bf16_dots_avx512bf16(out, a, b, ldb, K, N);
  else
    gemv_bf16_rows_avx512bf16(out, a, b, ldb, K, N);
  if (!direct)
    for (int64_t j = 0; j < N; ++j) c[j] = alpha * out[j] + (beta == 0.0f ? 0.0f : beta * c[j]);
  return true;
#else
  (void)ta, (void)tb, (void)N, (void)K, (void)alpha, (void)a, (void)b, (void)ldb, (void)beta, (void)c;
  return false;
#endif
}

// One panel on the calling thread by the portable kernel: its AVX2 compilation where the CPU has AVX2 and FMA (the
// same operations in the same order, so the same bits), else its baseline one.
void portable_panel(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const uint16_t* a, int64_t lda,
                    const uint16_t* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  portable_bf16_panel(portable_bf16_avx2_available(), ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
}

// rows x cols of bf16 bits (row stride ld) widened into a compact float32 copy.
const float* widened_copy(std::vector<float>& scratch, const uint16_t* x, int64_t rows, int64_t cols, int64_t ld) {
  if (scratch.size() < static_cast<size_t>(rows * cols)) scratch.resize(rows * cols);
  float* out = scratch.data();
  parallel_for(
      0, rows,
      [&](int64_t r) {
        for (int64_t j = 0; j < cols; ++j) out[r * cols + j] = from_bf16(x[r * ld + j]);
      },
      rows * cols);
  return out;
}

}  // namespace

bool portable_bf16_avx2_available() {
#if GAINCELL_HAVE_AVX2_KERNELS
  static const bool available =
      __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  return available;
#else
  return false;
#endif
}

void portable_bf16_panel(bool avx2, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const uint16_t* a,
                         int64_t lda, const uint16_t* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  thread_local std::vector<float> row, acc;  // grow once to the largest K and N, then reused
  if (row.size() < static_cast<size_t>(K)) row.resize(K);
  if (acc.size() < static_cast<size_t>(N)) acc.resize(N);
#if GAINCELL_HAVE_AVX2_KERNELS
  if (avx2) {
    portable_bf16_panel_avx2(ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc, row.data(), acc.data());
    return;
  }
#endif
  (void)avx2;
  portable_bf16_panel_impl(ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc, row.data(), acc.data());
}

bool avx512bf16_rows_available() {
#if GAINCELL_HAVE_AVX512BF16_KERNELS
  static const bool available = __builtin_cpu_supports("avx512bf16");
  return available;
#else
  return false;
#endif
}

bool bf16_kernel_available(Bf16Kernel k) {
  return k != Bf16Kernel::kDnnl || have_dnnl_bf16();
}

void set_bf16_kernel(Bf16Kernel k) {
  if (!bf16_kernel_available(k))
    fail_expected("gemm", "oneDNN bf16 matmul primitives",
                  kDnnlBuilt ? "none on this CPU (oneDNN 2.6 needs AVX512_BF16 or AMX)"
                             : "a build without oneDNN (configure with GAINCELL_DNNL=ON and libdnnl-dev)");
  g_kernel.store(k);
}

Bf16Kernel bf16_kernel() {
  const Bf16Kernel k = g_kernel.load();
  if (k != Bf16Kernel::kAuto) return k;
  return have_dnnl_bf16() ? Bf16Kernel::kDnnl : Bf16Kernel::kPortable;
}

std::string bf16_kernel_label(Bf16Kernel k, int64_t M) {
  if (k == Bf16Kernel::kAuto) k = bf16_kernel();
#if GAINCELL_WITH_DNNL
  if (k == Bf16Kernel::kDnnl && M == 1 && avx512bf16_rows_available()) return "vdpbf16ps rows (AVX512_BF16)";
  if (k == Bf16Kernel::kDnnl)
    return "oneDNN " + dnnl_version_string() + " " + dnnl_bf16_impl_name(M) + " isa=" + dnnl_isa_name();
#endif
  (void)M;
  return "portable (bf16 widened to f32 in the product)";
}

namespace {

// to_bf16 over n contiguous floats, in a loop that vectorizes (to_bf16 is branch-free).
GAINCELL_SIMD_CLONES_512 void to_bf16_row(uint16_t* out, const float* x, int64_t n) {
  for (int64_t j = 0; j < n; ++j) out[j] = to_bf16(x[j]);
}

}  // namespace

void to_bf16_matrix(uint16_t* out, const float* x, int64_t rows, int64_t cols, int64_t ld, bool transposed) {
  if (!transposed) {
    parallel_for(
        0, rows, [&](int64_t r) { to_bf16_row(out + r * cols, x + r * ld, cols); }, rows * cols * 4);
    return;
  }
  // out[j, r] = x[r, j] in 32 x 32 tiles (a row-by-row scatter wrote a new cache line per element: 38 % of a bf16
  // training step of gpt2); each task owns 32 output rows.
  constexpr int64_t kTile = 32;
  parallel_for(
      0, (cols + kTile - 1) / kTile,
      [&](int64_t jb) {
        const int64_t j1 = std::min(cols, (jb + 1) * kTile);
        for (int64_t r0 = 0; r0 < rows; r0 += kTile) {
          const int64_t r1 = std::min(rows, r0 + kTile);
          for (int64_t j = jb * kTile; j < j1; ++j)
            for (int64_t r = r0; r < r1; ++r) out[j * rows + r] = to_bf16(x[r * ld + j]);
        }
      },
      rows * cols * 4);
}

namespace {

// One panel of a bf16 product by the kernel chosen for the whole product.
void bf16_panel(Bf16Kernel kernel, bool ta, bool tb, int64_t m, int64_t n, int64_t k, float al, const uint16_t* a,
                int64_t lda, const uint16_t* b, int64_t ldb, float be, float* c, int64_t ldc) {
#if GAINCELL_WITH_DNNL
  if (kernel == Bf16Kernel::kDnnl && m == 1 && avx512bf16_row_panel(ta, tb, n, k, al, a, b, ldb, be, c)) return;
  if (kernel == Bf16Kernel::kDnnl && dnnl_gemm_panel_bf16(ta, tb, m, n, k, al, a, lda, b, ldb, be, c, ldc)) return;
#endif
  (void)kernel;
  portable_panel(ta, tb, m, n, k, al, a, lda, b, ldb, be, c, ldc);
}

}  // namespace

void gemm_bf16_row_products(const uint16_t* a, int64_t K, const RowProduct<uint16_t>* parts, int n_parts) {
  const Bf16Kernel kernel = bf16_kernel();
  panels::row_products(
      [kernel](bool pta, bool ptb, int64_t m, int64_t n, int64_t k, float al, const uint16_t* pa, int64_t plda,
               const uint16_t* pb, int64_t pldb, float be, float* pc,
               int64_t pldc) { bf16_panel(kernel, pta, ptb, m, n, k, al, pa, plda, pb, pldb, be, pc, pldc); },
      [a, K](const RowProduct<uint16_t>& p) {
        gemm_bf16_deterministic(false, true, 1, p.N, K, 1.0f, a, K, p.b, p.ldb, 0.0f, p.c, p.N);
      },
      a, K, parts, n_parts);
}

void gemm_bf16_deterministic(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const uint16_t* a,
                             int64_t lda, const uint16_t* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (M * N * K <= panels::kSmallGemm) {
    portable_panel(ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  const Bf16Kernel kernel = bf16_kernel();
  if (kernel == Bf16Kernel::kPortable && M > 1) {  // widened copies through the float32 library GEMM
    thread_local std::vector<float> wide_a, wide_b;
    const float* wa = widened_copy(wide_a, a, ta ? K : M, ta ? M : K, lda);
    const float* wb = widened_copy(wide_b, b, tb ? N : K, tb ? K : N, ldb);
    gemm_deterministic(ta, tb, M, N, K, alpha, wa, ta ? M : K, wb, tb ? K : N, beta, c, ldc);
    return;
  }
  panels::gemm_panels(
      [kernel](bool pta, bool ptb, int64_t m, int64_t n, int64_t k, float al, const uint16_t* pa, int64_t plda,
               const uint16_t* pb, int64_t pldb, float be, float* pc,
               int64_t pldc) { bf16_panel(kernel, pta, ptb, m, n, k, al, pa, plda, pb, pldb, be, pc, pldc); },
      ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace gaincell
