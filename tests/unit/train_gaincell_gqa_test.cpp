// The gain-cell attention backward on grouped-query heads, as TrainModel consumes it (fused rows [q (H D) |
// k (H_kv D) | v (H_kv D)]): a KV head's dK and dV are the sums over its query heads of what the same model with
// each KV head repeated (H_kv = H) gives, dq is the repeated model's, for both backends; and the nonlinear
// backend's surrogate gradient equals the linear backend's where paper-spec §2.7 says they coincide (below the
// ADC, with an ADC that does not clip): every input gradient and every scaler gradient but the output scale's,
// which reads the cubic forward.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <vector>

#include "analog/gaincell_attention.h"
#include "analog/gaincell_train.h"
#include "analog/hw_config.h"
#include "core/rng.h"
#include "expect_close.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {

constexpr int H = 4, Hkv = 2, D = 8, B = 2, T = 30, W = 16;
constexpr int kGqa = (H + 2 * Hkv) * D, kRep = 3 * H * D;  // fused row widths

// q in [-0.2, 1.2], k, v in [-0.6, 0.6] (the scalers' input range, so that every clip is met somewhere).
std::vector<float> random_gqa_rows(uint64_t seed) {
  Rng r(seed);
  std::vector<float> x(size_t(B) * T * kGqa);
  for (size_t e = 0; e < x.size(); ++e)
    x[e] = int(e % kGqa) < H * D ? -0.2f + 1.4f * r.uniform() : -0.6f + 1.2f * r.uniform();
  return x;
}

// Column c of a repeated row reads column src_col(c) of the grouped row: q as is, k/v of head h from KV head h / 2.
int src_col(int c) {
  const int part = c / (H * D), h = (c % (H * D)) / D, d = c % D;
  return part == 0 ? c : H * D + (part - 1) * Hkv * D + (h / (H / Hkv)) * D + d;
}

// Per query head q/out scalers, per KV head k/v scalers, all different; the repeated model's k/v scalers of head
// h are its KV head's.
void set_scalers(GainCellModel& m) {
  LayerScalers& sc = m.scalers(0);
  for (int h = 0; h < m.n_head(); ++h) {
    sc.q_scale[h] = 0.85f + 0.1f * h;
    sc.q_shift[h] = 0.04f - 0.02f * h;
    sc.out_scale[h] = 0.7f + 0.2f * h;
    sc.out_shift[h] = 0.01f * h;
  }
  for (int i = 0; i < m.n_kv_head(); ++i) {
    const int g = m.n_kv_head() == Hkv ? i : i / (H / Hkv);
    sc.k_scale[i] = 1.1f - 0.25f * g;
    sc.k_shift[i] = 0.47f - 0.03f * g;
    sc.v_scale[i] = 0.95f + 0.2f * g;
    sc.v_shift[i] = 0.43f + 0.03f * g;
  }
}

std::vector<float> random_dout(uint64_t seed) {
  Rng r(seed);
  std::vector<float> d(size_t(B) * T * H * D);
  for (float& v : d) v = float(r.uniform()) - 0.5f;
  return d;
}

class GainCellGqaBackward : public ::testing::TestWithParam<bool> {};  // linear?

TEST_P(GainCellGqaBackward, KvHeadGradientIsTheSumOverItsGroup) {
  const bool linear = GetParam();
  const auto x = random_gqa_rows(12);
  std::vector<float> xr(size_t(B) * T * kRep);
  for (int r = 0; r < B * T; ++r)
    for (int c = 0; c < kRep; ++c) xr[size_t(r) * kRep + c] = x[size_t(r) * kGqa + src_col(c)];
  HardwareConfig hw;  // the paper's arrays: converters on, leakage on
  auto mg = std::make_shared<GainCellModel>(hw, 1, H, D, W, linear, 0, Hkv);
  auto mr = std::make_shared<GainCellModel>(hw, 1, H, D, W, linear, 0, H);
  set_scalers(*mg);
  set_scalers(*mr);
  GainCellAttention ag(mg, linear), ar(mr, linear);
  const auto dout = random_dout(4);
  // NaN-filled gradient buffers: backward writes every element of its views.
  std::vector<float> dg(x.size(), std::nanf("")), dr(xr.size(), std::nanf(""));
  ag.backward(dg.data(), dout.data(), x.data(), B, T, 0);
  ar.backward(dr.data(), dout.data(), xr.data(), B, T, 0);
  // want[c] of a grouped row: the repeated model's gradient summed over the columns that read c.
  double worst = 0, scale = 0;
  for (int r = 0; r < B * T; ++r) {
    std::vector<double> want(kGqa, 0.0);
    for (int c = 0; c < kRep; ++c) want[src_col(c)] += dr[size_t(r) * kRep + c];
    for (int c = 0; c < kGqa; ++c) {
      worst = test::nan_max(worst, std::fabs(dg[size_t(r) * kGqa + c] - want[c]));
      scale = test::nan_max(scale, std::fabs(want[c]));
    }
  }
  EXPECT_TRUE(scale > 1e-3) << "gradients too small for the check to mean anything: " << scale;
  EXPECT_TRUE(worst <= 1e-6 * scale) << worst << " of " << scale;
  // The scaler gradients have the shapes of the scalers: [H] for q and out, [H_kv] for k and v.
  const ScalerGrads& g = ag.train_state().grads(0);
  for (int kind = 0; kind < kNumScalers; ++kind) {
    const size_t n = kind == 1 || kind == 2 ? Hkv : H;
    EXPECT_EQ(g.scale[kind].size(), n) << scaler_name(kind);
    EXPECT_EQ(g.shift[kind].size(), n) << scaler_name(kind);
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, GainCellGqaBackward, ::testing::Values(true, false),
                         [](const auto& info) { return std::string(info.param ? "Linear" : "Nonlinear"); });

// §2.7: the nonlinear model's backward is the linear model's below the ADC (gain 19.3, charge-to-pulse mask from
// the linear S, dV from the linear P); above it, the ADC mask and the output scale's gradient read the cubic
// forward. With the ADC's quantiser off (clip only) and a full scale that no A reaches, the ADC masks of both are
// all ones, so everything but the output scale's gradient coincides.
TEST(GainCellGqaSurrogate, EqualsTheLinearBackwardBelowTheAdc) {
  HardwareConfig hw;
  hw.converters.adc.enabled = false;           // 32 levels would round A / 1e4 to 0
  hw.converters.adc_full_scale_ua_tmax = 1e4;  // |A| stays below ~5 % of it (T 30, D 8: |A| <= 30 x 8 x 20 uA)
  auto ml = std::make_shared<GainCellModel>(hw, 1, H, D, W, true, 0, Hkv);
  auto mn = std::make_shared<GainCellModel>(hw, 1, H, D, W, false, 0, Hkv);
  set_scalers(*ml);
  set_scalers(*mn);
  GainCellAttention al(ml, true), an(mn, false);
  const auto x = random_gqa_rows(21);
  const auto dout = random_dout(22);
  std::vector<float> dl(x.size()), dn(x.size());
  al.backward(dl.data(), dout.data(), x.data(), B, T, 0);
  an.backward(dn.data(), dout.data(), x.data(), B, T, 0);
  const test::Worst w = test::worst_abs_diff(dn, dl);
  double scale = 0;
  for (float v : dl) scale = test::nan_max(scale, std::fabs(v));
  EXPECT_TRUE(scale > 1e-6) << scale;
  EXPECT_TRUE(w.err <= 1e-5 * scale) << w.err << " of " << scale;
  const ScalerGrads &gl = al.train_state().grads(0), &gn = an.train_state().grads(0);
  for (int kind = 0; kind < kNumScalers; ++kind)
    for (size_t i = 0; i < gl.scale[kind].size(); ++i) {
      const double ref = std::fabs(gl.scale[kind][i]) + std::fabs(gl.shift[kind][i]);
      EXPECT_TRUE(std::fabs(gn.shift[kind][i] - gl.shift[kind][i]) <= 1e-5 * ref)
          << scaler_name(kind) << " shift " << i << ": " << gn.shift[kind][i] << " vs " << gl.shift[kind][i];
      if (kind == int(ScalerKind::kOut))  // d out / d a_out = O, the cubic forward's value: not the linear one
        EXPECT_TRUE(std::fabs(gl.scale[kind][i]) > 1e-6 &&
                    std::fabs(gn.scale[kind][i] - gl.scale[kind][i]) > 1e-3 * std::fabs(gl.scale[kind][i]))
            << "out scale " << i << ": " << gn.scale[kind][i] << " vs " << gl.scale[kind][i];
      else
        EXPECT_TRUE(std::fabs(gn.scale[kind][i] - gl.scale[kind][i]) <= 1e-5 * ref)
            << scaler_name(kind) << " scale " << i << ": " << gn.scale[kind][i] << " vs " << gl.scale[kind][i];
    }
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
