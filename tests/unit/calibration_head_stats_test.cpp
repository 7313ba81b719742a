// The statistics calibration measures (src/calibration/head_stats.h) on a grouped-query shape (4 query heads
// over 2 KV heads of 8): q and out per query head, k and v once per KV head, each compared with statistics
// computed here straight from the fused rows' columns; and the conversions between the calibration layout
// and a backend's per-query-head or per-KV-head tensors.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "analog/gaincell_attention.h"
#include "calibration/head_stats.h"
#include "core/error.h"
#include "core/rng.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {

constexpr int H = 4, Hkv = 2, D = 8, B = 2, T = 5;

// Mean and unbiased std of a * x + b over rows x columns [c0, c0 + D) of a row-major matrix of width W.
void reference(double& mean, double& sd, const std::vector<float>& m, int64_t rows, int64_t W, int64_t c0, float a,
               float b) {
  double s = 0, ss = 0;
  for (int64_t r = 0; r < rows; ++r)
    for (int d = 0; d < D; ++d) s += double(a * m[size_t(r * W + c0 + d)] + b);
  mean = s / double(rows * D);
  for (int64_t r = 0; r < rows; ++r)
    for (int d = 0; d < D; ++d) {
      const double e = double(a * m[size_t(r * W + c0 + d)] + b) - mean;
      ss += e * e;
    }
  sd = std::sqrt(ss / double(rows * D - 1));
}

TEST(CalibrationHeadStats, TapMeasuresQueryHeadsAndKvHeadsOnTheViews) {
  register_digital_attention();
  AttentionContext ctx;
  ctx.n_layer = 2;
  ctx.n_head = H;
  ctx.n_kv_head = Hkv;
  ctx.head_dim = D;
  ctx.n_positions = T;
  std::unique_ptr<Attention> inner = attention_registry().create("softmax", ctx);
  StatsTap tap(*inner);
  const AttentionShape s = tap.shape();
  ASSERT_EQ(scaler_heads(s, 0), H);
  ASSERT_EQ(scaler_heads(s, 1), Hkv);
  ASSERT_EQ(scaler_heads(s, 2), Hkv);
  ASSERT_EQ(scaler_heads(s, 3), H);

  const int64_t N = int64_t(B) * T, W = s.fused_width();
  std::vector<float> qkv(size_t(N * W)), out(size_t(N * s.width()));
  Rng rng(3);
  for (size_t i = 0; i < qkv.size(); ++i)  // a different offset per column block, so heads differ
    qkv[i] = float(rng.uniform() * 2 - 1 + 0.1 * double((i % size_t(W)) / D));
  // Calibration layout: q/out [H], k/v [Hkv], with distinct scalers per head (one below the clamp).
  std::vector<ScalerCalibration> sc(8);
  for (int k = 0; k < 8; ++k) {
    const int n = scaler_heads(s, k % 4);
    for (int h = 0; h < n; ++h) {
      sc[size_t(k)].scale.push_back(0.5f + 0.25f * float(h + k));
      sc[size_t(k)].shift.push_back(-0.1f * float(h) + 0.05f * float(k));
    }
  }
  sc[5].scale[1] = -3.0f;  // clamped to 1e-20: the statistics of b alone

  tap.capture(&sc);
  tap.forward(out.data(), fused_qkv(qkv.data(), s), B, T, 1);
  tap.capture(nullptr);
  // Layer 0 was not measured; layer 1's entries are 4..7.
  EXPECT_TRUE(sc[0].mean.empty());
  ASSERT_EQ(sc[4].mean.size(), size_t(H));
  ASSERT_EQ(sc[5].mean.size(), size_t(Hkv));
  ASSERT_EQ(sc[6].std.size(), size_t(Hkv));
  ASSERT_EQ(sc[7].std.size(), size_t(H));
  double worst = 0;
  auto check = [&](const ScalerCalibration& c, int h, const std::vector<float>& m, int64_t width, int64_t c0, float a,
                   float b) {
    double mean = 0, sd = 0;
    reference(mean, sd, m, N, width, c0, a, b);
    worst = std::max({worst, std::fabs(c.mean[size_t(h)] - mean) / (1e-3 + std::fabs(mean)),
                      std::fabs(c.std[size_t(h)] - sd) / (1e-3 + sd)});
    EXPECT_TRUE(std::fabs(c.mean[size_t(h)] - mean) <= 1e-5 * (1 + std::fabs(mean))) << c.name << h;
    EXPECT_TRUE(std::fabs(c.std[size_t(h)] - sd) <= 1e-5 * (1 + sd)) << c.name << h;
  };
  for (int h = 0; h < H; ++h) check(sc[4], h, qkv, W, int64_t(h) * D, sc[4].scale[size_t(h)], sc[4].shift[size_t(h)]);
  for (int g = 0; g < Hkv; ++g) {
    const float ak = g == 1 ? 1e-20f : sc[5].scale[size_t(g)];
    check(sc[5], g, qkv, W, int64_t(H) * D + int64_t(g) * D, ak, sc[5].shift[size_t(g)]);
    check(sc[6], g, qkv, W, int64_t(H + Hkv) * D + int64_t(g) * D, sc[6].scale[size_t(g)], sc[6].shift[size_t(g)]);
  }
  for (int h = 0; h < H; ++h) check(sc[7], h, out, s.width(), int64_t(h) * D, 1.0f, 0.0f);
  EXPECT_TRUE(worst <= 1e-5) << worst;
  // The clamped k head: std 0 and mean = its shift.
  EXPECT_TRUE(sc[5].std[1] <= 1e-12f) << sc[5].std[1];
  EXPECT_NEAR(sc[5].mean[1], sc[5].shift[1], 1e-6);
  // The tap forwards the backend's output unchanged.
  std::vector<float> direct(out.size());
  inner->forward(direct.data(), fused_qkv(qkv.data(), s), B, T, 1);
  EXPECT_TRUE(direct == out);
}

// The tap and the gain-cell backend's own capture (GainCellTrainState::observe, a separate implementation)
// agree on one forward of the nonlinear backend over a grouped-query shape, whichever layout the backend uses
// for k and v (per query head: each query head of a group holds its KV head's statistics).
TEST(CalibrationHeadStats, TapAgreesWithTheGainCellBackendsCapture) {
  AttentionContext ctx;
  ctx.n_layer = 1;
  ctx.n_head = H;
  ctx.n_kv_head = Hkv;
  ctx.head_dim = D;
  ctx.n_positions = T;
  GainCellAttention att(ctx, false);
  StatsTap tap(att);
  const AttentionShape s = tap.shape();
  const int64_t N = int64_t(B) * T;
  std::vector<float> qkv(size_t(N * s.fused_width())), out(size_t(N * s.width()));
  Rng rng(5);
  for (float& x : qkv) x = float(rng.uniform() * 1.6 - 0.8);
  // The backend's current scalers (its defaults: k, v shifted to the zero-weight voltage), in calibration
  // layout, so that both measure the same a x + b.
  std::vector<ScalerCalibration> sc(4);
  LayerScalers& ls = att.model().scalers(0);
  const std::vector<float>* a[3] = {&ls.q_scale, &ls.k_scale, &ls.v_scale};
  const std::vector<float>* b[3] = {&ls.q_shift, &ls.k_shift, &ls.v_shift};
  for (int k = 0; k < 3; ++k) {
    sc[size_t(k)].scale = to_calibration_layout(*a[k], s, k, "scale");
    sc[size_t(k)].shift = to_calibration_layout(*b[k], s, k, "shift");
  }
  att.train_state().set_capture(true);
  tap.capture(&sc);
  tap.forward(out.data(), fused_qkv(qkv.data(), s), B, T, 0);
  tap.capture(nullptr);
  att.train_state().set_capture(false);
  double worst = 0;
  for (int k = 0; k < 4; ++k) {
    const ScalerStats& own = att.train_state().current(0, k);
    const size_t n = own.mean.size();
    ASSERT_TRUE(n == size_t(H) || n == size_t(scaler_heads(s, k))) << k;
    for (size_t h = 0; h < n; ++h) {
      const size_t j = n == size_t(scaler_heads(s, k)) ? h : size_t(s.kv_of(int(h)));
      worst = std::max({worst, double(std::fabs(own.mean[h] - sc[size_t(k)].mean[j])),
                        double(std::fabs(own.std[h] - sc[size_t(k)].std[j]))});
    }
  }
  EXPECT_TRUE(worst <= 1e-6) << worst;
  EXPECT_TRUE(sc[3].std[0] > 0.0f) << sc[3].std[0];  // a live output, not an all-zero comparison
}

TEST(CalibrationHeadStats, LayoutConversions) {
  const AttentionShape s{H, Hkv, D};
  // k per query head [H] -> per KV head [Hkv]: the mean over each group (heads 0, 1 -> 0; 2, 3 -> 1).
  std::vector<float> c = to_calibration_layout({1.0f, 3.0f, 5.0f, 9.0f}, s, 1, "k.target_std");
  ASSERT_EQ(c.size(), size_t(Hkv));
  EXPECT_FLOAT_EQ(c[0], 2.0f);
  EXPECT_FLOAT_EQ(c[1], 7.0f);
  EXPECT_EQ(to_calibration_layout({4.0f, 6.0f}, s, 2, "v"), (std::vector<float>{4.0f, 6.0f}));
  EXPECT_EQ(to_calibration_layout({1, 2, 3, 4}, s, 0, "q"), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_THROW(to_calibration_layout({1, 2}, s, 0, "q"), Error);
  EXPECT_THROW(to_calibration_layout({1, 2, 3}, s, 1, "k"), Error);
  // Back: a [H] backend tensor gets every query head its KV head's value; a [Hkv] one a copy.
  std::vector<float> dst(H, 0.0f);
  to_backend_layout(dst.data(), H, {0.5f, 2.0f}, s, 1, "k.scale");
  EXPECT_EQ(dst, (std::vector<float>{0.5f, 0.5f, 2.0f, 2.0f}));
  std::vector<float> kv(Hkv, 0.0f);
  to_backend_layout(kv.data(), Hkv, {0.5f, 2.0f}, s, 2, "v.scale");
  EXPECT_EQ(kv, (std::vector<float>{0.5f, 2.0f}));
  EXPECT_THROW(to_backend_layout(dst.data(), H, {1, 2, 3, 4}, s, 1, "k.scale"), Error);
  EXPECT_THROW(to_backend_layout(kv.data(), Hkv, {1, 2, 3, 4}, s, 3, "out.scale"), Error);
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
