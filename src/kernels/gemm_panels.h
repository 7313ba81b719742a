// The fixed panel scheme of gemm_deterministic (kernels/gemm.h), shared by the float32 GEMM and the bf16 one
// (kernels/gemm_bf16.h): panel lengths, and the decoding row's cut of K, depend on the shape only, and each
// panel is computed by one single-threaded call on the thread that owns it, so every output element is computed
// the same way at any thread count. Internal to kernels/.
//
// A Panel is a callable panel(ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc) computing C[M, N] = alpha
// op(A) op(B) + beta C on the calling thread; T is the operand type (float, or uint16_t bf16 bits).
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/parallel.h"

namespace gaincell::panels {

// Products of at most this many multiply-adds run as plain loops on the calling thread (a parallel region costs
// more).
constexpr int64_t kSmallGemm = int64_t{1} << 16;

// Panel length along a dimension of length len: at most 8 panels, each a multiple of 64 and at least 128 long,
// so a shared operand is packed rarely and 2-8 threads balance. Depends on the shape only.
inline int64_t panel_length(int64_t len) {
  return std::max<int64_t>(128, ((len + 7) / 8 + 63) / 64 * 64);
}

// A decoding row c[1, N] = alpha a[1, K] B[K, N] + beta c, with B's rows contiguous. Cutting N would make every
// panel read short strided pieces of each row of B (measured 25 % slower decoding on one thread than one BLAS
// call), so K is cut instead: panel p reads rows [k0, k1) of B, one contiguous block, into its own partial row,
// and the partial rows are added in panel order, an order that depends on the shape only.
template <typename T, typename Panel>
void gemv_rows(const Panel& panel, int64_t N, int64_t K, float alpha, const T* a, int64_t inc_a, const T* b,
               int64_t ldb, float beta, float* c) {
  const int64_t len = panel_length(K), panels = (K + len - 1) / len;
  thread_local std::vector<float> partial;  // grows once to the largest panels x N, then reused
  if (partial.size() < static_cast<size_t>(panels * N)) partial.resize(panels * N);
  float* part = partial.data();
#pragma omp parallel num_threads(num_threads())
  {
#pragma omp for schedule(static)
    for (int64_t p = 0; p < panels; ++p) {
      const int64_t k0 = p * len, k = std::min(len, K - k0);
      panel(inc_a != 1, false, 1, N, k, 1.0f, a + k0 * inc_a, inc_a, b + k0 * ldb, ldb, 0.0f, part + p * N, N);
    }
#pragma omp for schedule(static)
    for (int64_t j = 0; j < N; ++j) {
      float acc = part[j];
      for (int64_t p = 1; p < panels; ++p) acc += part[p * N + j];
      c[j] = alpha * acc + (beta == 0.0f ? 0.0f : beta * c[j]);
    }
  }
}

// C[M, N] = alpha op(A) op(B) + beta C through fixed panels (gemm_deterministic's scheme, past its small-product
// check): the output cut along its longer side, or a single row times an untransposed B cut along K.
template <typename T, typename Panel>
void gemm_panels(const Panel& panel, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const T* a,
                 int64_t lda, const T* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (M == 1 && !tb) {
    gemv_rows(panel, N, K, alpha, a, ta ? lda : 1, b, ldb, beta, c);
    return;
  }
  const bool by_rows = M >= N;
  const int64_t len = by_rows ? M : N;
  // A decoding row against a transposed B ([N][K], PyTorch's layout of Llama checkpoints): N in 8 equal panels
  // (multiples of 8), so 2, 4 or 8 threads get equal shares; panel_length's multiples of 64 cut SmolLM's 576 and
  // 192 outputs into 5 and 2 unequal panels (3 against 2 on two threads: 15 % of its decode step was spent
  // waiting at the barrier). Every output stays one dot product over the whole of K inside one panel.
  const int64_t plen = M == 1 && !by_rows ? std::max<int64_t>(8, ((N + 7) / 8 + 7) / 8 * 8) : panel_length(len);
  const int64_t panels = (len + plen - 1) / plen;
  // Always a parallel region, even for one panel or one thread: BLAS called inside one runs single-threaded.
#pragma omp parallel for schedule(static) num_threads(num_threads())
  for (int64_t p = 0; p < panels; ++p) {
    const int64_t lo = p * plen, n = std::min(plen, len - lo);
    if (by_rows)
      panel(ta, tb, n, N, K, alpha, ta ? a + lo : a + lo * lda, lda, b, ldb, beta, c + lo * ldc, ldc);
    else
      panel(ta, tb, M, n, K, alpha, a, lda, tb ? b + lo * ldb : b + lo, ldb, beta, c + lo, ldc);
  }
}

}  // namespace gaincell::panels
