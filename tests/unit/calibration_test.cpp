// Calibration (paper-spec §3.3, style R20e): the alpha schedule, the update rules, the criteria count,
// convergence on a synthetic mismatched affine problem and idempotence when already matched.
#include "calibration/calibration.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/rng.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {

TEST(Calibration, AlphaScheduleIsLinspaceThenEnd) {
  CalibrationConfig c;
  EXPECT_DOUBLE_EQ(calibration_alpha(c, 0), 1.0);
  EXPECT_NEAR(calibration_alpha(c, 1), 1.0 - 0.9 / 49, 1e-15);
  EXPECT_NEAR(calibration_alpha(c, 25), 1.0 - 0.9 * 25 / 49, 1e-15);
  EXPECT_DOUBLE_EQ(calibration_alpha(c, 49), 0.1);
  EXPECT_DOUBLE_EQ(calibration_alpha(c, 50), 0.1);
  EXPECT_DOUBLE_EQ(calibration_alpha(c, 99), 0.1);
}

ScalerCalibration one_head(float a, float b, float mean, float sd, float t_mean, float t_sd) {
  return {"s", {a}, {b}, {mean}, {sd}, {t_mean}, {t_sd}};
}

TEST(Calibration, UpdateRulesAsWritten) {
  CalibrationConfig c;
  std::vector<ScalerCalibration> s = {one_head(2.0f, 0.5f, 1.0f, 4.0f, 1.5f, 1.0f)};
  CalibrationStep st = calibration_step(s, 10, c);
  double alpha = 1.0 - 0.9 * 10 / 49;
  EXPECT_NEAR(s[0].scale[0], alpha * (2.0 * 1.0 / 4.0) + (1 - alpha) * 2.0, 1e-6);
  EXPECT_NEAR(s[0].shift[0], alpha * (0.5 + 1.5 - 1.0) + (1 - alpha) * 0.5, 1e-6);
  EXPECT_EQ(st.criteria, 2);
  EXPECT_EQ(st.criteria_met, 0);
  EXPECT_FALSE(st.done);
  EXPECT_NEAR(st.max_std_error, 3.0, 1e-6);
  EXPECT_NEAR(st.max_mean_error, 0.5, 1e-6);
}

TEST(Calibration, ThresholdAndZeroStd) {
  CalibrationConfig c;
  // Within 1e-4: met, untouched. std = 0 with a mismatch: a is not updated and the criterion stays unmet.
  std::vector<ScalerCalibration> s = {one_head(1.5f, 0.25f, 0.30005f, 0.0f, 0.3f, 0.2f)};
  CalibrationStep st = calibration_step(s, 0, c);
  EXPECT_EQ(s[0].scale[0], 1.5f);
  EXPECT_EQ(s[0].shift[0], 0.25f);
  EXPECT_EQ(st.criteria_met, 1);
  EXPECT_FALSE(st.done);
}

// GPT-2 shapes: 12 layers x 4 scalers x 12 heads x 2 criteria = 1152.
TEST(Calibration, CriteriaCountForGpt2) {
  std::vector<ScalerCalibration> s(12 * 4);
  for (auto& x : s) {
    x.scale.assign(12, 1.0f);
    x.shift.assign(12, 0.0f);
    x.mean = x.target_mean = x.shift;
    x.std = x.target_std = x.scale;
  }
  CalibrationStep st = calibration_step(s, 0, CalibrationConfig{});
  EXPECT_EQ(st.criteria, 1152);
  EXPECT_EQ(st.criteria_met, 1152);
  EXPECT_TRUE(st.done);
}

// Synthetic problem: the scaler output a x + b of an input with per-head mean m and std s has mean a m + b and
// std a s (a > 0). Targets come from other (a*, b*); calibration must find statistics within the threshold.
struct Affine {
  std::vector<double> m, sd;
};

double measure(std::vector<ScalerCalibration>& s, const std::vector<Affine>& in) {
  for (size_t k = 0; k < s.size(); ++k)
    for (size_t h = 0; h < s[k].scale.size(); ++h) {
      s[k].mean[h] = float(s[k].scale[h] * in[k].m[h] + s[k].shift[h]);
      s[k].std[h] = float(s[k].scale[h] * in[k].sd[h]);
    }
  return 0.0;
}

std::vector<ScalerCalibration> synthetic(std::vector<Affine>& in, int n_scalers, int H, bool matched) {
  Rng r(7);
  std::vector<ScalerCalibration> s(n_scalers);
  in.resize(n_scalers);
  for (int k = 0; k < n_scalers; ++k) {
    for (int h = 0; h < H; ++h) {
      in[k].m.push_back(-1 + 2 * r.uniform());
      in[k].sd.push_back(0.1 + r.uniform());
      double a_star = 0.2 + 2 * r.uniform(), b_star = -0.5 + r.uniform();
      s[k].target_mean.push_back(float(a_star * in[k].m[h] + b_star));
      s[k].target_std.push_back(float(a_star * in[k].sd[h]));
      s[k].scale.push_back(matched ? float(a_star) : 1.0f);
      s[k].shift.push_back(matched ? float(b_star) : 0.0f);
    }
    s[k].mean.assign(H, 0.0f);
    s[k].std.assign(H, 0.0f);
  }
  return s;
}

TEST(Calibration, ConvergesOnAMismatchedAffineProblem) {
  std::vector<Affine> in;
  std::vector<ScalerCalibration> s = synthetic(in, 8, 3, false);
  CalibrationResult r = run_calibration(
      s, [&](auto& x, int) { return measure(x, in); }, CalibrationConfig{});
  ASSERT_TRUE(r.converged);
  EXPECT_GT(r.iterations, 1);
  EXPECT_LT(r.iterations, 100);
  EXPECT_EQ(int(r.trace.size()), r.iterations);
  EXPECT_GT(r.trace.front().max_std_error, 0.05);  // it started mismatched and ended within 1e-4
  EXPECT_LE(r.trace.back().max_std_error, 1e-4);
  EXPECT_LE(r.trace.back().max_mean_error, 1e-4);
  for (size_t i = 1; i < r.trace.size(); ++i) EXPECT_EQ(r.trace[i].iteration, int(i));
}

TEST(Calibration, IdempotentWhenAlreadyMatched) {
  std::vector<Affine> in;
  std::vector<ScalerCalibration> s = synthetic(in, 4, 2, true);
  std::vector<ScalerCalibration> before = s;
  CalibrationResult r = run_calibration(
      s, [&](auto& x, int) { return measure(x, in); }, CalibrationConfig{});
  EXPECT_TRUE(r.converged);
  EXPECT_EQ(r.iterations, 1);
  for (size_t k = 0; k < s.size(); ++k) {
    EXPECT_EQ(s[k].scale, before[k].scale);
    EXPECT_EQ(s[k].shift, before[k].shift);
  }
}

TEST(Calibration, StopsAfterMaxIterationsNotConverged) {
  std::vector<Affine> in;
  std::vector<ScalerCalibration> s = synthetic(in, 2, 2, false);
  CalibrationConfig c;
  c.max_iterations = 3;
  CalibrationResult r = run_calibration(
      s, [&](auto& x, int) { return measure(x, in); }, c);
  EXPECT_FALSE(r.converged);
  EXPECT_EQ(r.iterations, 3);
}

TEST(Calibration, RejectsBadInput) {
  std::vector<ScalerCalibration> s = {one_head(1, 0, 0, 1, 0, 1)};
  s[0].target_std.push_back(2.0f);
  EXPECT_THROW(calibration_step(s, 0, CalibrationConfig{}), Error);
  CalibrationConfig c;
  c.max_iterations = 0;
  EXPECT_THROW(run_calibration(
                   s, [](auto&, int) { return 0.0; }, c),
               Error);
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
