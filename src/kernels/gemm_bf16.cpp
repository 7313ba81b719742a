#include "kernels/gemm_bf16.h"

#include <algorithm>
#include <atomic>
#include <vector>

#include "core/bf16.h"
#include "core/error.h"
#include "core/parallel.h"
#include "kernels/gemm.h"
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

// dot(x[K], w[K]) with w in bf16: 16 partial sums (lane l takes k = l mod 16) added pairwise at the end, an order
// fixed by K alone that compilers vectorize without reassociating anything.
float dot_bf16(const float* x, const uint16_t* w, int64_t K) {
  float lane[16] = {};
  int64_t k = 0;
  for (; k + 16 <= K; k += 16)
    for (int l = 0; l < 16; ++l) lane[l] += x[k + l] * from_bf16(w[k + l]);
  for (int l = 0; k + l < K; ++l) lane[l] += x[k + l] * from_bf16(w[k + l]);
  for (int half = 8; half > 0; half /= 2)
    for (int l = 0; l < half; ++l) lane[l] += lane[l + half];
  return lane[0];
}

// acc[j] += sum_{r < n} x[r] w[r, j] (w bf16, row stride ldw), the rows added in order; four rows per pass over
// acc, each acc[j] still summed row after row.
void axpy_rows_bf16(float* acc, const float* x, const uint16_t* w, int64_t ldw, int64_t n, int64_t N) {
  int64_t r = 0;
  for (; r + 4 <= n; r += 4) {
    const float x0 = x[r], x1 = x[r + 1], x2 = x[r + 2], x3 = x[r + 3];
    const uint16_t *w0 = w + r * ldw, *w1 = w0 + ldw, *w2 = w1 + ldw, *w3 = w2 + ldw;
    for (int64_t j = 0; j < N; ++j) {
      float s = acc[j];
      s += x0 * from_bf16(w0[j]);
      s += x1 * from_bf16(w1[j]);
      s += x2 * from_bf16(w2[j]);
      s += x3 * from_bf16(w3[j]);
      acc[j] = s;
    }
  }
  for (; r < n; ++r) {
    const float xr = x[r];
    const uint16_t* wr = w + r * ldw;
    for (int64_t j = 0; j < N; ++j) acc[j] += xr * from_bf16(wr[j]);
  }
}

// One panel on the calling thread, in plain C++: each row of op(A) widened to float32, then its products with
// B's rows (B transposed: dot products) or with B's columns (rows of B added in k order), float32 accumulation.
void portable_panel(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const uint16_t* a, int64_t lda,
                    const uint16_t* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  thread_local std::vector<float> row, acc;  // grow once to the largest K and N, then reused
  if (row.size() < static_cast<size_t>(K)) row.resize(K);
  if (acc.size() < static_cast<size_t>(N)) acc.resize(N);
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t k = 0; k < K; ++k) row[k] = from_bf16(ta ? a[k * lda + i] : a[i * lda + k]);
    if (tb) {
      for (int64_t j = 0; j < N; ++j) acc[j] = dot_bf16(row.data(), b + j * ldb, K);
    } else {
      std::fill_n(acc.data(), N, 0.0f);
      axpy_rows_bf16(acc.data(), row.data(), b, ldb, K, N);
    }
    float* ci = c + i * ldc;
    for (int64_t j = 0; j < N; ++j) ci[j] = alpha * acc[j] + (beta == 0.0f ? 0.0f : beta * ci[j]);
  }
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

void to_bf16_matrix(uint16_t* out, const float* x, int64_t rows, int64_t cols, int64_t ld, bool transposed) {
  parallel_for(
      0, rows,
      [&](int64_t r) {
        const float* xr = x + r * ld;
        if (transposed)
          for (int64_t j = 0; j < cols; ++j) out[j * rows + r] = to_bf16(xr[j]);
        else
          for (int64_t j = 0; j < cols; ++j) out[r * cols + j] = to_bf16(xr[j]);
      },
      rows * cols * 4);
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
               const uint16_t* pb, int64_t pldb, float be, float* pc, int64_t pldc) {
#if GAINCELL_WITH_DNNL
        if (kernel == Bf16Kernel::kDnnl && m == 1 && avx512bf16_row_panel(pta, ptb, n, k, al, pa, pb, pldb, be, pc))
          return;
        if (kernel == Bf16Kernel::kDnnl &&
            dnnl_gemm_panel_bf16(pta, ptb, m, n, k, al, pa, plda, pb, pldb, be, pc, pldc))
          return;
#endif
        (void)kernel;
        portable_panel(pta, ptb, m, n, k, al, pa, plda, pb, pldb, be, pc, pldc);
      },
      ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace gaincell
