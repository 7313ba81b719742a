#include "analog/gaincell_backward.h"

#include <algorithm>

#include "analog/array_read.h"

namespace gaincell {
namespace {

struct Prepared {
  // Step 1-4 values [T * D]: qq = Q_q(clip(a q + b)), y^K, y^V (offset removed); masks of the input clips.
  std::vector<float> qq, yk, yv, mq, mk, mv;
  std::vector<float> ykp[kMaxPowers], yvp[kMaxPowers];  // (y)^p for p >= 2 (nonlinear forward only)
  // The same transposed, [D][ldT] plus kColumnSlack (ldT = column_stride(T)), as the K array holds them: a row's
  // dot products with every key run as one dot_by_columns (vectorized over the keys, each sum in d order: the
  // bits of dot()).
  std::vector<float> ykT[kMaxPowers], yvT;  // ykT[p] for p >= 1 (p >= 2 nonlinear forward only)
  int64_t ldT = 0;
};

void transpose_into(std::vector<float>& dst, const std::vector<float>& src, int T, int D, int64_t ldT) {
  dst.assign(size_t(ldT) * D + kColumnSlack, 0.0f);
  for (int t = 0; t < T; ++t)
    for (int d = 0; d < D; ++d) dst[size_t(d) * ldT + t] = src[size_t(t) * D + d];
}

// Straight-through clip mask of one converter input: 1 where lo <= u <= hi (inclusive, as torch.clamp).
float clip_mask(float u, const Quantizer& qz) {
  return u >= qz.lo && u <= qz.hi ? 1.0f : 0.0f;
}

void prepare(Prepared& s, const float* q, const float* k, const float* v, int64_t ld, int T, int D,
             const HeadBackwardParams& p) {
  const size_t n = size_t(T) * D;
  for (auto* x : {&s.qq, &s.yk, &s.yv, &s.mq, &s.mk, &s.mv}) x->resize(n);
  const float aq = scale_of(p.a[0]), ak = scale_of(p.a[1]), av = scale_of(p.a[2]);
  const Converters& cv = p.cv;
  for (int t = 0; t < T; ++t)
    for (int d = 0; d < D; ++d) {
      size_t e = size_t(t) * D + d;
      float uq = aq * q[t * ld + d] + p.b[0], uk = ak * k[t * ld + d] + p.b[1], uv = av * v[t * ld + d] + p.b[2];
      s.qq[e] = cv.query(uq);
      s.yk[e] = cv.store(uk) - cv.v_offset;
      s.yv[e] = cv.store(uv) - cv.v_offset;
      s.mq[e] = clip_mask(uq, cv.query);
      s.mk[e] = clip_mask(uk, cv.store);
      s.mv[e] = clip_mask(uv, cv.store);
    }
  s.ldT = column_stride(T);
  transpose_into(s.ykT[1], s.yk, T, D, s.ldT);
  transpose_into(s.yvT, s.yv, T, D, s.ldT);
  if (!p.surrogate) return;
  for (int pw = 2; pw < p.poly.n; ++pw) {
    s.ykp[pw].resize(n);
    s.yvp[pw].resize(n);
    for (size_t e = 0; e < n; ++e) {
      s.ykp[pw][e] = (pw == 2 ? s.yk[e] : s.ykp[pw - 1][e]) * s.yk[e];
      s.yvp[pw][e] = (pw == 2 ? s.yv[e] : s.yvp[pw - 1][e]) * s.yv[e];
    }
    transpose_into(s.ykT[pw], s.ykp[pw], T, D, s.ldT);
  }
}

// y^p row of token j (p >= 1), or nullptr for p = 0 (y^0 = 1).
const float* pow_row(const Prepared& s, bool key, int pw, int j, int D) {
  if (pw == 0) return nullptr;
  const std::vector<float>& m = pw == 1 ? (key ? s.yk : s.yv) : (key ? s.ykp[pw] : s.yvp[pw]);
  return m.data() + size_t(j) * D;
}

float dot(const float* a, const float* b, int D) {
  float s = 0.0f;
  for (int d = 0; d < D; ++d) s += a[d] * b[d];
  return s;
}

int64_t age_of(int64_t now, int64_t t, int refresh) {  // as array_read.cpp
  if (refresh > 0) {
    int64_t last = (now / refresh) * refresh;
    if (last > t) return now - last;
  }
  return now - t;
}

// Row i of the first product: S (forward model) and S of the linear model, for keys lo..i.
struct Row {
  std::vector<float> p_fwd, p_lin, s_lin, delta1, dP;
  std::vector<float> qk[kMaxPowers];  // qk[p][k] = q_i . (y^K_j)^p for p >= 1 (first_product_row)
  std::vector<float> dAv;             // dA_tile(j) . y^V_j
  std::vector<float> s_blk;           // digital row sum: S of the linear model per key and block [key * n_blocks + blk]
  std::vector<float> sum_lin;         // digital row sum: sum of the blocks' linear pulses before the clip to 1
  std::vector<int> age, tile;
  std::vector<float> A, dA;  // [n_tiles * D]
  std::vector<char> touched;
};

void first_product_row(Row& r, const Prepared& s, int i, int lo, int D, int T, const HeadBackwardParams& p) {
  const float* qi = s.qq.data() + size_t(i) * D;
  const int W = p.window;
  float sumq = 0.0f;
  for (int d = 0; d < D; ++d) sumq += qi[d] * 1.0f;
  const ColRange keys{lo, i + 1};
  dot_by_columns(r.qk[1].data(), qi, s.ykT[1].data(), D, s.ldT, &keys, 1);
  if (p.surrogate)
    for (int pw = 2; pw < p.poly.n; ++pw)
      if (p.poly.active[pw]) dot_by_columns(r.qk[pw].data(), qi, s.ykT[pw].data(), D, s.ldT, &keys, 1);
  for (int j = lo; j <= i; ++j) {
    const int k = j - lo, age = int(age_of(i, j, p.refresh));
    r.age[k] = age;
    r.tile[k] = (p.ring ? j % W : j) / p.cols;
    r.delta1[k] = p.decay[size_t(W) + age];
    float s_lin = p.gain * r.delta1[k] * r.qk[1][k];
    float s_fwd = 0.0f;
    if (!p.surrogate) {
      s_fwd = p.poly.alpha[1] * p.decay[size_t(W) + age] * r.qk[1][k];
      s_lin = s_fwd;
    } else {
      for (int pw = 0; pw < p.poly.n; ++pw) {
        if (!p.poly.active[pw]) continue;
        s_fwd += p.poly.alpha[pw] * p.decay[size_t(pw) * W + age] * (pw == 0 ? sumq : r.qk[pw][k]);
      }
    }
    r.s_lin[k] = s_lin;
    r.p_fwd[k] = std::min(std::max(s_fwd / p.cv.s_sat, 0.0f), 1.0f);
    r.p_lin[k] = std::min(std::max(s_lin / p.cv.s_sat, 0.0f), 1.0f);
  }
}

// The same with a digital row sum over n_blocks blocks of p.rows K rows (D > rows): per block the charge and
// its pulse, P = min(sum of the pulses, 1), for the forward cell (p_fwd) and the linear model (p_lin, s_blk).
void first_product_row_blocks(Row& r, const Prepared& s, int i, int lo, int D, int n_blocks,
                              const HeadBackwardParams& p) {
  const float* qi = s.qq.data() + size_t(i) * D;
  const int W = p.window;
  for (int j = lo; j <= i; ++j) {
    const int k = j - lo, age = int(age_of(i, j, p.refresh));
    r.age[k] = age;
    r.tile[k] = (p.ring ? j % W : j) / p.cols;
    r.delta1[k] = p.decay[size_t(W) + age];
    float pf = 0.0f, pl = 0.0f, total = 0.0f;  // total: the sum of the linear pulses before any clip to 1
    for (int blk = 0; blk < n_blocks; ++blk) {
      const int r0 = blk * p.rows, Db = std::min(p.rows, D - r0);
      const float* yk = s.yk.data() + size_t(j) * D + r0;
      float s_lin = p.gain * r.delta1[k] * dot(qi + r0, yk, Db), s_fwd = 0.0f;
      if (!p.surrogate) {
        s_fwd = p.poly.alpha[1] * p.decay[size_t(W) + age] * dot(qi + r0, yk, Db);
        s_lin = s_fwd;
      } else {
        float sumq = 0.0f;
        for (int d = r0; d < r0 + Db; ++d) sumq += qi[d] * 1.0f;
        for (int pw = 0; pw < p.poly.n; ++pw) {
          if (!p.poly.active[pw]) continue;
          const float* y = pow_row(s, true, pw, j, D);
          s_fwd += p.poly.alpha[pw] * p.decay[size_t(pw) * W + age] * (y ? dot(qi + r0, y + r0, Db) : sumq);
        }
      }
      r.s_blk[size_t(k) * n_blocks + blk] = s_lin;
      pf = blk == 0 ? std::min(std::max(s_fwd / p.cv.s_sat, 0.0f), 1.0f)
                    : pf + std::min(std::max(s_fwd / p.cv.s_sat, 0.0f), 1.0f);
      const float pb = std::min(std::max(s_lin / p.cv.s_sat, 0.0f), 1.0f);
      pl = blk == 0 ? pb : std::min(pl + pb, 1.0f);
      total += pb;
      if (blk > 0) pf = std::min(pf, 1.0f);
    }
    r.p_fwd[k] = pf;
    r.p_lin[k] = pl;
    r.sum_lin[k] = total;
  }
}

// Second product per tile with the forward model: A[tile * D + d].
GAINCELL_SIMD_CLONES void second_product_row(Row& r, const Prepared& s, int n, int lo, int D,
                                             const HeadBackwardParams& p) {
  std::fill(r.A.begin(), r.A.end(), 0.0f);
  std::fill(r.touched.begin(), r.touched.end(), 0);
  for (int k = 0; k < n; ++k) {
    float* A = r.A.data() + size_t(r.tile[k]) * D;
    r.touched[r.tile[k]] = 1;
    for (int pw = 0; pw < p.poly.n; ++pw) {
      if (!p.poly.active[pw]) continue;
      float w = p.poly.alpha[pw] * r.p_fwd[k] * p.decay[size_t(pw) * p.window + r.age[k]];
      const float* y = pow_row(s, false, pw, lo + k, D);
      for (int d = 0; d < D; ++d) A[d] += w * (y ? y[d] : 1.0f);
    }
  }
}

}  // namespace

HeadBackwardParams make_head_backward_params(const HardwareConfig& hw, int window, bool linear) {
  HeadBackwardParams p;
  p.poly = make_cell_poly(hw, linear);
  p.surrogate = !linear;
  p.gain = float(hw.device.linear_gain_ua_per_v);
  p.cv = Converters(hw);
  p.n_pow = std::max(p.poly.n, 2);
  p.window = window;
  p.decay = make_decay_table(hw.lambda_per_token(), p.n_pow, window);
  p.cols = hw.array.cols;
  p.ring = hw.array.tile_mapping == "ring";
  p.refresh = hw.leakage.refresh_every_tokens;
  p.rows = hw.array.rows;
  p.digital_row_sum = hw.array.row_sum == "digital";
  p.b[1] = p.b[2] = p.cv.v_offset;  // default k, v shifts follow the device offset (default_scalers)
  return p;
}

GAINCELL_SIMD_CLONES void gaincell_head_backward(float* dq, float* dk, float* dv, HeadScalerGrads& g, const float* dout,
                                                 int64_t ld_out, const float* q, const float* k, const float* v,
                                                 int64_t ld, int T, int D, const HeadBackwardParams& p) {
  Prepared s;
  prepare(s, q, k, v, ld, T, D, p);
  const size_t n = size_t(T) * D;
  std::vector<float> dqq(n, 0.0f), dyk(n, 0.0f), dyv(n, 0.0f), dO(D);
  const int W = p.window, n_tiles = ((p.ring ? std::min(W, T) : T) + p.cols - 1) / p.cols;
  const float a_out = scale_of(p.a[3]), gain = p.gain, inv_fs = 1.0f / p.cv.a_fs, inv_sat = 1.0f / p.cv.s_sat;
  const bool a_out_live = p.a[3] >= 1e-20f;
  Row r;
  const int wmax = std::min(W, T);
  for (auto* x : {&r.p_fwd, &r.p_lin, &r.s_lin, &r.delta1, &r.dP, &r.dAv}) x->resize(wmax);
  for (int pw = 1; pw < std::max(p.poly.n, 2); ++pw) r.qk[pw].resize(wmax);
  r.age.resize(wmax);
  r.tile.resize(wmax);
  r.A.resize(size_t(n_tiles) * D);
  r.dA.resize(size_t(n_tiles) * D);
  r.touched.resize(n_tiles);
  const int n_blocks = p.digital_row_sum && D > p.rows ? (D + p.rows - 1) / p.rows : 1;
  if (n_blocks > 1) r.s_blk.resize(size_t(wmax) * n_blocks), r.sum_lin.resize(wmax);
  for (int i = 0; i < T; ++i) {
    const int lo = std::max(0, i - W + 1), nk = i - lo + 1;
    if (n_blocks > 1)
      first_product_row_blocks(r, s, i, lo, D, n_blocks, p);
    else
      first_product_row(r, s, i, lo, D, T, p);
    second_product_row(r, s, nk, lo, D, p);
    // Steps 10-12 and their gradients: O = sum of ADC outputs, out = a_out O + b_out.
    const float* go = dout + i * ld_out;
    std::fill(dO.begin(), dO.end(), 0.0f);
    for (int d = 0; d < D; ++d) {
      float o = 0.0f;
      for (int t = 0; t < n_tiles; ++t)
        if (r.touched[t]) o += p.cv.adc(r.A[size_t(t) * D + d] * inv_fs);
      if (a_out_live) g.scale[3] += double(go[d]) * o;
      g.shift[3] += go[d];
      dO[d] = a_out * go[d];
    }
    for (int t = 0; t < n_tiles; ++t)
      for (int d = 0; d < D; ++d) {
        float x = r.A[size_t(t) * D + d] * inv_fs;
        r.dA[size_t(t) * D + d] = r.touched[t] && clip_mask(x, p.cv.adc) > 0 ? dO[d] * inv_fs : 0.0f;
      }
    // Second product (linear model): dP_ij = g delta (dA . y^V_j), dy^V_j += g P_lin delta dA. The dots
    // dA . y^V_j first, one dot_by_columns per run of keys in the same tile.
    for (int k0 = 0; k0 < nk;) {
      int k1 = k0 + 1;
      while (k1 < nk && r.tile[k1] == r.tile[k0]) ++k1;
      const ColRange run{lo + k0, lo + k1};
      dot_by_columns(r.dAv.data() + k0, r.dA.data() + size_t(r.tile[k0]) * D, s.yvT.data(), D, s.ldT, &run, 1);
      k0 = k1;
    }
    float* gq = dqq.data() + size_t(i) * D;
    const float* qi = s.qq.data() + size_t(i) * D;
    for (int kk = 0; kk < nk; ++kk) {
      const int j = lo + kk;
      const float* dA = r.dA.data() + size_t(r.tile[kk]) * D;
      const float gd = gain * r.delta1[kk];
      float dP = gd * r.dAv[kk];
      float wv = gd * r.p_lin[kk];
      float* gv = dyv.data() + size_t(j) * D;
      for (int d = 0; d < D; ++d) gv[d] += wv * dA[d];
      const float* ykj = s.yk.data() + size_t(j) * D;
      float* gk = dyk.data() + size_t(j) * D;
      if (n_blocks > 1) {  // digital row sum: the clip of the sum to 1, then each block's clip
        if (!(r.sum_lin[kk] <= 1.0f)) continue;
        for (int blk = 0; blk < n_blocks; ++blk) {
          const int r0 = blk * p.rows, r1 = std::min(D, r0 + p.rows);
          const float xb = r.s_blk[size_t(kk) * n_blocks + blk] * inv_sat;
          if (!(xb >= 0.0f && xb <= 1.0f)) continue;
          const float ws = gd * (dP * inv_sat);
          for (int d = r0; d < r1; ++d) {
            gq[d] += ws * ykj[d];
            gk[d] += ws * qi[d];
          }
        }
        continue;
      }
      // Charge-to-pulse clip (mask from the linear S) and the first product.
      float x = r.s_lin[kk] * inv_sat;
      float dS = x >= 0.0f && x <= 1.0f ? dP * inv_sat : 0.0f;
      if (dS == 0.0f) continue;
      float ws = gd * dS;
      for (int d = 0; d < D; ++d) {
        gq[d] += ws * ykj[d];
        gk[d] += ws * qi[d];
      }
    }
  }
  // Steps 1-3: straight-through quantisers, input clip masks, scalers.
  const float* raw[3] = {q, k, v};
  float* dst[3] = {dq, dk, dv};
  const std::vector<float>* up[3] = {&dqq, &dyk, &dyv};
  const std::vector<float>* mask[3] = {&s.mq, &s.mk, &s.mv};
  for (int part = 0; part < 3; ++part) {
    const float a = scale_of(p.a[part]);
    const bool live = p.a[part] >= 1e-20f;
    for (int t = 0; t < T; ++t)
      for (int d = 0; d < D; ++d) {
        size_t e = size_t(t) * D + d;
        float du = (*up[part])[e] * (*mask[part])[e];
        dst[part][t * ld + d] = a * du;
        if (live) g.scale[part] += double(du) * raw[part][t * ld + d];
        g.shift[part] += du;
      }
  }
}

}  // namespace gaincell
