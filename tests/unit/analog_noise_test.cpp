// Non-idealities (issue 3 item 4): off means bit-identical to the paper model; same seed, same bits at 1 and
// 2 threads; different seeds differ; the injected noise has the configured mean and variance (confidence
// bounds); the streaming decoder reproduces the training form with every non-ideality on.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>

#include "analog/gaincell_attention.h"
#include "core/error.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "core/simd.h"
#include "expect_close.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {

constexpr int kH = 2, kD = 64, kC = kH * kD;

HardwareConfig noisy() {
  HardwareConfig hw;
  hw.array.tile_mapping = "ring";
  NoiseConfig& n = hw.noise;
  n.chip_seed = 77;
  n.cell_gain_sigma = 0.05;
  n.cell_offset_sigma_ua = 0.1;
  n.write_noise_sigma_v = 0.01;
  n.read_noise_s_ua_tmax = 0.5;
  n.read_noise_a_ua_tmax = 0.2;
  n.adc_offset_sigma = 0.01;
  n.adc_gain_sigma = 0.02;
  n.c2p_sat_sigma = 0.03;
  hw.leakage.retention_tau_s = 5e-3;
  hw.leakage.token_period_s = 780e-9;
  hw.leakage.refresh_every_tokens = 50;
  return hw;
}

std::vector<float> qkv_of(int B, int T) {
  Rng r(21);
  std::vector<float> x(size_t(B) * T * 3 * kC);
  for (auto& e : x) e = -0.3f + 1.2f * r.uniform();
  return x;
}

std::vector<float> run(const HardwareConfig& hw, uint64_t seed, int threads, int B, int T, int W = 128) {
  set_num_threads(threads);
  auto m = std::make_shared<GainCellModel>(hw, 1, kH, kD, W, false, seed);
  GainCellAttention att(m, false);
  auto qkv = qkv_of(B, T);
  std::vector<float> out(size_t(B) * T * kC);
  att.forward(out.data(), qkv.data(), B, T, 0);
  set_num_threads(0);
  return out;
}

TEST(AnalogNoise, OffIsBitIdenticalToThePaperModel) {
  HardwareConfig off;
  off.noise.chip_seed = 12345;  // seeds alone change nothing
  EXPECT_TRUE(off.noise_off());
  EXPECT_EQ(run(off, 99, 1, 1, 90), run(HardwareConfig{}, 0, 1, 1, 90));
}

TEST(AnalogNoise, SameSeedSameBitsAtOneAndTwoThreads) {
  auto a = run(noisy(), 5, 1, 2, 140), b = run(noisy(), 5, 2, 2, 140);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, run(noisy(), 6, 2, 2, 140));  // another run seed: other c2c noise
  HardwareConfig other = noisy();
  other.noise.chip_seed = 78;
  EXPECT_NE(a, run(other, 5, 2, 2, 140));             // another chip: other mismatch
  EXPECT_NE(a, run(HardwareConfig{}, 5, 2, 2, 140));  // noise does something
}

// The device mismatch is drawn once per (layer, KV head) and kept by the model: a second forward (which reads
// the kept values, from two threads at once here) gives the first one's bits, and a model copy shares them.
TEST(AnalogNoise, KeptMismatchGivesTheBitsOfAFreshDraw) {
  const int B = 2, T = 120;
  auto m = std::make_shared<GainCellModel>(noisy(), 2, kH, kD, 128, false, 5);
  GainCellAttention att(m, false);
  auto qkv = qkv_of(B, T);
  std::vector<float> first(size_t(B) * T * kC), again(first.size()), layer1(first.size());
  set_num_threads(2);
  att.forward(first.data(), qkv.data(), B, T, 0);
  att.forward(layer1.data(), qkv.data(), B, T, 1);
  att.forward(again.data(), qkv.data(), B, T, 0);
  set_num_threads(0);
  EXPECT_EQ(first, again);
  EXPECT_NE(first, layer1);  // layer 1's arrays have their own mismatch
  EXPECT_EQ(first, run(noisy(), 5, 1, B, T));
  const GainCellModel copy = *m;
  EXPECT_EQ(&copy.mismatch(1, 1), &m->mismatch(1, 1));
  EXPECT_THROW(m->mismatch(2, 0), Error);
}

// With cell mismatch the training form computes the first product of four queries in one pass (the gains and
// offsets of the K cells in it), the streaming decoder one query at a time: without quantisers, where one ulp
// anywhere shows, the two give the same bits, and so does the 8-float kernel of CPUs without AVX-512.
TEST(AnalogNoise, BlockedFirstProductWithMismatchHasThePerQueryBits) {
  HardwareConfig hw = noisy();
  hw.array.tile_mapping = "absolute";  // T <= W: every read one column range, so every query block is blocked
  hw.converters.query.enabled = hw.converters.store.enabled = hw.converters.adc.enabled = false;
  auto m = std::make_shared<GainCellModel>(hw, 1, kH, kD, 128, false, 3);
  GainCellAttention att(m, false);
  const int T = 120;
  auto qkv = qkv_of(1, T);
  std::vector<float> full(size_t(T) * kC), full8(full.size()), streamed(full.size());
  att.forward(full.data(), qkv.data(), 1, T, 0);
  set_avx512_kernels(false);
  att.forward(full8.data(), qkv.data(), 1, T, 0);
  set_avx512_kernels(true);
  auto cache = att.make_cache(0, 1, T);
  for (int t = 0; t < T; ++t) cache->step(&streamed[size_t(t) * kC], &qkv[size_t(t) * 3 * kC]);
  for (float x : full) ASSERT_TRUE(std::isfinite(x));  // (identical NaNs would pass the comparisons below)
  EXPECT_EQ(0, std::memcmp(full.data(), streamed.data(), full.size() * sizeof(float)));
  EXPECT_EQ(0, std::memcmp(full.data(), full8.data(), full.size() * sizeof(float)));
  EXPECT_NE(full, run(HardwareConfig{}, 3, 1, 1, T));  // the mismatch is on
}

TEST(AnalogNoise, StreamingEqualsTrainingFormWithEveryNonIdeality) {
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    auto m = std::make_shared<GainCellModel>(noisy(), 1, kH, kD, 100, false, 3);
    GainCellAttention att(m, false);
    const int T = 230;
    auto qkv = qkv_of(1, T);
    std::vector<float> full(size_t(T) * kC), step(kC);
    att.forward(full.data(), qkv.data(), 1, T, 0);
    auto cache = att.make_cache(0, 1, T);
    test::WorstError worst;  // index t * kC + c
    for (int t = 0; t < T; ++t) {
      cache->step(step.data(), &qkv[size_t(t) * 3 * kC]);
      for (int c = 0; c < kC; ++c) worst.add(int64_t(t) * kC + c, step[c], full[size_t(t) * kC + c], 1e-5);
    }
    EXPECT_TRUE(worst.result());
  }
  set_num_threads(0);
}

// Sample mean within 5 sigma / sqrt(n) of 0 and sample variance within 5 standard errors of sigma^2.
void expect_gaussian(const std::vector<double>& x, double sigma) {
  double n = double(x.size()), s = 0, s2 = 0;
  for (double v : x) s += v, s2 += v * v;
  double mean = s / n, var = s2 / n - mean * mean;
  EXPECT_LE(std::abs(mean), 5 * sigma / std::sqrt(n));
  EXPECT_LE(std::abs(var - sigma * sigma), 5 * sigma * sigma * std::sqrt(2.0 / n));
}

TEST(AnalogNoise, DeviceMismatchStatistics) {
  HardwareConfig hw = noisy();
  HeadMismatch m = draw_head_mismatch(hw, 1024, 64, kD, 0, 0);
  std::vector<double> g(m.k_gain.begin(), m.k_gain.end()), o(m.v_off.begin(), m.v_off.end()), s;
  expect_gaussian(g, 0.05);
  expect_gaussian(o, 0.1);
  for (float v : m.s_sat) s.push_back(v / 80.0 - 1.0);
  expect_gaussian(s, 0.03);
  HeadMismatch again = draw_head_mismatch(hw, 1024, 64, kD, 0, 0), other = draw_head_mismatch(hw, 1024, 64, kD, 0, 1);
  EXPECT_EQ(again.k_gain, m.k_gain);
  EXPECT_NE(other.k_gain, m.k_gain);
}

// Read noise on S: one key, no leakage, ideal converters; S - S_ideal over many reads (times).
TEST(AnalogNoise, ReadNoiseStatistics) {
  HardwareConfig hw;
  hw.noise.read_noise_s_ua_tmax = 0.5;
  hw.leakage.decay_per_token = 0;
  hw.converters.query.enabled = hw.converters.store.enabled = false;
  GainCellModel m(hw, 1, 1, kD, 1 << 20, false, 9);
  HeadCells cells;
  cells.init(kD, 1, m.poly(), false);
  std::vector<float> k(kD, 0.1f), v(kD, 0.0f), q(kD, 0.3f), qp(kD), o(kD);
  Rng c2c = m.c2c(0, 0, 0);
  m.write_token(cells, 0, 0, k.data(), v.data(), 0, 0, nullptr, c2c);
  m.query(qp.data(), q.data(), 0, 0);
  ReadConfig quiet = m.read_config(nullptr, nullptr), rc = m.read_config(nullptr, &c2c);
  ReadScratch scr;
  ColRange r{0, 1};
  read_cells(o.data(), qp.data(), 0, &r, 1, cells, quiet, scr);
  double s0 = scr.s[0];
  std::vector<double> e;
  for (int t = 0; t < 20000; ++t) {
    read_cells(o.data(), qp.data(), t, &r, 1, cells, rc, scr);
    e.push_back(scr.s[0] - s0);
  }
  expect_gaussian(e, 0.5);
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell

namespace gaincell {
namespace GAINCELL_UNITY_ID {

// The c2c draws use an inverse-CDF normal (mismatch.h): known quantiles and the moments of many draws.
// The batched draws (vector hashes and quantiles) are c2c_normal's values, the tails (about 5 % of the draws,
// through log and sqrt) and lengths that are not a multiple of the vector width, or shorter than it, included;
// both kernels (AVX-512, whose tails are gathered and computed after the loop, and the portable one).
TEST(AnalogNoise, BatchedDrawsEqualOneByOne) {
  const Rng s = c2c_stream(9, 3, 1, 2);
  int tails = 0;
  for (int pass = 0; pass < 4; ++pass) {
    set_avx512_kernels(pass % 2 == 0);
    for (int64_t n : {1003, 5, 8, 1, 0, pass < 2 ? 64 : 20000}) {
      std::vector<uint64_t> at(n);
      for (int64_t i = 0; i < n; ++i) at[i] = uint64_t(i * 7 + 3) | uint64_t(i % 3) << 48;
      std::vector<double> seq(n + 1, -9.0), given(n + 1, -9.0);
      c2c_normals(seq.data(), s, NoiseTag::kReadA, 41, nullptr, 1000, n);
      c2c_normals(given.data(), s, NoiseTag::kReadS, 41, at.data(), 0, n);
      EXPECT_EQ(seq[n], -9.0);  // nothing written past n
      EXPECT_EQ(given[n], -9.0);
      for (int64_t i = 0; i < n; ++i) {
        const double a = c2c_normal(s, NoiseTag::kReadA, 41, 1000 + uint64_t(i));
        ASSERT_TRUE(std::isfinite(a)) << i;
        ASSERT_EQ(std::memcmp(&seq[i], &a, sizeof a), 0) << i << ": " << seq[i] << " vs " << a;
        const double b = c2c_normal(s, NoiseTag::kReadS, 41, at[i]);
        ASSERT_TRUE(std::isfinite(b)) << i;
        ASSERT_EQ(std::memcmp(&given[i], &b, sizeof b), 0) << i;
        tails += std::fabs(a) > 1.97;  // outside the central 95 %
      }
    }
  }
  set_avx512_kernels(true);
  EXPECT_GT(tails, 1000);
}

TEST(AnalogNoise, NormalQuantileMatchesKnownValuesAndMoments) {
  EXPECT_EQ(normal_quantile(0.5), 0.0);
  EXPECT_NEAR(normal_quantile(0.975), 1.959963984540054, 1e-8);
  EXPECT_NEAR(normal_quantile(0.025), -1.959963984540054, 1e-8);
  EXPECT_NEAR(normal_quantile(0.8413447460685429), 1.0, 1e-8);
  EXPECT_NEAR(normal_quantile(1e-10), -6.361340902404056, 1e-6);
  EXPECT_NEAR(normal_quantile(1.0 - 1e-10), 6.361340902404056, 1e-5);
  Rng s(11);
  double m1 = 0, m2 = 0, m4 = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    double x = c2c_normal(s, NoiseTag::kReadS, uint64_t(i), 3);
    m1 += x, m2 += x * x, m4 += x * x * x * x;
  }
  m1 /= n, m2 /= n, m4 /= n;
  EXPECT_NEAR(m1, 0.0, 5 * std::sqrt(1.0 / n));
  EXPECT_NEAR(m2, 1.0, 5 * std::sqrt(2.0 / n));
  EXPECT_NEAR(m4, 3.0, 5 * std::sqrt(96.0 / n));
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
