// The shared comparison helpers (tests/expect_close.h) fail on a NaN or an infinity wherever it is, where the
// std::max / `err > bound` pattern they replace passed.
#include "expect_close.h"

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace gaincell {
namespace GAINCELL_UNITY_ID {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN(), kInf = std::numeric_limits<float>::infinity();

TEST(ExpectClose, PassesWithinBoundsAndReportsTheWorstElement) {
  const std::vector<float> want = {1.0f, 2.0f, 3.0f, 4.0f}, got = {1.0f, 2.05f, 3.0f, 3.99f};
  EXPECT_TRUE(test::all_within(got, want, 0.1));
  ::testing::AssertionResult r = test::all_within(got, want, 0.02);
  ASSERT_FALSE(r);
  EXPECT_NE(std::string(r.message()).find("1 of 4 out of bounds; worst at index 1"), std::string::npos) << r.message();
  EXPECT_TRUE(test::all_close(got, want, 0.0, 0.03));   // relative: 0.05 <= 0.06 at index 1
  EXPECT_FALSE(test::all_close(got, want, 0.0, 0.02));  // 0.05 > 0.04
  test::Worst w = test::worst_abs_diff(got, want);
  EXPECT_EQ(w.index, 1);
  EXPECT_NEAR(w.err, 0.05, 1e-6);
  EXPECT_EQ(test::max_abs(want), 4.0);
}

TEST(ExpectClose, ANaNAnywhereFails) {
  const std::vector<float> want = {1.0f, 2.0f, 3.0f, 4.0f};
  for (size_t at = 0; at < want.size(); ++at)
    for (bool in_got : {true, false}) {
      std::vector<float> got = want, ref = want;
      (in_got ? got : ref)[at] = kNaN;
      // The pattern this replaces: max(err, |got - want|) stays 0 with a NaN, so `err <= bound` passed.
      double old = 0;
      for (size_t i = 0; i < got.size(); ++i) old = std::max(old, double(std::fabs(got[i] - ref[i])));
      EXPECT_EQ(old, 0.0);
      ::testing::AssertionResult r = test::all_within(got, ref, 1e30);
      EXPECT_FALSE(r) << "NaN at " << at;
      EXPECT_NE(std::string(r.message()).find("worst at index " + std::to_string(at)), std::string::npos)
          << r.message();
      EXPECT_FALSE(test::all_close(got, ref, 1e30, 1e30));
      test::Worst w = test::worst_abs_diff(got, ref);
      EXPECT_TRUE(std::isnan(w.err));
      EXPECT_EQ(w.index, int64_t(at));
      EXPECT_FALSE(w.err <= 1e30);                         // so EXPECT_LE / EXPECT_LT on it fail
      EXPECT_EQ(std::isnan(test::max_abs(ref)), !in_got);  // the NaN is in ref when not in got
    }
  // A NaN bound fails too, and a NaN after a larger finite error is still the one reported.
  EXPECT_FALSE(test::all_close(want, want, std::nan(""), 0.0));
  test::WorstError e;
  e.add(0, 5.0, 1.0, 1.0);
  e.add(1, kNaN, 1.0, 1.0);
  e.add(2, 9.0, 1.0, 1.0);
  EXPECT_EQ(e.index(), 1);
  EXPECT_EQ(e.failed(), 3);
  EXPECT_TRUE(std::isnan(test::nan_max(1.0, std::nan(""))));
  EXPECT_TRUE(std::isnan(test::nan_max(std::nan(""), 1.0)));
}

TEST(ExpectClose, AnInfinityFails) {
  const std::vector<float> want = {1.0f, 2.0f}, got = {1.0f, kInf};
  EXPECT_FALSE(test::all_within(got, want, 1e30));
  EXPECT_FALSE(test::all_within(std::vector<float>{kInf}, std::vector<float>{kInf}, 1.0));
  EXPECT_TRUE(std::isinf(test::worst_abs_diff(got, want).err));
  EXPECT_FALSE(test::all_within(std::vector<float>{1.0f}, want, 1.0));  // sizes differ
}

// As it is used: EXPECT_TRUE on the predicate records a failure for a NaN.
void expect_all_within_with_a_nan() {
  const std::vector<float> got = {0.0f, kNaN}, want = {0.0f, 0.0f};
  EXPECT_TRUE(test::all_within(got, want, 1.0));
}
void expect_worst_below_with_a_nan() {
  const std::vector<float> got = {0.0f, kNaN}, want = {0.0f, 0.0f};
  EXPECT_LT(test::worst_abs_diff(got, want).err, 1.0);
}

TEST(ExpectClose, ExpectTrueOnTheHelperFailsOnNaN) {
  EXPECT_NONFATAL_FAILURE(expect_all_within_with_a_nan(), "worst at index 1: got nan");
  EXPECT_NONFATAL_FAILURE(expect_worst_below_with_a_nan(), "worst_abs_diff");
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
