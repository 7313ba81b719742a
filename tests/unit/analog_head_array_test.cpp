// GainCellHeadArray (analog/head_array.h, the Python GainCellArray): a write followed by a read is one step of
// the streaming decoder (make_gaincell_cache) for one head, bit for bit, also with mismatch, read noise and a
// sliding window; ages and the error for a read of empty arrays.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

#include "analog/gaincell_attention.h"
#include "analog/head_array.h"
#include "core/error.h"
#include "core/rng.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {

void expect_steps_equal_decoder(const HardwareConfig& hw, bool linear, int D, int W, int T) {
  auto model = std::make_shared<GainCellModel>(hw, 1, 1, D, W, linear, /*seed=*/5);
  auto log = std::make_shared<ActivityLog>(1);
  auto cache = make_gaincell_cache(model, log, 0, 1, T);
  GainCellHeadArray arr(hw, D, linear, W, 5);
  Rng r(77);
  std::vector<float> qkv(3 * D), want(D), got(D);
  int differing = 0;
  for (int t = 0; t < T; ++t) {
    for (int e = 0; e < 3 * D; ++e) qkv[e] = e < D ? -0.2f + 1.4f * r.uniform() : -0.5f + 1.0f * r.uniform();
    cache->step(want.data(), qkv.data());
    arr.write(qkv.data() + D, qkv.data() + 2 * D);
    arr.read(got.data(), qkv.data());
    differing += std::memcmp(want.data(), got.data(), sizeof(float) * D) != 0;
  }
  EXPECT_EQ(differing, 0) << "of " << T << " steps";
  EXPECT_EQ(arr.position(), T);
  std::vector<int64_t> ages = arr.ages();
  ASSERT_EQ(int64_t(ages.size()), W);
  EXPECT_EQ(ages[(T - 1) % W], 0);
  EXPECT_EQ(ages[T % W], T >= W ? W - 1 : -1);
  EXPECT_EQ(arr.activity().cell_writes, int64_t{2} * D * T);
}

TEST(HeadArray, StepsEqualTheStreamingDecoder) {
  HardwareConfig hw;
  hw.leakage.decay_per_token = 2e-3;
  expect_steps_equal_decoder(hw, false, 64, 96, 150);  // the window slides, three arrays of 32 + ...
  expect_steps_equal_decoder(hw, true, 20, 40, 30);
  expect_steps_equal_decoder(hw, false, 96, 40, 50);  // two stacked arrays on a shared line
  hw.array.row_sum = "digital";
  expect_steps_equal_decoder(hw, false, 96, 40, 50);  // two conversions per key, summed
}

TEST(HeadArray, StepsEqualTheDecoderWithNoise) {
  HardwareConfig hw;
  hw.noise.cell_gain_sigma = 0.05;
  hw.noise.adc_offset_sigma = 0.01;
  hw.noise.write_noise_sigma_v = 0.01;
  hw.noise.read_noise_s_ua_tmax = 0.5;
  expect_steps_equal_decoder(hw, false, 32, 70, 90);
}

TEST(HeadArray, ReadBeforeWriteAndBadSizesThrow) {
  GainCellHeadArray arr(HardwareConfig{}, 16, false);
  std::vector<float> q(16, 0.5f), out(16);
  EXPECT_THROW(arr.read(out.data(), q.data()), Error);
  EXPECT_EQ(arr.window(), 1024);
  EXPECT_EQ(arr.ages()[0], -1);
  EXPECT_THROW(GainCellHeadArray(HardwareConfig{}, kMaxRows + 1, false), Error);  // over the stacked arrays' bound
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
