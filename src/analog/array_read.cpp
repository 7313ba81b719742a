#include "analog/array_read.h"

#include <algorithm>
#include <cmath>

#include "analog/read_kernels.h"

namespace gaincell {

void HeadCells::init(int dim, int64_t columns, const CellPoly& poly, bool with_mismatch) {
  D = dim;
  ld = columns;
  k_ld = column_stride(columns);
  n_pow = poly.n;
  mismatch = with_mismatch;
  for (int p = 0; p < kMaxPowers; ++p) need[p] = p < n_pow && poly.active[p] && (p > 0 || mismatch);
  const size_t k_size = size_t(D) * k_ld + kColumnSlack, v_size = size_t(D) * ld;
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
    ky[size_t(d) * k_ld + col] = yk[d];
    vy[size_t(col) * D + d] = yv[d];
    if (mismatch) {
      kg[size_t(d) * k_ld + col] = 1.0f + mm->k_gain[slot * D + d];
      vg[size_t(col) * D + d] = 1.0f + mm->v_gain[slot * D + d];
      k_off[size_t(d) * k_ld + col] = mm->k_off[slot * D + d];
      v_off[size_t(col) * D + d] = mm->v_off[slot * D + d];
    }
  }
}

namespace {

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
// Returns the dot of the powers read without cells (y^0 = 1, no mismatch), the sum of the query pulses, which
// fill_constant also writes into their every key's dot.
float block_dots(const float* q, int r0, int Db, const ColRange* ranges, int nr, int64_t n, const HeadCells& cells,
                 const ReadConfig& rc, ReadScratch& scr, bool given, bool fill_constant) {
  const CellPoly& poly = *rc.poly;
  float sumq = 0.0f;
  for (int d = r0; d < r0 + Db; ++d) sumq += q[d] * 1.0f;
  float* dst[kMaxPowers] = {};
  for (int p = 0; p < poly.n; ++p) {
    if (!poly.active[p] || (!fill_constant && !cells.need[p])) continue;
    scr.dot[p].resize(n);
    dst[p] = scr.dot[p].data();
    if (!cells.need[p]) std::fill(scr.dot[p].begin(), scr.dot[p].end(), sumq);
  }
  if (given) return sumq;  // the needed powers' dots (and the offset sums) come from read_cells' caller
  const size_t at = size_t(r0) * cells.k_ld;
  const float *kq = q + r0, *ky = cells.ky.data() + at, *kg = cells.mismatch ? cells.kg.data() + at : nullptr;
  const int64_t ld = cells.k_ld;
  dot_powers(dst, cells.need, poly.n, cells.mismatch, kq, ky, kg, Db, ld, ranges, nr);
  if (cells.mismatch) {
    scr.dot_off.resize(n);
    dot_by_columns(scr.dot_off.data(), kq, cells.k_off.data() + at, Db, ld, ranges, nr);
  }
  return sumq;
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
  // Consecutive keys with a refresh after the first: the keys k < kr, written before it, share the age
  // now - refreshed, the others are a run of the reversed table.
  const int64_t kr = std::max<int64_t>(0, std::min(n, refreshed - t0));
  const bool split_run =
      !run && consecutive && rc.decay_reversed && now - refreshed < rc.n_ages && age0 < rc.n_ages + kr;
  if (!run && !split_run)
    for (int64_t k = 0; k < n; ++k) {
      const int64_t t = cells.written_at[col[k]];
      scr.age[k] = int32_t(refreshed > t ? now - refreshed : now - t);
    }
  const float* dec[kMaxPowers] = {};
  const float* dot[kMaxPowers] = {};
  for (int p = 0; p < poly.n; ++p) {
    if (!poly.active[p]) continue;
    // delta^p at age0 - k: the reversed row at n_ages - 1 - age0 + k
    const float* reversed =
        run || split_run ? rc.decay_reversed + p * rc.n_ages + (rc.n_ages - 1 - age0 + kr) : nullptr;
    if (run) {  // kr = 0
      dec[p] = reversed;
      continue;
    }
    scr.dec[p].resize(n);
    const float* table = rc.decay + p * rc.n_ages;
    if (split_run) {
      std::fill(scr.dec[p].begin(), scr.dec[p].begin() + kr, table[now - refreshed]);
      std::copy(reversed, reversed + (n - kr), scr.dec[p].begin() + kr);
    } else {
      for (int64_t k = 0; k < n; ++k) scr.dec[p][k] = table[scr.age[k]];
    }
    dec[p] = scr.dec[p].data();
  }
  const bool sat_per_key = rc.mm && !rc.mm->s_sat.empty();
  if (sat_per_key) scr.s_sat.resize(n);
  float* w[kMaxPowers] = {};
  for (int p = 0; p < poly.n; ++p)
    if (poly.active[p]) scr.w[p].resize(n), w[p] = scr.w[p].data();
  // Read noise on S of key k: sigma_s N(0, 1) addressed by (now, t_k | block << 48).
  auto draw_s_noise = [&](int blk) {
    scr.noise.resize(n);
    if (consecutive && blk == 0) {  // t_k = t0 + k
      c2c_normals(scr.noise.data(), *rc.c2c, NoiseTag::kReadS, now, nullptr, uint64_t(t0), n);
      return;
    }
    scr.noise_at.resize(n);
    for (int64_t k = 0; k < n; ++k) scr.noise_at[k] = uint64_t(cells.written_at[scr.col[k]]) | uint64_t(blk) << 48;
    c2c_normals(scr.noise.data(), *rc.c2c, NoiseTag::kReadS, now, scr.noise_at.data(), 0, n);
  };
  if (n_blocks == 1 && !(rc.c2c && rc.snr_s_db > 0)) {  // the common read: charges to weights in one pass
    const float sumq = block_dots(q, 0, D, ranges, nr, n, cells, rc, scr, dots != nullptr, false);
    float dot_c[kMaxPowers] = {};
    for (int p = 0; p < poly.n; ++p) {
      dot[p] = !poly.active[p] || !cells.need[p] ? nullptr : dots ? dots[p] : scr.dot[p].data();
      dot_c[p] = sumq;
    }
    const float* off = !cells.mismatch ? nullptr : dots ? dots[poly.n] : scr.dot_off.data();
    const float* noise = nullptr;
    if (rc.c2c && rc.sigma_s > 0) {
      draw_s_noise(0);
      scr.s_blk.resize(n);
      for (int64_t k = 0; k < n; ++k) scr.s_blk[k] = float(rc.sigma_s * scr.noise[k]);
      noise = scr.s_blk.data();
    }
    const float* sat = nullptr;
    if (sat_per_key) {
      const int64_t at = consecutive ? mod_pos(t0, rc.window) : -1;
      if (at >= 0 && at + n <= rc.window) {
        sat = rc.mm->s_sat.data() + at;  // S_sat of slots t0 mod W, ... in a row
      } else {
        for (int64_t k = 0; k < n; ++k) scr.s_sat[k] = rc.mm->s_sat[mod_pos(cells.written_at[scr.col[k]], rc.window)];
        sat = scr.s_sat.data();
      }
    }
    charges_to_weights(scr.s.data(), scr.p.data(), w, dot, dot_c, dec, poly.alpha, poly.active, poly.n, off, noise, sat,
                       rc.cv->s_sat, n);
    if (rc.hist) rc.hist->add_pulses(scr.p.data(), n);
    return;
  }
  for (int blk = 0; blk < n_blocks; ++blk) {
    const int r0 = n_blocks > 1 ? blk * rc.rows : 0, Db = n_blocks > 1 ? std::min(rc.rows, D - r0) : D;
    block_dots(q, r0, Db, ranges, nr, n, cells, rc, scr, dots != nullptr, true);
    for (int p = 0; p < poly.n; ++p)
      dot[p] = !poly.active[p] ? nullptr : dots && cells.need[p] ? dots[p] : scr.dot[p].data();
    float* sb = scr.s_blk.data();
    const float* off = !cells.mismatch ? nullptr : dots ? dots[poly.n] : scr.dot_off.data();
    block_charges(sb, dot, dec, poly.alpha, poly.active, poly.n, off, n);
    if (rc.c2c && rc.sigma_s > 0) {
      draw_s_noise(blk);
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
  if (skip_zero) {
    m = nonzero_keys(kidx, P, k0, k1);
  } else {
    for (int64_t k = k0; k < k1; ++k) kidx[m++] = int32_t(k);
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
  mix_powers(acc, w, cells.need, poly.n, cells.mismatch, vy, vg, col, kidx, m, D);
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

ReadStats read_cells(float* out, const float* q, int64_t now, const ColRange* ranges, int n_ranges,
                     const HeadCells& cells, const ReadConfig& rc, ReadScratch& scr, const float* const* dots) {
  int64_t n = 0;
  for (int r = 0; r < n_ranges; ++r) n += ranges[r].c1 - ranges[r].c0;
  scr.col.resize(n);
  scr.group.resize(n);
  scr.age.resize(n);
  scr.kidx.resize(n + kKeySlack);
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
