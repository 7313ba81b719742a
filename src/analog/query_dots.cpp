// Step 5 of the gain-cell read for a block of queries at once (query_block_dots, array_read.h): the training form
// reads queries in blocks of four, and their sums over d come from one pass over the union of their windows.
#include "analog/array_read.h"
#include "core/simd_v8.h"

namespace gaincell {
namespace {

// The operands of query_block_dots' kernels.
struct QueryDots {
  float* out;       // [Q][slots][n]
  int slots;        // poly.n, plus one for the offset sums with mismatch
  const float* qp;  // [Q][D]
  int D;
  const bool* need;
  const float *ky, *kg, *k_off;  // kg and k_off: the mismatch planes, or null
  int64_t ld, c0, n;
};

// Step 5 for Q queries at once over one column range: the y^p (times 1 + g with mismatch) of each 16 (or 8) keys
// are formed once per row d and used by every query, and with mismatch the offset currents' sums ride along
// (slot poly.n). Each lane sums d = 0, 1, ... with fused multiply-adds as dot_powers and dot_columns do, so the
// same bits. Writes
// out[(j * slots + p) * n + k] for the keys k < n; reads up to L - 1 columns past the range.
template <int NP, bool MM, int Q, typename V, int L>
inline __attribute__((always_inline)) void query_dots(const QueryDots& a, int j0) {
  const int D = a.D;
  const float* qp = a.qp + size_t(j0) * D;
  const float* ky = a.ky + a.c0;
  const float* kg = MM ? a.kg + a.c0 : nullptr;
  const float* k_off = MM ? a.k_off + a.c0 : nullptr;
  const int64_t n = a.n, ld = a.ld;
  const bool* need = a.need;
  for (int64_t c = 0; c < n; c += L) {
    V acc[Q][NP] = {}, off[MM ? Q : 1] = {};
    for (int d = 0; d < D; ++d) {
      const size_t at = size_t(d) * ld + c;
      V y, g = {}, o = {};
      __builtin_memcpy(&y, ky + at, sizeof y);
      if (MM) __builtin_memcpy(&g, kg + at, sizeof g), __builtin_memcpy(&o, k_off + at, sizeof o);
      V pk = V{} + 1.0f;
#pragma GCC unroll 8
      for (int p = 0; p < NP; ++p) {
        if (need[p]) {
          const V term = MM ? g * pk : pk;
#pragma GCC unroll 4
          for (int j = 0; j < Q; ++j) acc[j][p] = fmadd(qp[size_t(j) * D + d], term, acc[j][p]);
        }
        pk *= y;
      }
      if constexpr (MM)
#pragma GCC unroll 4
        for (int j = 0; j < Q; ++j) off[j] = fmadd(qp[size_t(j) * D + d], o, off[j]);
    }
    const int64_t lanes = n - c < L ? n - c : L;
    for (int j = 0; j < Q; ++j) {
      float* row = a.out + size_t(j0 + j) * a.slots * n + c;
      for (int p = 0; p < NP; ++p)
        if (a.need[p]) store_lanes(row + size_t(p) * n, acc[j][p], lanes);
      if constexpr (MM) store_lanes(row + size_t(a.slots - 1) * n, off[j], lanes);
    }
  }
}

// Groups of 4 queries, then 2, then 1.
template <int NP, bool MM, typename V, int L>
inline __attribute__((always_inline)) void query_dots_all(const QueryDots& a, int Q) {
  int j = 0;
  for (; j + 4 <= Q; j += 4) query_dots<NP, MM, 4, V, L>(a, j);
  for (; j + 2 <= Q; j += 2) query_dots<NP, MM, 2, V, L>(a, j);
  for (; j < Q; ++j) query_dots<NP, MM, 1, V, L>(a, j);
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
template <int NP, bool MM>
__attribute__((target("avx512f,fma"))) void query_dots_avx512(const QueryDots& a, int Q) {
  query_dots_all<NP, MM, V16, 16>(a, Q);
}
#endif

template <int NP, bool MM>
GAINCELL_FMA_CLONES void query_dots_v8(const QueryDots& a, int Q) {
  query_dots_all<NP, MM, V8, 8>(a, Q);
}

template <int NP, bool MM>
void query_dots_dispatch(const QueryDots& a, int Q) {
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
  if (avx512_kernels()) return query_dots_avx512<NP, MM>(a, Q);
#endif
  query_dots_v8<NP, MM>(a, Q);
}

template <int NP>
void query_dots_dispatch(const QueryDots& a, int Q, bool mismatch) {
  mismatch ? query_dots_dispatch<NP, true>(a, Q) : query_dots_dispatch<NP, false>(a, Q);
}

}  // namespace

void query_block_dots(float* out, const float* qp, int Q, int64_t c0, int64_t c1, const HeadCells& cells,
                      const CellPoly& poly) {
  const int64_t n = c1 - c0;
  if (n <= 0 || Q <= 0) return;
  const bool mm = cells.mismatch;
  const QueryDots a{out,
                    query_dot_slots(cells, poly),
                    qp,
                    cells.D,
                    cells.need,
                    cells.ky.data(),
                    mm ? cells.kg.data() : nullptr,
                    mm ? cells.k_off.data() : nullptr,
                    cells.k_ld,
                    c0,
                    n};
  if (poly.n <= 2)
    query_dots_dispatch<2>(a, Q, mm);
  else if (poly.n <= 4)
    query_dots_dispatch<4>(a, Q, mm);
  else
    query_dots_dispatch<kMaxPowers>(a, Q, mm);
}

}  // namespace gaincell
