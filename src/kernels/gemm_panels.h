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
#include "kernels/gemm.h"  // RowProduct

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

// The panel length of a decoding row against a transposed B ([N][K], PyTorch's layout of Llama checkpoints): N in
// 8 equal panels (multiples of 8), so 2, 4 or 8 threads get equal shares; panel_length's multiples of 64 cut
// SmolLM's 576 and 192 outputs into 5 and 2 unequal panels (3 against 2 on two threads: 15 % of its decode step
// was spent waiting at the barrier). Every output stays one dot product over the whole of K inside one panel.
inline int64_t row_panel_length(int64_t N) {
  return std::max<int64_t>(8, ((N + 7) / 8 + 7) / 8 * 8);
}

// Several products of one decoding row a with transposed Bs (kernels/gemm.h, RowProduct: the q, k and v projections
// of a Llama block, or its gate and up) in one parallel region: each product cut into the panels gemm_panels gives
// it alone, so every output has the bits of its own call, and the panels of all dealt to the threads in contiguous
// runs of about equal rows. One region instead of one per product: SmolLM decodes ~14 small products per layer,
// and a barrier each, with the small products' unequal shares, was ~10 % of its step. A product the deterministic
// GEMM would not cut into panels (at most kSmallGemm multiply-adds, or one column), and any past the eighth, goes
// to alone(product), the caller's single-product GEMM.
template <typename T, typename Panel, typename Alone>
void row_products(const Panel& panel, const Alone& alone, const T* a, int64_t K, const RowProduct<T>* all, int n_all) {
  RowProduct<T> parts[8];
  int n_parts = 0;
  for (int i = 0; i < n_all; ++i) {
    if (all[i].N * K <= kSmallGemm || all[i].N == 1 || n_parts == 8)
      alone(all[i]);
    else
      parts[n_parts++] = all[i];
  }
  if (n_parts == 0) return;
  struct Piece {
    int part;
    int64_t lo, n, row0;  // outputs [lo, lo + n) of the part; row0: rows of all parts before this piece
  };
  Piece pieces[64];
  int n_pieces = 0;
  int64_t rows = 0;
  for (int i = 0; i < n_parts; ++i) {
    const int64_t plen = row_panel_length(parts[i].N);
    for (int64_t lo = 0; lo < parts[i].N && n_pieces < 64; lo += plen) {
      pieces[n_pieces++] = {i, lo, std::min(plen, parts[i].N - lo), rows};
      rows += std::min(plen, parts[i].N - lo);
    }
  }
  const int threads = num_threads();
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    const int64_t r0 = rows * t / nt, r1 = rows * (t + 1) / nt;
    for (int p = 0; p < n_pieces; ++p) {
      const Piece& q = pieces[p];
      if (q.row0 < r0 || q.row0 >= r1) continue;  // the piece starting in this thread's share of the rows
      const RowProduct<T>& part = parts[q.part];
      panel(false, true, 1, q.n, K, 1.0f, a, K, part.b + q.lo * part.ldb, part.ldb, 0.0f, part.c + q.lo, part.N);
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
  const int64_t plen = M == 1 && !by_rows ? row_panel_length(N) : panel_length(len);  // (row_panel_length)
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
