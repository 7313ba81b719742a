#include "analog/array_read.h"

#include <algorithm>
#include <cmath>

#include "core/simd_v8.h"

namespace gaincell {

void HeadCells::init(int dim, int64_t columns, const CellPoly& poly, bool with_mismatch) {
  D = dim;
  ld = columns;
  n_pow = poly.n;
  mismatch = with_mismatch;
  for (int p = 0; p < kMaxPowers; ++p) need[p] = p < n_pow && poly.active[p] && (p > 0 || mismatch);
  const size_t k_size = size_t(D) * ld + kColumnSlack, v_size = size_t(D) * ld;
  ky.assign(k_size, 0.0f);
  vy.assign(v_size, 0.0f);
  kg.assign(mismatch ? k_size : 0, 0.0f);
  vg.assign(mismatch ? v_size : 0, 0.0f);
  k_off.assign(mismatch ? k_size : 0, 0.0f);
  v_off.assign(mismatch ? v_size : 0, 0.0f);
  written_at.assign(ld, -1);
  v_nonfinite.assign(ld, 0);
  n_v_nonfinite = 0;
  consecutive_end = consecutive_base = 0;
}

void HeadCells::write(int64_t col, int64_t t, const float* yk, const float* yv, const CellPoly& /*poly*/,
                      const HeadMismatch* mm, int64_t slot) {
  written_at[col] = t;
  if (col == 0) {  // a run starts
    consecutive_base = t, consecutive_end = 1;
  } else if (col == consecutive_end && t == consecutive_base + col) {
    ++consecutive_end;
  } else if (col < consecutive_end && t != consecutive_base + col) {
    consecutive_end = col;
  }
  bool finite = true;
  for (int d = 0; d < D; ++d) finite &= std::isfinite(yv[d]);
  n_v_nonfinite += int64_t(!finite) - int64_t(v_nonfinite[col]);
  v_nonfinite[col] = !finite;
  for (int d = 0; d < D; ++d) {
    ky[size_t(d) * ld + col] = yk[d];
    vy[size_t(col) * D + d] = yv[d];
    if (mismatch) {
      kg[size_t(d) * ld + col] = 1.0f + mm->k_gain[slot * D + d];
      vg[size_t(col) * D + d] = 1.0f + mm->v_gain[slot * D + d];
      k_off[size_t(d) * ld + col] = mm->k_off[slot * D + d];
      v_off[size_t(col) * D + d] = mm->v_off[slot * D + d];
    }
  }
}

namespace {

// The inner kernels use 8- and 16-float vectors (V8, V16: core/simd_v8.h) and are compiled per target
// (GAINCELL_SIMD_CLONES, and _512 with an AVX-512 clone): the same bits as the scalar loops of the reference.

// dst[k] = sum_d q[d] * m[d * ld + col_k] over the ranges (columns contiguous inside a range). Each lane sums
// d = 0, 1, ... in order. The last block of a range may read up to 7 columns past it (the K arrays carry
// kColumnSlack floats of padding, HeadCells::init); those lanes are never stored.
GAINCELL_SIMD_CLONES void dot_columns(float* dst, const float* q, const float* m, int D, int64_t ld, const ColRange* r,
                                      int nr) {
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
        a0 += qd * load8(row);
        a1 += qd * load8(row + 8);
        a2 += qd * load8(row + 16);
        a3 += qd * load8(row + 24);
      }
      store8(out + c, a0), store8(out + c + 8, a1), store8(out + c + 16, a2), store8(out + c + 24, a3);
    }
    for (; c < n; c += 8) {
      V8 a0 = {};
      for (int d = 0; d < D; ++d) a0 += q[d] * load8(base + size_t(d) * ld + c);
      float tmp[8];
      store8(tmp, a0);
      for (int j = 0; j < 8 && c + j < n; ++j) out[c + j] = tmp[j];
    }
  }
}

// acc[d] = sum over the keys k = kidx[j], j < m (in order), of w[k] * V[col[k]][d], starting from 0, or from
// acc[d] itself when `add` is set.
GAINCELL_SIMD_CLONES void mix_rows(float* acc, const float* w, const float* v, const int64_t* col, const int32_t* kidx,
                                   int64_t m, int D, bool add = false) {
  int d0 = 0;
  for (; d0 + 32 <= D; d0 += 32) {
    V8 a0 = {}, a1 = {}, a2 = {}, a3 = {};
    if (add) a0 = load8(acc + d0), a1 = load8(acc + d0 + 8), a2 = load8(acc + d0 + 16), a3 = load8(acc + d0 + 24);
    for (int64_t j = 0; j < m; ++j) {
      const int32_t k = kidx[j];
      const float* row = v + size_t(col[k]) * D + d0;
      const float wk = w[k];
      a0 += wk * load8(row);
      a1 += wk * load8(row + 8);
      a2 += wk * load8(row + 16);
      a3 += wk * load8(row + 24);
    }
    store8(acc + d0, a0), store8(acc + d0 + 8, a1), store8(acc + d0 + 16, a2), store8(acc + d0 + 24, a3);
  }
  for (; d0 + 8 <= D; d0 += 8) {
    V8 a0 = {};
    if (add) a0 = load8(acc + d0);
    for (int64_t j = 0; j < m; ++j) a0 += w[kidx[j]] * load8(v + size_t(col[kidx[j]]) * D + d0);
    store8(acc + d0, a0);
  }
  for (; d0 < D; ++d0) {
    float a = add ? acc[d0] : 0.0f;
    for (int64_t j = 0; j < m; ++j) a += w[kidx[j]] * v[size_t(col[kidx[j]]) * D + d0];
    acc[d0] = a;
  }
}

// dst[p][k] = sum_d q[d] * c_p(d, col_k) for the powers with need[p], where c_p = (1 + g) y^p with mismatch,
// else y^p, y^p built as ((1*y)*y)*y: the values the reference stores, in the reference's order over d.
template <int NP, bool MM>
GAINCELL_SIMD_CLONES_512 void dot_powers(float* const* dst, const bool* need, const float* q, const float* ky,
                                         const float* kg, int D, int64_t ld, const ColRange* r, int nr) {
  for (int ri = 0, k0 = 0; ri < nr; k0 += int(r[ri].c1 - r[ri].c0), ++ri) {
    const int64_t n = r[ri].c1 - r[ri].c0, c0 = r[ri].c0;
    for (int64_t c = 0; c < n; c += 16) {  // may read 15 columns past the range (kColumnSlack)
      V16 acc[NP] = {};
      for (int d = 0; d < D; ++d) {
        const size_t at = size_t(d) * ld + c0 + c;
        const V16 y = load16(ky + at);
        V16 g = {};
        if (MM) g = load16(kg + at);
        const float qd = q[d];
        V16 pk = V16{} + 1.0f;
#pragma GCC unroll 8
        for (int p = 0; p < NP; ++p) {
          if (need[p]) acc[p] += qd * (MM ? g * pk : pk);
          pk *= y;
        }
      }
      for (int p = 0; p < NP; ++p) {
        if (!need[p]) continue;
        float tmp[16];
        store16(tmp, acc[p]);
        for (int j = 0; j < 16 && c + j < n; ++j) dst[p][k0 + c + j] = tmp[j];
      }
    }
  }
}

// acc[p][d] = sum over the keys k = kidx[j], j < m (in order), of w[p][k] * c_p(col_k, d) for the powers with
// need[p].
template <int NP, bool MM>
GAINCELL_SIMD_CLONES_512 void mix_powers(float* const* acc, const float* const* w, const bool* need, const float* vy,
                                         const float* vg, const int64_t* col, const int32_t* kidx, int64_t m, int D) {
  int d0 = 0;
  for (; d0 + 32 <= D; d0 += 32) {  // 32 dims per pass: each weight is loaded once for two vectors
    V16 a0[NP] = {}, a1[NP] = {};
    for (int64_t j = 0; j < m; ++j) {
      const int32_t k = kidx[j];
      const size_t at = size_t(col[k]) * D + d0;
      const V16 y0 = load16(vy + at), y1 = load16(vy + at + 16);
      V16 g0 = {}, g1 = {};
      if (MM) g0 = load16(vg + at), g1 = load16(vg + at + 16);
      V16 pk0 = V16{} + 1.0f, pk1 = pk0;
#pragma GCC unroll 8
      for (int p = 0; p < NP; ++p) {
        if (need[p]) {
          const float wk = w[p][k];
          a0[p] += wk * (MM ? g0 * pk0 : pk0);
          a1[p] += wk * (MM ? g1 * pk1 : pk1);
        }
        pk0 *= y0;
        pk1 *= y1;
      }
    }
    for (int p = 0; p < NP; ++p)
      if (need[p]) store16(acc[p] + d0, a0[p]), store16(acc[p] + d0 + 16, a1[p]);
  }
  for (; d0 + 8 <= D; d0 += 8) {
    V8 a[NP] = {};
    for (int64_t j = 0; j < m; ++j) {
      const int32_t k = kidx[j];
      const size_t at = size_t(col[k]) * D + d0;
      const V8 y = load8(vy + at);
      V8 g = {};
      if (MM) g = load8(vg + at);
      V8 pk = {1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f};
#pragma GCC unroll 8
      for (int p = 0; p < NP; ++p) {
        if (need[p]) a[p] += w[p][k] * (MM ? g * pk : pk);
        pk *= y;
      }
    }
    for (int p = 0; p < NP; ++p)
      if (need[p]) store8(acc[p] + d0, a[p]);
  }
  for (; d0 < D; ++d0) {
    float a[NP] = {};
    for (int64_t j = 0; j < m; ++j) {
      const int32_t k = kidx[j];
      const size_t at = size_t(col[k]) * D + d0;
      float y = vy[at], g = MM ? vg[at] : 1.0f, pk = 1.0f;
      for (int p = 0; p < NP; ++p) {
        if (need[p]) a[p] += w[p][k] * (MM ? g * pk : pk);
        pk *= y;
      }
    }
    for (int p = 0; p < NP; ++p)
      if (need[p]) acc[p][d0] = a[p];
  }
}

// Time of the last refresh at or before `now` (cells written before it restart their age there), or -1.
int64_t last_refresh(int64_t now, int refresh) {
  return refresh > 0 ? (now / refresh) * refresh : -1;
}

// Positions and sizes fit in 32 bits in practice; 32-bit division is several times cheaper than 64-bit.
inline int64_t div_pos(int64_t a, int64_t b) {
  return (uint64_t(a) | uint64_t(b)) >> 32 ? a / b : int64_t(uint32_t(a) / uint32_t(b));
}
inline int64_t mod_pos(int64_t a, int64_t b) {
  return (uint64_t(a) | uint64_t(b)) >> 32 ? a % b : int64_t(uint32_t(a) % uint32_t(b));
}

// Read noise at a signal-to-noise ratio (paper-spec §2.8): S[k] += sigma N(0, 1) with sigma^2 = mean_k S[k]^2 /
// 10^(snr / 10) over the n keys of this read, then P again.
void add_snr_noise_s(int64_t now, int64_t n, const HeadCells& cells, const ReadConfig& rc, ReadScratch& scr) {
  double power = 0;
  for (int64_t k = 0; k < n; ++k) power += double(scr.s[k]) * scr.s[k];
  const double sigma = std::sqrt(power / double(n) / std::pow(10.0, rc.snr_s_db / 10.0));
  scr.noise_at.resize(n);
  scr.noise.resize(n);
  for (int64_t k = 0; k < n; ++k) scr.noise_at[k] = uint64_t(cells.written_at[scr.col[k]]);
  c2c_normals(scr.noise.data(), *rc.c2c, NoiseTag::kReadSnrS, now, scr.noise_at.data(), 0, n);
  for (int64_t k = 0; k < n; ++k) {
    const int64_t t = cells.written_at[scr.col[k]];
    const float s = scr.s[k] + float(sigma * scr.noise[k]);
    const float s_sat = rc.mm && !rc.mm->s_sat.empty() ? rc.mm->s_sat[t % rc.window] : rc.cv->s_sat;
    scr.s[k] = s;
    scr.p[k] = std::min(std::max(s / s_sat, 0.0f), 1.0f);
  }
}

// The same on the D column charges A[d] of one array read.
void add_snr_noise_a(float* A, int64_t now, int64_t group, int D, const ReadConfig& rc, double* noise) {
  double power = 0;
  for (int d = 0; d < D; ++d) power += double(A[d]) * A[d];
  const double sigma = std::sqrt(power / D / std::pow(10.0, rc.snr_a_db / 10.0));
  c2c_normals(noise, *rc.c2c, NoiseTag::kReadSnrA, now, nullptr, uint64_t(group) * D, D);
  for (int d = 0; d < D; ++d) A[d] += float(sigma * noise[d]);
}

// Step 5: dot[p][k] (and dot_off[k] with mismatch) of the K rows [r0, r0 + Db) for the keys of the ranges.
void block_dots(const float* q, int r0, int Db, const ColRange* ranges, int nr, int64_t n, const HeadCells& cells,
                const ReadConfig& rc, ReadScratch& scr, bool given) {
  const CellPoly& poly = *rc.poly;
  float sumq = 0.0f;
  for (int d = r0; d < r0 + Db; ++d) sumq += q[d] * 1.0f;
  float* dst[kMaxPowers] = {};
  for (int p = 0; p < poly.n; ++p) {
    if (!poly.active[p]) continue;
    scr.dot[p].resize(n);
    dst[p] = scr.dot[p].data();
    if (!cells.need[p]) std::fill(scr.dot[p].begin(), scr.dot[p].end(), sumq);
  }
  if (given) return;  // the needed powers' dots (and the offset sums) come from read_cells' caller
  const size_t at = size_t(r0) * cells.ld;
  const float *kq = q + r0, *ky = cells.ky.data() + at, *kg = cells.mismatch ? cells.kg.data() + at : nullptr;
  const int64_t ld = cells.ld;
  if (poly.n <= 2)
    cells.mismatch ? dot_powers<2, true>(dst, cells.need, kq, ky, kg, Db, ld, ranges, nr)
                   : dot_powers<2, false>(dst, cells.need, kq, ky, kg, Db, ld, ranges, nr);
  else if (poly.n <= 4)
    cells.mismatch ? dot_powers<4, true>(dst, cells.need, kq, ky, kg, Db, ld, ranges, nr)
                   : dot_powers<4, false>(dst, cells.need, kq, ky, kg, Db, ld, ranges, nr);
  else
    cells.mismatch ? dot_powers<kMaxPowers, true>(dst, cells.need, kq, ky, kg, Db, ld, ranges, nr)
                   : dot_powers<kMaxPowers, false>(dst, cells.need, kq, ky, kg, Db, ld, ranges, nr);
  if (cells.mismatch) {
    scr.dot_off.resize(n);
    dot_columns(scr.dot_off.data(), kq, cells.k_off.data() + at, Db, ld, ranges, nr);
  }
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
                                                 const float* const* dec, const float* alpha, const bool* active,
                                                 int np, const float* off, const float* sat, float sat_c, int64_t n) {
  const V16 zero = {}, one = zero + 1.0f;
  int64_t k = 0;
  for (; k + 16 <= n; k += 16) {
    V16 s = {};
    for (int j = 0; j < np; ++j)
      if (active[j]) s += (alpha[j] * load16(dec[j] + k)) * load16(dot[j] + k);
    if (off) s += load16(off + k);
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
      if (active[j]) s += alpha[j] * dec[j][k] * dot[j][k];
    if (off) s += off[k];
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

// Steps 5-8: P[k] and the second-product weights w[p][k] = P[k] * delta_k^p. A head of D > rows with
// rc.digital_row_sum: every block of `rows` K rows converts its own charge, P = min(sum of the pulses, 1).
void first_product(const float* q, int64_t now, const ColRange* ranges, int nr, int64_t n, const HeadCells& cells,
                   const ReadConfig& rc, ReadScratch& scr, const float* const* dots, bool consecutive) {
  const CellPoly& poly = *rc.poly;
  const int D = cells.D, n_blocks = rc.digital_row_sum ? (D + rc.rows - 1) / rc.rows : 1;
  const int64_t refreshed = last_refresh(now, rc.refresh);
  scr.s.resize(n);
  scr.p.resize(n);
  scr.s_blk.resize(n);
  // Keys written at t0, t0 + 1, ... with no refresh after t0: ages now - t0 - k, one run of the reversed table.
  const int64_t* col = scr.col.data();
  const int64_t t0 = cells.written_at[col[0]], age0 = now - t0;
  bool run = rc.decay_reversed && refreshed <= t0 && age0 < rc.n_ages && age0 - (n - 1) >= 0;
  for (int64_t k = 0; k < n && run && !consecutive; ++k) run = cells.written_at[col[k]] == t0 + k;
  if (!run)
    for (int64_t k = 0; k < n; ++k) {
      const int64_t t = cells.written_at[col[k]];
      scr.age[k] = int32_t(refreshed > t ? now - refreshed : now - t);
    }
  const float* dec[kMaxPowers] = {};
  const float* dot[kMaxPowers] = {};
  for (int p = 0; p < poly.n; ++p) {
    if (!poly.active[p]) continue;
    if (run) {  // delta^p at age0 - k: the reversed row at n_ages - 1 - age0 + k
      dec[p] = rc.decay_reversed + p * rc.n_ages + (rc.n_ages - 1 - age0);
      continue;
    }
    scr.dec[p].resize(n);
    const float* table = rc.decay + p * rc.n_ages;
    for (int64_t k = 0; k < n; ++k) scr.dec[p][k] = table[scr.age[k]];
    dec[p] = scr.dec[p].data();
  }
  const bool sat_per_key = rc.mm && !rc.mm->s_sat.empty();
  if (sat_per_key) scr.s_sat.resize(n);
  float* w[kMaxPowers] = {};
  for (int p = 0; p < poly.n; ++p)
    if (poly.active[p]) scr.w[p].resize(n), w[p] = scr.w[p].data();
  const bool s_noise = rc.c2c && (rc.sigma_s > 0 || rc.snr_s_db > 0);
  if (n_blocks == 1 && !s_noise) {  // the common read: charges to weights in one pass
    block_dots(q, 0, D, ranges, nr, n, cells, rc, scr, dots != nullptr);
    for (int p = 0; p < poly.n; ++p)
      dot[p] = !poly.active[p] ? nullptr : dots && cells.need[p] ? dots[p] : scr.dot[p].data();
    const float* off = !cells.mismatch ? nullptr : dots ? dots[poly.n] : scr.dot_off.data();
    if (sat_per_key)
      for (int64_t k = 0; k < n; ++k) scr.s_sat[k] = rc.mm->s_sat[mod_pos(cells.written_at[scr.col[k]], rc.window)];
    charges_to_weights(scr.s.data(), scr.p.data(), w, dot, dec, poly.alpha, poly.active, poly.n, off,
                       sat_per_key ? scr.s_sat.data() : nullptr, rc.cv->s_sat, n);
    if (rc.hist) rc.hist->add_pulses(scr.p.data(), n);
    return;
  }
  for (int blk = 0; blk < n_blocks; ++blk) {
    const int r0 = n_blocks > 1 ? blk * rc.rows : 0, Db = n_blocks > 1 ? std::min(rc.rows, D - r0) : D;
    block_dots(q, r0, Db, ranges, nr, n, cells, rc, scr, dots != nullptr);
    for (int p = 0; p < poly.n; ++p)
      dot[p] = !poly.active[p] ? nullptr : dots && cells.need[p] ? dots[p] : scr.dot[p].data();
    float* sb = scr.s_blk.data();
    const float* off = !cells.mismatch ? nullptr : dots ? dots[poly.n] : scr.dot_off.data();
    block_charges(sb, dot, dec, poly.alpha, poly.active, poly.n, off, n);
    if (rc.c2c && rc.sigma_s > 0) {
      scr.noise_at.resize(n);
      scr.noise.resize(n);
      for (int64_t k = 0; k < n; ++k) scr.noise_at[k] = uint64_t(cells.written_at[scr.col[k]]) | uint64_t(blk) << 48;
      c2c_normals(scr.noise.data(), *rc.c2c, NoiseTag::kReadS, now, scr.noise_at.data(), 0, n);
      for (int64_t k = 0; k < n; ++k) sb[k] += float(rc.sigma_s * scr.noise[k]);
    }
    if (sat_per_key)
      for (int64_t k = 0; k < n; ++k)
        scr.s_sat[k] = rc.mm->s_sat[size_t(blk) * rc.window + mod_pos(cells.written_at[scr.col[k]], rc.window)];
    block_pulses(scr.s.data(), scr.p.data(), sb, sat_per_key ? scr.s_sat.data() : nullptr, rc.cv->s_sat, n, blk == 0);
  }
  if (rc.c2c && rc.snr_s_db > 0) add_snr_noise_s(now, n, cells, rc, scr);
  if (rc.hist) rc.hist->add_pulses(scr.p.data(), n);
  for (int p = 0; p < poly.n; ++p)
    if (poly.active[p]) scale_by(w[p], scr.p.data(), dec[p], n);
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

// Steps 9-11 for the keys [k0, k1) of one array; adds the ADC output to out[D] and writes the ADC codes to
// code[D] (null: not wanted).
void read_array(float* out, float* code, int64_t now, int64_t group, int64_t k0, int64_t k1, const HeadCells& cells,
                const ReadConfig& rc, ReadScratch& scr) {
  const CellPoly& poly = *rc.poly;
  const int D = cells.D;
  float* A = scr.a.data();
  std::fill(A, A + D, 0.0f);
  // The keys with a pulse P = 0 add (+-)0 to every sum (their weights are 0 and the V cells finite), which
  // leaves a sum started at +0 with the same bits (it is never -0): they are skipped, unless some V column of the
  // head holds a NaN or an infinity (0 times that is NaN).
  const bool skip_zero = cells.n_v_nonfinite == 0;
  const float* P = scr.p.data();
  int32_t* kidx = scr.kidx.data();
  int64_t m = 0;
  for (int64_t k = k0; k < k1; ++k) {  // branch-free compaction
    kidx[m] = int32_t(k);
    m += !skip_zero || P[k] != 0.0f;
  }
  float* acc[kMaxPowers] = {};
  const float* w[kMaxPowers] = {};
  for (int p = 0; p < poly.n; ++p) {
    if (!poly.active[p]) continue;
    acc[p] = scr.acc[p].data();
    w[p] = scr.w[p].data();
    if (!cells.need[p]) {  // y^0 = 1: the same sum in every dim
      float a = 0.0f;
      for (int64_t j = 0; j < m; ++j) a += w[p][kidx[j]] * 1.0f;
      std::fill(acc[p], acc[p] + D, a);
    }
  }
  const float *vy = cells.vy.data(), *vg = cells.vg.data();
  const int64_t* col = scr.col.data();
  if (poly.n <= 2)
    cells.mismatch ? mix_powers<2, true>(acc, w, cells.need, vy, vg, col, kidx, m, D)
                   : mix_powers<2, false>(acc, w, cells.need, vy, vg, col, kidx, m, D);
  else if (poly.n <= 4)
    cells.mismatch ? mix_powers<4, true>(acc, w, cells.need, vy, vg, col, kidx, m, D)
                   : mix_powers<4, false>(acc, w, cells.need, vy, vg, col, kidx, m, D);
  else
    cells.mismatch ? mix_powers<kMaxPowers, true>(acc, w, cells.need, vy, vg, col, kidx, m, D)
                   : mix_powers<kMaxPowers, false>(acc, w, cells.need, vy, vg, col, kidx, m, D);
  for (int p = 0; p < poly.n; ++p)
    if (poly.active[p]) add_scaled(A, poly.alpha[p], acc[p], D);
  if (cells.mismatch) mix_rows(A, scr.p.data(), cells.v_off.data(), col, kidx, m, D, true);
  if (rc.c2c && (rc.snr_a_db > 0 || rc.sigma_a > 0) && scr.noise.size() < size_t(D)) scr.noise.resize(D);
  if (rc.c2c && rc.snr_a_db > 0) add_snr_noise_a(A, now, group, D, rc, scr.noise.data());
  if (rc.c2c && rc.sigma_a > 0) {
    c2c_normals(scr.noise.data(), *rc.c2c, NoiseTag::kReadA, now, nullptr, uint64_t(group) * D, D);
    for (int d = 0; d < D; ++d) A[d] += float(rc.sigma_a * scr.noise[d]);
  }
  const int64_t n_arrays = (rc.window + rc.cols - 1) / rc.cols, adc = mod_pos(group, n_arrays);
  const bool adc_err = rc.mm && !rc.mm->adc_gain.empty();
  float* x = scr.x.data();
  adc_inputs(x, A, D, rc.cv->a_fs, adc_err ? &rc.mm->adc_gain[adc * D] : nullptr,
             adc_err ? &rc.mm->adc_off[adc * D] : nullptr);
  rc.cv->adc.apply(x, code, x, D);
  for (int d = 0; d < D; ++d) out[d] += x[d];
}

}  // namespace

void dot_by_columns(float* dst, const float* q, const float* m, int D, int64_t ld, const ColRange* ranges,
                    int n_ranges) {
  dot_columns(dst, q, m, D, ld, ranges, n_ranges);
}

ReadStats read_cells(float* out, const float* q, int64_t now, const ColRange* ranges, int n_ranges,
                     const HeadCells& cells, const ReadConfig& rc, ReadScratch& scr, const float* const* dots) {
  int64_t n = 0;
  for (int r = 0; r < n_ranges; ++r) n += ranges[r].c1 - ranges[r].c0;
  scr.col.resize(n);
  scr.group.resize(n);
  scr.age.resize(n);
  scr.kidx.resize(n);
  // One range of consecutively written columns: key k is token t0 + k, and the tiles follow from that.
  const bool consecutive = n_ranges == 1 && n > 0 && ranges[0].c1 <= cells.consecutive_end;
  const int64_t t0 = consecutive ? cells.consecutive_base + ranges[0].c0 : 0;
  const int shift = (rc.cols & (rc.cols - 1)) == 0 ? __builtin_ctz(unsigned(rc.cols)) : -1;  // cols = 2^shift
  for (int r = 0, k = 0; r < n_ranges; ++r) {
    int64_t* col = scr.col.data() + k;
    int64_t* group = scr.group.data() + k;
    const int64_t c0 = ranges[r].c0, nc = ranges[r].c1 - c0;
    const int64_t* at = cells.written_at.data() + c0;
    if (consecutive) {
      for (int64_t j = 0; j < nc; ++j) col[j] = c0 + j;
    } else if (!rc.ring && shift >= 0) {  // without divisions (columns read were written: t >= 0)
      for (int64_t j = 0; j < nc; ++j) col[j] = c0 + j, group[j] = std::max<int64_t>(at[j], 0) >> shift;
    } else {
      for (int64_t j = 0; j < nc; ++j) {
        const int64_t pos = rc.ring ? mod_pos(at[j], rc.window) : at[j];
        col[j] = c0 + j;
        group[j] = shift >= 0 && pos >= 0 ? pos >> shift : div_pos(pos, rc.cols);
      }
    }
    k += int(nc);
  }
  std::fill(out, out + cells.D, 0.0f);
  ReadStats st;
  st.keys = n;
  if (n == 0) return st;
  first_product(q, now, ranges, n_ranges, n, cells, rc, scr, dots, consecutive);
  scr.a.resize(cells.D);
  scr.x.resize(cells.D);
  for (int p = 0; p < kMaxPowers; ++p) scr.acc[p].resize(cells.D);
  const size_t D = size_t(cells.D);
  // The tile of token t: its position (t, or t mod window with ring tiles) / cols. Consecutive keys: the tile
  // stays until the position reaches a multiple of cols (or wraps at the window).
  auto position = [&](int64_t t) { return rc.ring ? mod_pos(t, rc.window) : t; };
  auto tile = [&](int64_t pos) { return shift >= 0 ? pos >> shift : div_pos(pos, rc.cols); };
  auto tile_end = [&](int64_t k) {  // the first key past k that may start another tile
    const int64_t pos = position(t0 + k);
    int64_t span = rc.cols - (shift >= 0 ? pos & (rc.cols - 1) : mod_pos(pos, rc.cols));
    if (rc.ring) span = std::min<int64_t>(span, rc.window - pos);
    return std::min(n, k + span);
  };
  for (int64_t k0 = 0; k0 < n;) {  // arrays are runs of equal group in read order
    int64_t k1 = k0 + 1, group = 0;
    if (consecutive) {
      group = tile(position(t0 + k0));
      k1 = tile_end(k0);
      while (k1 < n && tile(position(t0 + k1)) == group) k1 = tile_end(k1);  // a window narrower than a tile
    } else {
      group = scr.group[k0];
      while (k1 < n && scr.group[k1] == group) ++k1;
    }
    if (rc.hist && scr.code.size() < (size_t(st.arrays) + 1) * D) scr.code.resize((size_t(st.arrays) + 1) * D);
    read_array(out, rc.hist ? scr.code.data() + size_t(st.arrays) * D : nullptr, now, group, k0, k1, cells, rc, scr);
    ++st.arrays;
    k0 = k1;
  }
  if (rc.hist) rc.hist->adc.add_codes(scr.code.data(), st.arrays * int64_t(D));  // one batch per read
  return st;
}

}  // namespace gaincell
