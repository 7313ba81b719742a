// Backward of the analog backends (style R19): central differences on tiny shapes for hardsigmoid and for
// gaincell-linear with quantisers off (double-precision forward written here from paper-spec §2.4, checked
// against the production forward; coordinates whose perturbation crosses a clip edge are excluded), the
// straight-through and surrogate rules (§2.6, §2.7) as properties, parameters() / buffers() naming, and the
// target statistics (§3.2).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "analog/gaincell_attention.h"
#include "analog/hardsigmoid_attention.h"
#include "core/rng.h"
#include "expect_close.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {

struct Shape {
  int B = 2, T = 9, H = 2, D = 4, W = 6;
};

std::vector<float> random_vec(size_t n, float lo, float hi, uint64_t seed) {
  Rng r(seed);
  std::vector<float> x(n);
  for (auto& v : x) v = lo + (hi - lo) * float(r.uniform());
  return x;
}

// ---------------------------------------------------------------------------------------------------------
// HardSigmoid: out_i = sum_{j in window} clip(q_i.k_j / sqrt(D), 0, 1) v_j. sig collects the clip states.

double hardsigmoid_loss(const std::vector<double>& x, const std::vector<double>& w, const Shape& s,
                        std::vector<int8_t>* sig) {
  const int C = s.H * s.D;
  double loss = 0;
  for (int b = 0; b < s.B; ++b)
    for (int h = 0; h < s.H; ++h)
      for (int i = 0; i < s.T; ++i)
        for (int j = std::max(0, i - s.W + 1); j <= i; ++j) {
          const double* q = &x[(size_t(b) * s.T + i) * 3 * C + h * s.D];
          const double* k = &x[(size_t(b) * s.T + j) * 3 * C + C + h * s.D];
          const double* v = &x[(size_t(b) * s.T + j) * 3 * C + 2 * C + h * s.D];
          double dot = 0;
          for (int d = 0; d < s.D; ++d) dot += q[d] * k[d];
          double u = dot / std::sqrt(double(s.D)), p = std::min(std::max(u, 0.0), 1.0);
          if (sig) sig->push_back(int8_t(u < 0 ? -1 : u > 1 ? 1 : 0));
          for (int d = 0; d < s.D; ++d) loss += w[(size_t(b) * s.T + i) * C + h * s.D + d] * p * v[d];
        }
  return loss;
}

// ---------------------------------------------------------------------------------------------------------
// gaincell-linear with quantisers off, in double (paper-spec §2.4 steps 1-12, absolute tiles).

struct GcSetup {
  Shape s;
  int cols = 4;
  double lambda = 0.02, gain = 19.3, s_sat = 12, a_fs = 6, v_off = 0.45;
  int rows = 0;  // > 0: array.rows with array.row_sum = "digital" (D > rows: per-block pulses summed, clipped to 1)
};

HardwareConfig gc_hw(const GcSetup& g) {
  HardwareConfig hw;
  hw.converters.query.enabled = hw.converters.store.enabled = hw.converters.adc.enabled = false;
  hw.array.cols = g.cols;
  hw.leakage.decay_per_token = g.lambda;
  hw.converters.s_sat_ua_tmax = g.s_sat;
  hw.converters.adc_full_scale_ua_tmax = g.a_fs;
  if (g.rows > 0) hw.array.rows = g.rows, hw.array.row_sum = "digital";
  return hw;
}

// sc: [H][8] = a_q, b_q, a_k, b_k, a_v, b_v, a_out, b_out.
double gc_loss(const std::vector<double>& x, const std::vector<double>& sc, const std::vector<double>& w,
               const GcSetup& g, std::vector<int8_t>* sig, std::vector<double>* out = nullptr) {
  const Shape& s = g.s;
  const int C = s.H * s.D, D = s.D;
  auto clip = [&](double u, double lo, double hi) {
    if (sig) sig->push_back(int8_t(u < lo ? -1 : u > hi ? 1 : 0));
    return std::min(std::max(u, lo), hi);
  };
  double loss = 0;
  if (out) out->assign(size_t(s.B) * s.T * C, 0.0);
  for (int b = 0; b < s.B; ++b)
    for (int h = 0; h < s.H; ++h) {
      const double* c = &sc[size_t(h) * 8];
      std::vector<double> q(size_t(s.T) * D), yk(q.size()), yv(q.size());
      for (int t = 0; t < s.T; ++t)
        for (int d = 0; d < D; ++d) {
          const double* row = &x[(size_t(b) * s.T + t) * 3 * C + h * D + d];
          q[t * D + d] = clip(c[0] * row[0] + c[1], 0, 1);
          yk[t * D + d] = clip(c[2] * row[C] + c[3], 0, 0.9) - g.v_off;
          yv[t * D + d] = clip(c[4] * row[2 * C] + c[5], 0, 0.9) - g.v_off;
        }
      for (int i = 0; i < s.T; ++i) {
        const int n_tiles = (s.T + g.cols - 1) / g.cols;
        std::vector<double> A(size_t(n_tiles) * D, 0.0);
        std::vector<char> touched(n_tiles, 0);
        for (int j = std::max(0, i - s.W + 1); j <= i; ++j) {
          double delta = std::exp(-g.lambda * (i - j)), dot = 0, P = 0;
          if (g.rows > 0 && D > g.rows) {  // digital row sum
            for (int r0 = 0; r0 < D; r0 += g.rows) {
              double db = 0;
              for (int d = r0; d < std::min(D, r0 + g.rows); ++d) db += q[i * D + d] * yk[j * D + d];
              P += clip(g.gain * db * delta / g.s_sat, 0, 1);
            }
            P = clip(P, 0, 1);
          } else {
            for (int d = 0; d < D; ++d) dot += q[i * D + d] * yk[j * D + d];
            P = clip(g.gain * dot * delta / g.s_sat, 0, 1);
          }
          touched[j / g.cols] = 1;
          for (int d = 0; d < D; ++d) A[(j / g.cols) * D + d] += g.gain * P * delta * yv[j * D + d];
        }
        for (int d = 0; d < D; ++d) {
          double o = 0;
          for (int t = 0; t < n_tiles; ++t)
            if (touched[t]) o += clip(A[t * D + d] / g.a_fs, -1, 1);
          double y = c[6] * o + c[7];
          size_t e = (size_t(b) * s.T + i) * C + h * D + d;
          if (out) (*out)[e] = y;
          loss += w[e] * y;
        }
      }
    }
  return loss;
}

// Central differences of f over the coordinates of x, skipping those whose +-h perturbation changes the
// clip signature. Compares with the analytic gradient; returns the number of coordinates checked.
template <class F>
int check_fd(std::vector<double>& x, const std::vector<float>& analytic, F f, double h, const char* what) {
  const double scale = test::max_abs(analytic);  // NaN (failing every EXPECT_NEAR below) if any entry is
  int checked = 0;
  for (size_t e = 0; e < x.size(); ++e) {
    const double x0 = x[e];
    std::vector<int8_t> sp, sm;
    x[e] = x0 + h;
    double fp = f(&sp);
    x[e] = x0 - h;
    double fm = f(&sm);
    x[e] = x0;
    if (sp != sm) continue;  // a clip edge lies within +-h: not smooth here
    double fd = (fp - fm) / (2 * h);
    EXPECT_NEAR(analytic[e], fd, 2e-4 * scale + 1e-3 * std::fabs(fd)) << what << " coordinate " << e;
    ++checked;
  }
  return checked;
}

TEST(AnalogBackward, HardsigmoidMatchesFiniteDifferences) {
  Shape s;
  s.D = 8;
  const int C = s.H * s.D;
  AttentionContext ctx;
  ctx.n_layer = 1;
  ctx.n_head = s.H;
  ctx.head_dim = s.D;
  ctx.window = s.W;
  auto att = make_hardsigmoid_attention(ctx);
  std::vector<float> qkv = random_vec(size_t(s.B) * s.T * 3 * C, -0.9f, 0.9f, 11);
  std::vector<float> w = random_vec(size_t(s.B) * s.T * C, -1, 1, 12);
  std::vector<float> out(w.size()), dqkv(qkv.size(), 7.0f);
  att->forward(out.data(), qkv.data(), s.B, s.T, 0);
  att->backward(dqkv.data(), w.data(), qkv.data(), s.B, s.T, 0);
  std::vector<double> x(qkv.begin(), qkv.end()), wd(w.begin(), w.end());
  double prod = 0;  // the production forward agrees with the double one
  for (size_t e = 0; e < out.size(); ++e) prod += double(w[e]) * out[e];
  EXPECT_NEAR(prod, hardsigmoid_loss(x, wd, s, nullptr), 1e-4);
  int n = check_fd(
      x, dqkv, [&](std::vector<int8_t>* sig) { return hardsigmoid_loss(x, wd, s, sig); }, 1e-6, "dqkv");
  EXPECT_GT(n, int(x.size() * 8 / 10));
}

struct GcCase {
  GcSetup g;
  std::unique_ptr<GainCellAttention> att;
  std::vector<float> qkv, w;
  std::vector<double> sc;
};

GcCase make_gc_case(bool linear, bool quantize, uint64_t seed, int rows = 0) {
  GcCase c;
  c.g.rows = rows;
  const Shape& s = c.g.s;
  HardwareConfig hw = gc_hw(c.g);
  if (quantize) hw.converters.query.enabled = hw.converters.store.enabled = hw.converters.adc.enabled = true;
  c.att = std::make_unique<GainCellAttention>(std::make_shared<GainCellModel>(hw, 1, s.H, s.D, s.W, linear, 5), linear);
  const int C = s.H * s.D;
  c.qkv = random_vec(size_t(s.B) * s.T * 3 * C, -0.3f, 1.1f, seed);
  for (size_t e = 0; e < c.qkv.size(); ++e)
    if ((e % (3 * C)) >= size_t(C)) c.qkv[e] -= 0.4f;  // k, v around 0
  c.w = random_vec(size_t(s.B) * s.T * C, -1, 1, seed + 1);
  const float base[8] = {0.9f, 0.05f, 1.1f, 0.45f, 0.95f, 0.44f, 0.8f, 0.02f};
  LayerScalers& ls = c.att->model().scalers(0);
  for (int h = 0; h < s.H; ++h)
    for (int k = 0; k < kNumScalers; ++k) {
      scaler_scale(ls, k)[h] = base[2 * k] + 0.1f * h;
      scaler_shift(ls, k)[h] = base[2 * k + 1] - 0.01f * h;
      c.sc.push_back(scaler_scale(ls, k)[h]);
      c.sc.push_back(scaler_shift(ls, k)[h]);
    }
  return c;
}

class AnalogBackwardRows : public ::testing::TestWithParam<int> {};

// rows 0: one charge-to-pulse per key (D <= rows or the shared line); rows 2 (1) with D = 4: two (four) stacked K
// arrays per key with array.row_sum = "digital".
TEST_P(AnalogBackwardRows, GaincellLinearMatchesFiniteDifferences) {
  GcCase c = make_gc_case(true, false, 21, GetParam());
  const Shape& s = c.g.s;
  std::vector<float> out(c.w.size()), dqkv(c.qkv.size());
  c.att->forward(out.data(), c.qkv.data(), s.B, s.T, 0);
  c.att->backward(dqkv.data(), c.w.data(), c.qkv.data(), s.B, s.T, 0);
  std::vector<double> x(c.qkv.begin(), c.qkv.end()), wd(c.w.begin(), c.w.end()), ref;
  gc_loss(x, c.sc, wd, c.g, nullptr, &ref);
  for (size_t e = 0; e < out.size(); ++e) ASSERT_NEAR(out[e], ref[e], 1e-4) << "forward at " << e;
  std::vector<int8_t> sig;
  gc_loss(x, c.sc, wd, c.g, &sig);
  int clipped = 0;
  for (int8_t v : sig) clipped += v != 0;
  EXPECT_GT(clipped, int(sig.size() / 10)) << "the case must exercise the clips";
  int n = check_fd(
      x, dqkv, [&](std::vector<int8_t>* sg) { return gc_loss(x, c.sc, wd, c.g, sg); }, 1e-6, "dqkv");
  EXPECT_GT(n, int(x.size() / 2));
  // Scaler gradients (parameters(): q, k, v, out x scale, shift), in [H][8] order of c.sc.
  std::vector<ParamView> params = c.att->parameters();
  ASSERT_EQ(params.size(), 8u);
  std::vector<float> g(c.sc.size());
  for (int k = 0; k < 8; ++k)
    for (int h = 0; h < s.H; ++h) g[h * 8 + k] = params[k].grad[h];
  int m = check_fd(
      c.sc, g, [&](std::vector<int8_t>* sg) { return gc_loss(x, c.sc, wd, c.g, sg); }, 1e-6, "scalers");
  EXPECT_GT(m, 8);
}

INSTANTIATE_TEST_SUITE_P(RowSum, AnalogBackwardRows, ::testing::Values(0, 2, 1));

// Surrogate (paper-spec §2.7): with the cell polynomial set to the linear one, gaincell's backward is
// gaincell-linear's, bit for bit; with the cubic, everything below the ADC is the linear model's, so the
// gradient of a loss through an unclipped, unquantised ADC matches the linear backward evaluated with the
// same ADC mask. Here: the cubic surrogate differs from the linear-model gradient only through the ADC mask
// and O (both from the cubic forward), so with a_fs huge (no ADC clip) dqkv is identical.
TEST(AnalogBackward, SurrogateIsTheLinearModelsGradient) {
  for (bool cubic : {false, true}) {
    GcSetup g;
    g.a_fs = 1e6;  // the ADC never clips: the ADC mask is all ones in both models
    HardwareConfig hw = gc_hw(g), hw_lin = hw;
    if (!cubic) hw.device.coeffs_ua = {0.0, 19.3};
    hw.converters.query.enabled = hw.converters.store.enabled = true;
    hw_lin.converters.query.enabled = hw_lin.converters.store.enabled = true;
    const Shape& s = g.s;
    GainCellAttention nl(std::make_shared<GainCellModel>(hw, 1, s.H, s.D, s.W, false, 5), false);
    GainCellAttention li(std::make_shared<GainCellModel>(hw_lin, 1, s.H, s.D, s.W, true, 5), true);
    const int C = s.H * s.D;
    std::vector<float> qkv = random_vec(size_t(s.B) * s.T * 3 * C, -0.2f, 0.9f, 31);
    std::vector<float> w = random_vec(size_t(s.B) * s.T * C, -1, 1, 32);
    std::vector<float> d1(qkv.size()), d2(qkv.size());
    nl.backward(d1.data(), w.data(), qkv.data(), s.B, s.T, 0);
    li.backward(d2.data(), w.data(), qkv.data(), s.B, s.T, 0);
    double mx = 0;
    for (size_t e = 0; e < d1.size(); ++e) {
      EXPECT_EQ(d1[e], d2[e]) << (cubic ? "cubic" : "linear poly") << " at " << e;
      mx = test::nan_max(mx, std::fabs(d1[e]));
    }
    EXPECT_GT(mx, 0.0);
    std::vector<ParamView> p1 = nl.parameters(), p2 = li.parameters();
    for (int k = 0; k < 6; ++k)  // q, k, v scalers: below the ADC, identical; out differs through O
      for (int h = 0; h < s.H; ++h) EXPECT_EQ(p1[k].grad[h], p2[k].grad[h]) << p1[k].name;
    for (int h = 0; h < s.H; ++h) EXPECT_EQ(p1[7].grad[h], p2[7].grad[h]) << "out.shift = sum of dout";
  }
}

// Straight-through (§2.6): dL/dx through Q(clip(a x + b)) is the gradient of the ideal (quantiser-off)
// model evaluated at the quantised point, times the clip mask. With a = 1, b = 0 for q, k and v, the
// quantised backend at x must equal the ideal backend at x' = Q(x) (x' = x where x is clipped) bit for bit;
// the finite-difference test above validates the ideal backend.
TEST(AnalogBackward, QuantisersAreStraightThrough) {
  GcCase on = make_gc_case(true, true, 41), off = make_gc_case(true, false, 41);
  const Shape& s = on.g.s;
  const int C = s.H * s.D;
  for (GcCase* c : {&on, &off})
    for (int part = 0; part < 3; ++part)
      for (int h = 0; h < s.H; ++h) {
        scaler_scale(c->att->model().scalers(0), part)[h] = 1.0f;
        scaler_shift(c->att->model().scalers(0), part)[h] = 0.0f;
      }
  const HardwareConfig hw;
  const Quantizer qz[2] = {Quantizer(hw.converters.query), Quantizer(hw.converters.store)};
  for (size_t e = 0; e < on.qkv.size(); ++e)
    if ((e % (3 * C)) >= size_t(C))
      on.qkv[e] = std::min(on.qkv[e] + 0.45f, 0.83f);  // k, v around 0.45
    else
      on.qkv[e] = std::min(on.qkv[e], 0.95f);  // below the top code: Q(clip(x)) = 15 step is 1 ulp above 1
  std::vector<float> grid = on.qkv;
  int n_moved = 0;
  for (size_t e = 0; e < grid.size(); ++e) {
    const Quantizer& q = qz[(e % (3 * C)) < size_t(C) ? 0 : 1];
    // Skip clipped inputs and the top code when step * 7 rounds above 0.9 in float (clip edge by one ulp).
    if (grid[e] <= q.lo || grid[e] >= q.hi || q(grid[e]) > q.hi) continue;
    grid[e] = q(grid[e]);
    n_moved += grid[e] != on.qkv[e];
  }
  ASSERT_GT(n_moved, 100);
  std::vector<float> d_on(on.qkv.size()), d_off(on.qkv.size());
  on.att->backward(d_on.data(), on.w.data(), on.qkv.data(), s.B, s.T, 0);
  off.att->backward(d_off.data(), off.w.data(), grid.data(), s.B, s.T, 0);
  int nonzero = 0;
  for (size_t e = 0; e < d_on.size(); ++e) {
    EXPECT_EQ(d_on[e], d_off[e]) << e;
    nonzero += d_on[e] != 0.0f;
  }
  EXPECT_GT(nonzero, int(d_on.size() / 8));
}

TEST(AnalogBackward, ParametersAndBuffersAreNamedPerLayer) {
  HardwareConfig hw;
  GainCellAttention att(std::make_shared<GainCellModel>(hw, 2, 3, 8, 16, true, 1), true);
  std::vector<ParamView> p = att.parameters(), b = att.buffers();
  ASSERT_EQ(p.size(), 16u);
  ASSERT_EQ(b.size(), 16u);
  EXPECT_EQ(p[0].name, "h.0.attn.gaincell.q.scale");
  EXPECT_EQ(p[15].name, "h.1.attn.gaincell.out.shift");
  EXPECT_EQ(b[3].name, "h.0.attn.gaincell.k.target_std");
  for (auto& v : p) {
    EXPECT_EQ(v.shape, std::vector<int64_t>{3});
    EXPECT_FALSE(v.weight_decay);
    EXPECT_NE(v.grad, nullptr);
  }
  EXPECT_EQ(p[2].value[0], 1.0f);   // k.scale default
  EXPECT_EQ(p[3].value[0], 0.45f);  // k.shift default
  for (auto& v : b) EXPECT_EQ(v.grad, nullptr);
}

// §3.2: targets are an EMA (0.1, from 0) of the per-head mean and unbiased std of a x + b before clipping.
TEST(AnalogBackward, TargetStatisticsFollowTheEma) {
  GcCase c = make_gc_case(true, true, 51);
  const Shape& s = c.g.s;
  GainCellTrainState& ts = c.att->train_state();
  std::vector<float> out(c.w.size());
  c.att->forward(out.data(), c.qkv.data(), s.B, s.T, 0);
  EXPECT_EQ(ts.target(0, 0).mean[0], 0.0f) << "recording is off by default";
  ts.set_record_targets(true);
  ts.set_capture(true);
  c.att->forward(out.data(), c.qkv.data(), s.B, s.T, 0);
  c.att->forward(out.data(), c.qkv.data(), s.B, s.T, 0);
  const int C = s.H * s.D;
  for (int kind = 0; kind < kNumScalers; ++kind)
    for (int h = 0; h < s.H; ++h) {
      double a = kind < 3 ? c.sc[h * 8 + 2 * kind] : 1, b = kind < 3 ? c.sc[h * 8 + 2 * kind + 1] : 0;
      double sum = 0, ss = 0, n = double(s.B) * s.T * s.D;
      for (int r = 0; r < s.B * s.T; ++r)
        for (int d = 0; d < s.D; ++d) {
          double x = kind < 3 ? c.qkv[size_t(r) * 3 * C + kind * C + h * s.D + d] : out[size_t(r) * C + h * s.D + d];
          sum += a * x + b;
        }
      double mean = sum / n;
      for (int r = 0; r < s.B * s.T; ++r)
        for (int d = 0; d < s.D; ++d) {
          double x = kind < 3 ? c.qkv[size_t(r) * 3 * C + kind * C + h * s.D + d] : out[size_t(r) * C + h * s.D + d];
          ss += (a * x + b - mean) * (a * x + b - mean);
        }
      double sd = std::sqrt(ss / (n - 1));
      EXPECT_NEAR(ts.current(0, kind).mean[h], mean, 1e-5);
      EXPECT_NEAR(ts.current(0, kind).std[h], sd, 1e-5);
      EXPECT_NEAR(ts.target(0, kind).mean[h], 0.19 * mean, 1e-5);  // 0.1 m + 0.9 (0.1 m)
      EXPECT_NEAR(ts.target(0, kind).std[h], 0.19 * sd, 1e-5);
    }
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
