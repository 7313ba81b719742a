// The default k / v shift follows the configured device offset (issue 17 item 1): with
// device.v_offset_v = 0.4 and no scaler tensors, a k of 0.03 is stored where the spec's model stores it
// (paper-spec §2.3-2.4 with V_off = 0.4: k' = 1 * k + V_off, clipped and quantised on [0, 0.9], y = k' - V_off).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "analog/gaincell_backward.h"
#include "analog/gaincell_model.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {

// The spec's chain for one element, in double, written out independently of cell_model.cpp.
double spec_stored_y(double x, double v_offset) {
  double u = std::min(std::max(x + v_offset, 0.0), 0.9);  // a = 1, b = V_off; clip to [0, 0.9]
  double step = 0.9 / 7.0;                                // 8 levels
  return step * std::nearbyint(u / step) - v_offset;      // quantise, then remove the offset
}

// Stored y of k and v = x for every d of one head of a model built from `hw` (no scaler tensors).
void stored(const HardwareConfig& hw, float x, float* yk, float* yv) {
  constexpr int D = 4;
  GainCellModel m(hw, 1, 1, D, 8, false, 7);
  HeadCells cells;
  cells.init(D, 8, m.poly(), false);
  std::vector<float> k(D, x), v(D, x);
  m.write_token(cells, 0, 0, k.data(), v.data(), 0, 0, nullptr, m.c2c(0, 0, 0));
  *yk = cells.ky[0];
  *yv = cells.vy[0];
  for (int d = 1; d < D; ++d) {
    EXPECT_EQ(cells.ky[size_t(d) * cells.k_ld], *yk);
    EXPECT_EQ(cells.vy[size_t(d)], *yv);
  }
}

TEST(AnalogOffset, DefaultShiftFollowsTheDeviceOffset) {
  HardwareConfig hw;
  hw.device.v_offset_v = 0.4;
  float yk = NAN, yv = NAN;
  stored(hw, 0.03f, &yk, &yv);
  // Spec: 0.43 V -> level 3 (0.3857 V) -> y = -0.0143 (main stored level 4, y = +0.114).
  const double want = spec_stored_y(0.03, 0.4);
  EXPECT_NEAR(want, 3 * 0.9 / 7 - 0.4, 1e-12);
  EXPECT_TRUE(std::fabs(yk - want) <= 1e-6) << yk << " vs " << want;
  EXPECT_TRUE(std::fabs(yv - want) <= 1e-6) << yv << " vs " << want;
  // A zero k or v is stored at the zero weight (y within half a step of 0), as in the paper model.
  stored(hw, 0.0f, &yk, &yv);
  EXPECT_TRUE(std::fabs(yk - spec_stored_y(0.0, 0.4)) <= 1e-6) << yk;

  GainCellModel m(hw, 2, 3, 4, 8, true, 1);
  for (int l = 0; l < 2; ++l) {
    EXPECT_EQ(m.scalers(l).k_shift, std::vector<float>(3, 0.4f));
    EXPECT_EQ(m.scalers(l).v_shift, std::vector<float>(3, 0.4f));
    EXPECT_EQ(m.scalers(l).q_shift, std::vector<float>(3, 0.0f));
  }
  HeadBackwardParams p = make_head_backward_params(hw, 8, false);
  EXPECT_EQ(p.b[1], 0.4f);
  EXPECT_EQ(p.b[2], 0.4f);
}

TEST(AnalogOffset, PaperOffsetKeepsThePaperLevels) {
  float yk = NAN, yv = NAN;
  stored(HardwareConfig{}, 0.03f, &yk, &yv);  // 0.48 V -> level 4 (0.5143 V) -> y = +0.0643
  EXPECT_TRUE(std::fabs(yk - (4 * 0.9 / 7 - 0.45)) <= 1e-6) << yk;
  EXPECT_TRUE(std::fabs(yk - spec_stored_y(0.03, 0.45)) <= 1e-6) << yk;
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
