// The vector kernels of a gain-cell read (read_kernels.h).
#include "analog/read_kernels.h"

#include <immintrin.h>

#include <algorithm>

#include "core/simd_v8.h"

namespace gaincell {

// The inner kernels use 8- and 16-float vectors (V8, V16: core/simd_v8.h) and are compiled per target
// (GAINCELL_SIMD_CLONES, and _512 with an AVX-512 clone): the same bits as the scalar loops of the reference.

// dst[k] = sum_d q[d] * m[d * ld + col_k] over the ranges (columns contiguous inside a range). Each lane sums
// d = 0, 1, ... in order. The last block of a range may read up to 7 columns past it (the K arrays carry
// kColumnSlack floats of padding, HeadCells::init); those lanes are never stored.
GAINCELL_FMA_CLONES void dot_by_columns(float* dst, const float* q, const float* m, int D, int64_t ld,
                                        const ColRange* r, int nr) {
  for (int ri = 0, k0 = 0; ri < nr; k0 += int(r[ri].c1 - r[ri].c0), ++ri) {
    const int64_t n = r[ri].c1 - r[ri].c0;
    const float* base = m + r[ri].c0;
    float* out = dst + k0;
    int64_t c = 0;
    for (; c + 32 <= n; c += 32) {
      V8 a0 = {}, a1 = {}, a2 = {}, a3 = {};
      for (int d = 0; d < D; ++d) {
        const float* row = base + size_t(d) * ld + c;
        const float qd = q[d];
        a0 = fmadd(qd, load8(row), a0);
        a1 = fmadd(qd, load8(row + 8), a1);
        a2 = fmadd(qd, load8(row + 16), a2);
        a3 = fmadd(qd, load8(row + 24), a3);
      }
      store8(out + c, a0), store8(out + c + 8, a1), store8(out + c + 16, a2), store8(out + c + 24, a3);
    }
    for (; c < n; c += 8) {
      V8 a0 = {};
      for (int d = 0; d < D; ++d) a0 = fmadd(q[d], load8(base + size_t(d) * ld + c), a0);
      store_lanes(out + c, a0, n - c);
    }
  }
}

// acc[d] = sum over the keys k = kidx[j], j < m (in order), of w[k] * V[col[k]][d], starting from 0, or from
// acc[d] itself when `add` is set.
GAINCELL_FMA_CLONES void mix_rows(float* acc, const float* w, const float* v, const int64_t* col, const int32_t* kidx,
                                  int64_t m, int D, bool add) {
  int d0 = 0;
  for (; d0 + 32 <= D; d0 += 32) {
    V8 a0 = {}, a1 = {}, a2 = {}, a3 = {};
    if (add) a0 = load8(acc + d0), a1 = load8(acc + d0 + 8), a2 = load8(acc + d0 + 16), a3 = load8(acc + d0 + 24);
    for (int64_t j = 0; j < m; ++j) {
      const int32_t k = kidx[j];
      const float* row = v + size_t(col[k]) * D + d0;
      const float wk = w[k];
      a0 = fmadd(wk, load8(row), a0);
      a1 = fmadd(wk, load8(row + 8), a1);
      a2 = fmadd(wk, load8(row + 16), a2);
      a3 = fmadd(wk, load8(row + 24), a3);
    }
    store8(acc + d0, a0), store8(acc + d0 + 8, a1), store8(acc + d0 + 16, a2), store8(acc + d0 + 24, a3);
  }
  for (; d0 + 8 <= D; d0 += 8) {
    V8 a0 = {};
    if (add) a0 = load8(acc + d0);
    for (int64_t j = 0; j < m; ++j) a0 = fmadd(w[kidx[j]], load8(v + size_t(col[kidx[j]]) * D + d0), a0);
    store8(acc + d0, a0);
  }
  for (; d0 < D; ++d0) {
    float a = add ? acc[d0] : 0.0f;
    for (int64_t j = 0; j < m; ++j) a = fmadd(w[kidx[j]], v[size_t(col[kidx[j]]) * D + d0], a);
    acc[d0] = a;
  }
}

namespace {

// dst[p][k] = sum_d q[d] * c_p(d, col_k) for the powers with need[p], where c_p = (1 + g) y^p with mismatch,
// else y^p, y^p built as ((1*y)*y)*y: the values the reference stores, in the reference's order over d, each
// product added with one rounding (fmadd). L-float vectors V; may read L - 1 columns past a range (kColumnSlack).
template <int NP, bool MM, typename V, int L>
GAINCELL_VECTOR_HELPER void dot_powers_body(float* const* dst, const bool* need, const float* q, const float* ky,
                                            const float* kg, int D, int64_t ld, const ColRange* r, int nr) {
  for (int ri = 0, k0 = 0; ri < nr; k0 += int(r[ri].c1 - r[ri].c0), ++ri) {
    const int64_t n = r[ri].c1 - r[ri].c0, c0 = r[ri].c0;
    for (int64_t c = 0; c < n; c += L) {
      V acc[NP] = {};
      for (int d = 0; d < D; ++d) {
        const size_t at = size_t(d) * ld + c0 + c;
        const V y = load_vector<V>(ky + at);
        V g = {};
        if (MM) g = load_vector<V>(kg + at);
        const float qd = q[d];
        V pk = V{} + 1.0f;
#pragma GCC unroll 8
        for (int p = 0; p < NP; ++p) {
          if (need[p]) acc[p] = fmadd(qd, MM ? g * pk : pk, acc[p]);
          pk *= y;
        }
      }
      for (int p = 0; p < NP; ++p)
        if (need[p]) store_lanes(dst[p] + k0 + c, acc[p], n - c);
    }
  }
}

// mix_powers on the dims [d0, d0 + L NV): NV vectors per power in registers, each weight loaded once for all of
// them. More vectors make more independent sums: one sum per vector adds once per key, and the adds' latency
// bounds a pass with few powers (the linear model) when it holds two.
template <int NP, bool MM, typename V, int L, int NV>
GAINCELL_VECTOR_HELPER void mix_dims(float* const* acc, const float* const* w, const bool* need, const float* vy,
                                     const float* vg, const int64_t* col, const int32_t* kidx, int64_t m, int D,
                                     int d0) {
  V a[NP][NV] = {};
  for (int64_t j = 0; j < m; ++j) {
    const int32_t k = kidx[j];
    const size_t at = size_t(col[k]) * D + d0;
    V y[NV], g[NV] = {}, pk[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      y[v] = load_vector<V>(vy + at + L * v), pk[v] = V{} + 1.0f;
      if (MM) g[v] = load_vector<V>(vg + at + L * v);
    }
#pragma GCC unroll 8
    for (int p = 0; p < NP; ++p) {
      if (need[p]) {
        const float wk = w[p][k];
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) a[p][v] = fmadd(wk, MM ? g[v] * pk[v] : pk[v], a[p][v]);
      }
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) pk[v] *= y[v];
    }
  }
  for (int p = 0; p < NP; ++p)
    if (need[p])
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) store_vector(acc[p] + d0 + L * v, a[p][v]);
}

// acc[p][d] = sum over the keys k = kidx[j], j < m (in order), of w[p][k] * c_p(col_k, d) for the powers with
// need[p], from dims [d0, D): passes of 4 L-float vectors, then one vector, then scalars.
template <int NP, bool MM, typename V, int L>
GAINCELL_VECTOR_HELPER void mix_powers_body(float* const* acc, const float* const* w, const bool* need, const float* vy,
                                            const float* vg, const int64_t* col, const int32_t* kidx, int64_t m,
                                            int D) {
  int d0 = 0;
  // Four vectors per pass where the sums stay in registers: up to 12 of 16 vectors and their powers (AVX-512's
  // 32 registers hold 64 dims, AVX2's 16 hold 32).
  if constexpr (NP <= 4)
    for (; d0 + 4 * L <= D; d0 += 4 * L) mix_dims<NP, MM, V, L, 4>(acc, w, need, vy, vg, col, kidx, m, D, d0);
  for (; d0 + 2 * L <= D; d0 += 2 * L) mix_dims<NP, MM, V, L, 2>(acc, w, need, vy, vg, col, kidx, m, D, d0);
  for (; d0 + L <= D; d0 += L) mix_dims<NP, MM, V, L, 1>(acc, w, need, vy, vg, col, kidx, m, D, d0);
  for (; d0 < D; ++d0) {
    float a[NP] = {};
    for (int64_t j = 0; j < m; ++j) {
      const int32_t k = kidx[j];
      const size_t at = size_t(col[k]) * D + d0;
      float y = vy[at], g = MM ? vg[at] : 1.0f, pk = 1.0f;
      for (int p = 0; p < NP; ++p) {
        if (need[p]) a[p] = fmadd(w[p][k], MM ? g * pk : pk, a[p]);
        pk *= y;
      }
    }
    for (int p = 0; p < NP; ++p)
      if (need[p]) acc[p][d0] = a[p];
  }
}

// Each kernel twice: 16-float vectors for AVX-512 CPUs (avx512_kernels()), 8-float ones in FMA clones elsewhere;
// every lane does the same operations in the same order, so the same bits.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
template <int NP, bool MM>
__attribute__((target("avx512f,fma"))) void dot_powers_avx512(float* const* dst, const bool* need, const float* q,
                                                              const float* ky, const float* kg, int D, int64_t ld,
                                                              const ColRange* r, int nr) {
  dot_powers_body<NP, MM, V16, 16>(dst, need, q, ky, kg, D, ld, r, nr);
}
template <int NP, bool MM>
__attribute__((target("avx512f,fma"))) void mix_powers_avx512(float* const* acc, const float* const* w,
                                                              const bool* need, const float* vy, const float* vg,
                                                              const int64_t* col, const int32_t* kidx, int64_t m,
                                                              int D) {
  mix_powers_body<NP, MM, V16, 16>(acc, w, need, vy, vg, col, kidx, m, D);
}
#endif
template <int NP, bool MM>
GAINCELL_FMA_CLONES void dot_powers_v8(float* const* dst, const bool* need, const float* q, const float* ky,
                                       const float* kg, int D, int64_t ld, const ColRange* r, int nr) {
  dot_powers_body<NP, MM, V8, 8>(dst, need, q, ky, kg, D, ld, r, nr);
}
template <int NP, bool MM>
GAINCELL_FMA_CLONES void mix_powers_v8(float* const* acc, const float* const* w, const bool* need, const float* vy,
                                       const float* vg, const int64_t* col, const int32_t* kidx, int64_t m, int D) {
  mix_powers_body<NP, MM, V8, 8>(acc, w, need, vy, vg, col, kidx, m, D);
}

template <int NP, bool MM>
void dot_powers_of(float* const* dst, const bool* need, const float* q, const float* ky, const float* kg, int D,
                   int64_t ld, const ColRange* r, int nr) {
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
  if (avx512_kernels()) return dot_powers_avx512<NP, MM>(dst, need, q, ky, kg, D, ld, r, nr);
#endif
  dot_powers_v8<NP, MM>(dst, need, q, ky, kg, D, ld, r, nr);
}

template <int NP, bool MM>
void mix_powers_of(float* const* acc, const float* const* w, const bool* need, const float* vy, const float* vg,
                   const int64_t* col, const int32_t* kidx, int64_t m, int D) {
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
  if (avx512_kernels()) return mix_powers_avx512<NP, MM>(acc, w, need, vy, vg, col, kidx, m, D);
#endif
  mix_powers_v8<NP, MM>(acc, w, need, vy, vg, col, kidx, m, D);
}

}  // namespace

void dot_powers(float* const* dst, const bool* need, int n_pow, bool mismatch, const float* q, const float* ky,
                const float* kg, int D, int64_t ld, const ColRange* r, int nr) {
  if (n_pow <= 2)
    mismatch ? dot_powers_of<2, true>(dst, need, q, ky, kg, D, ld, r, nr)
             : dot_powers_of<2, false>(dst, need, q, ky, kg, D, ld, r, nr);
  else if (n_pow <= 4)
    mismatch ? dot_powers_of<4, true>(dst, need, q, ky, kg, D, ld, r, nr)
             : dot_powers_of<4, false>(dst, need, q, ky, kg, D, ld, r, nr);
  else
    mismatch ? dot_powers_of<kMaxPowers, true>(dst, need, q, ky, kg, D, ld, r, nr)
             : dot_powers_of<kMaxPowers, false>(dst, need, q, ky, kg, D, ld, r, nr);
}

void mix_powers(float* const* acc, const float* const* w, const bool* need, int n_pow, bool mismatch, const float* vy,
                const float* vg, const int64_t* col, const int32_t* kidx, int64_t m, int D) {
  if (n_pow <= 2)
    mismatch ? mix_powers_of<2, true>(acc, w, need, vy, vg, col, kidx, m, D)
             : mix_powers_of<2, false>(acc, w, need, vy, vg, col, kidx, m, D);
  else if (n_pow <= 4)
    mismatch ? mix_powers_of<4, true>(acc, w, need, vy, vg, col, kidx, m, D)
             : mix_powers_of<4, false>(acc, w, need, vy, vg, col, kidx, m, D);
  else
    mismatch ? mix_powers_of<kMaxPowers, true>(acc, w, need, vy, vg, col, kidx, m, D)
             : mix_powers_of<kMaxPowers, false>(acc, w, need, vy, vg, col, kidx, m, D);
}

// Steps 6-7 of one K block, vectorized over the keys (the scalar loop's operations in its order per key):
// sb[k] = sum over the active powers p, in order from 0, of (alpha[p] * dec[p][k]) * dot[p][k], plus off[k].
GAINCELL_SIMD_CLONES void block_charges(float* sb, const float* const* dot, const float* const* dec, const float* alpha,
                                        const bool* active, int np, const float* off, int64_t n) {
  int64_t k = 0;
  for (; k + 8 <= n; k += 8) {
    V8 s = {};
    for (int p = 0; p < np; ++p)
      if (active[p]) s += (alpha[p] * load8(dec[p] + k)) * load8(dot[p] + k);
    if (off) s += load8(off + k);
    store8(sb + k, s);
  }
  for (; k < n; ++k) {
    float s = 0.0f;
    for (int p = 0; p < np; ++p)
      if (active[p]) s += alpha[p] * dec[p][k] * dot[p][k];
    if (off) s += off[k];
    sb[k] = s;
  }
}

// Step 8 of one K block: pk = min(max(sb / S_sat, 0), 1) (S_sat per key, or sat_c for all). The first block
// sets S and P; a later one adds its charge to S and its pulse to P, at most T_max (min(P + pk, 1)).
GAINCELL_SIMD_CLONES void block_pulses(float* s, float* p, const float* sb, const float* sat, float sat_c, int64_t n,
                                       bool first) {
  const V8 zero = {}, one = zero + 1.0f;
  int64_t k = 0;
  for (; k + 8 <= n; k += 8) {
    const V8 b = load8(sb + k);
    V8 x = b / (sat ? load8(sat + k) : zero + sat_c);
    x = x < zero ? zero : x;  // std::max(x, 0.0f)
    x = one < x ? one : x;    // std::min(x, 1.0f)
    if (first) {
      store8(s + k, b), store8(p + k, x);
    } else {
      V8 q = load8(p + k) + x;
      store8(s + k, load8(s + k) + b), store8(p + k, one < q ? one : q);
    }
  }
  for (; k < n; ++k) {
    const float x = std::min(std::max(sb[k] / (sat ? sat[k] : sat_c), 0.0f), 1.0f);
    if (first) {
      s[k] = sb[k], p[k] = x;
    } else {
      s[k] += sb[k], p[k] = std::min(p[k] + x, 1.0f);
    }
  }
}

// Steps 6-8 and the weights in one pass, for a read of one K block without read noise on S: the bits of
// block_charges, block_pulses (first block) and scale_by: S into s[k], p[k] = min(max(S / S_sat, 0), 1) and
// w[j][k] = p[k] * dec[j][k] for the active powers j.
GAINCELL_SIMD_CLONES_512 void charges_to_weights(float* s_out, float* p, float* const* w, const float* const* dot,
                                                 const float* dot_c, const float* const* dec, const float* alpha,
                                                 const bool* active, int np, const float* off, const float* noise,
                                                 const float* sat, float sat_c, int64_t n) {
  const V16 zero = {}, one = zero + 1.0f;
  int64_t k = 0;
  for (; k + 16 <= n; k += 16) {
    V16 s = {};
    for (int j = 0; j < np; ++j)
      if (active[j]) s += (alpha[j] * load16(dec[j] + k)) * (dot[j] ? load16(dot[j] + k) : zero + dot_c[j]);
    if (off) s += load16(off + k);
    if (noise) s += load16(noise + k);
    store16(s_out + k, s);
    V16 x = s / (sat ? load16(sat + k) : zero + sat_c);
    x = x < zero ? zero : x;  // std::max(x, 0.0f)
    x = one < x ? one : x;    // std::min(x, 1.0f)
    store16(p + k, x);
    for (int j = 0; j < np; ++j)
      if (active[j]) store16(w[j] + k, x * load16(dec[j] + k));
  }
  for (; k < n; ++k) {
    float s = 0.0f;
    for (int j = 0; j < np; ++j)
      if (active[j]) s += alpha[j] * dec[j][k] * (dot[j] ? dot[j][k] : dot_c[j]);
    if (off) s += off[k];
    if (noise) s += noise[k];
    s_out[k] = s;
    const float x = std::min(std::max(s / (sat ? sat[k] : sat_c), 0.0f), 1.0f);
    p[k] = x;
    for (int j = 0; j < np; ++j)
      if (active[j]) w[j][k] = x * dec[j][k];
  }
}

// w[k] = p[k] * dec[k].
GAINCELL_SIMD_CLONES void scale_by(float* w, const float* p, const float* dec, int64_t n) {
  int64_t k = 0;
  for (; k + 8 <= n; k += 8) store8(w + k, load8(p + k) * load8(dec + k));
  for (; k < n; ++k) w[k] = p[k] * dec[k];
}

// a[d] += alpha * b[d].
GAINCELL_SIMD_CLONES_512 void add_scaled(float* a, float alpha, const float* b, int D) {
  int d = 0;
  for (; d + 16 <= D; d += 16) store16(a + d, load16(a + d) + alpha * load16(b + d));
  for (; d < D; ++d) a[d] += alpha * b[d];
}

// Step 11's ADC inputs: x[d] = A[d] / a_fs, then x * (1 + gain[d]) + off[d] with the ADC's errors (gain and
// off null without them).
GAINCELL_SIMD_CLONES void adc_inputs(float* x, const float* A, int D, float a_fs, const float* gain, const float* off) {
  int d = 0;
  for (; d + 8 <= D; d += 8) {
    V8 v = load8(A + d) / a_fs;
    if (gain) v = v * (1.0f + load8(gain + d)) + load8(off + d);
    store8(x + d, v);
  }
  for (; d < D; ++d) {
    float v = A[d] / a_fs;
    if (gain) v = v * (1.0f + gain[d]) + off[d];
    x[d] = v;
  }
}

namespace {

// 16 keys per step: the lanes with p != 0 (unordered compare: NaN passes) compressed into one vector of their
// indices, stored whole (the slack past m), m advanced by their count.
__attribute__((target("avx512f"))) int64_t nonzero_keys_avx512(int32_t* kidx, const float* p, int64_t k0, int64_t k1) {
  const __m512 zero = _mm512_setzero_ps();
  __m512i idx = _mm512_add_epi32(_mm512_set1_epi32(int32_t(k0)),
                                 _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
  const __m512i sixteen = _mm512_set1_epi32(16);
  int64_t m = 0;
  for (int64_t k = k0; k < k1; k += 16) {
    const __mmask16 lanes = k1 - k >= 16 ? __mmask16(0xffff) : __mmask16((1u << (k1 - k)) - 1);
    const __mmask16 nz = _mm512_mask_cmp_ps_mask(lanes, _mm512_maskz_loadu_ps(lanes, p + k), zero, _CMP_NEQ_UQ);
    _mm512_storeu_si512(kidx + m, _mm512_maskz_compress_epi32(nz, idx));
    m += __builtin_popcount(nz);
    idx = _mm512_add_epi32(idx, sixteen);
  }
  return m;
}

}  // namespace

int64_t nonzero_keys(int32_t* kidx, const float* p, int64_t k0, int64_t k1) {
  if (avx512_kernels()) return nonzero_keys_avx512(kidx, p, k0, k1);
  int64_t m = 0;
  for (int64_t k = k0; k < k1; ++k) {  // branch-free
    kidx[m] = int32_t(k);
    m += p[k] != 0.0f;
  }
  return m;
}

}  // namespace gaincell
