// The accuracy + cost sweep's pieces (experiments/hw_sweep.h): keys, grid order, shards, the per-point hardware,
// and the merge (mean and spread over seeds, the Pareto front) from hand-written point files.
#include "experiments/hw_sweep.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"
#include "core/file.h"
#include "test_paths.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {

TEST(HwSweep, ParsesAliasesAndTomlPathsAndRejectsTheRest) {
  HwSweepAxis a = parse_hw_sweep_axis("noise.cell_gain_sigma=0,0.05,1e-1");
  EXPECT_EQ(a.key, "noise.cell_gain_sigma");
  EXPECT_EQ(a.values, (std::vector<double>{0, 0.05, 0.1}));
  EXPECT_EQ(parse_hw_sweep_axis("retention_s=1e-6").values, std::vector<double>{1e-6});
  for (const char* bad : {"nosuch=1", "adc_bits=0", "adc_bits=4.5", "adc_bits=17", "window=", "seed=1,,2",
                          "noise.cell_gain_sigma=nan", "retention_s=0", "device.characteristic=1", "adc_bits"})
    EXPECT_THROW(parse_hw_sweep_axis(bad), Error) << bad;
}

TEST(HwSweep, GridOrderAndShardsPartitionThePoints) {
  const std::vector<HwSweepAxis> axes = {{"adc_bits", {4, 5, 6}}, {"seed", {1, 2}}};
  ASSERT_EQ(grid_size(axes), 6);
  EXPECT_EQ(grid_point(axes, 0).values, (std::vector<double>{4, 1}));
  EXPECT_EQ(grid_point(axes, 1).values, (std::vector<double>{4, 2}));  // the last key varies fastest
  EXPECT_EQ(grid_point(axes, 5).values, (std::vector<double>{6, 2}));
  std::multiset<int64_t> all;
  for (int s = 0; s < 4; ++s)
    for (int64_t i : shard_indices(6, s, 4)) all.insert(i);
  EXPECT_EQ(all, (std::multiset<int64_t>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(shard_indices(6, 1, 4), (std::vector<int64_t>{1, 5}));
  int i = -1, n = -1;
  parse_shard("3/8", i, n);
  EXPECT_EQ(i, 3);
  EXPECT_EQ(n, 8);
  for (const char* bad : {"8/8", "-1/2", "1/0", "1", "a/b", "1/2x"}) EXPECT_THROW(parse_shard(bad, i, n), Error) << bad;
  EXPECT_EQ(point_stem(7), "point_00007");
}

TEST(HwSweep, PointHardwareAppliesEveryKey) {
  const std::vector<HwSweepAxis> axes = {
      {"adc_bits", {5}},    {"read_noise", {0.25}}, {"retention_s", {1e-3}}, {"seed", {7}},
      {"array.rows", {32}}, {"window", {256}},      {"read_snr_db", {20}},   {"noise.adc_gain_sigma", {0.01}}};
  uint64_t seed = 0;
  const ModelShape shape{4, 2, 64, 2};
  HardwareConfig hw = point_hardware(HardwareConfig{}, axes, grid_point(axes, 0), shape, seed);
  EXPECT_EQ(seed, 7u);
  EXPECT_EQ(hw.noise.chip_seed, 7u);
  EXPECT_EQ(hw.converters.adc.levels, 32);
  EXPECT_EQ(hw.noise.read_noise_s_ua_tmax, 0.25);
  EXPECT_EQ(hw.noise.read_noise_a_ua_tmax, 0.25);
  EXPECT_EQ(hw.noise.read_snr_s_db, 20.0);
  EXPECT_EQ(hw.noise.read_snr_a_db, 20.0);
  EXPECT_EQ(hw.noise.adc_gain_sigma, 0.01);
  EXPECT_EQ(hw.array.rows, 32);
  EXPECT_EQ(hw.array.window_tokens, 256);
  EXPECT_EQ(hw.leakage.retention_tau_s, 1e-3);
  EXPECT_TRUE(hw.leakage.token_period_s > 0 && hw.leakage.token_period_s < 1e-3) << hw.leakage.token_period_s;
  EXPECT_TRUE(std::fabs(hw.lambda_per_token() - hw.leakage.token_period_s / 1e-3) <= 1e-15);
  EXPECT_THROW(point_hardware(HardwareConfig{}, {{"array.rows", {2.5}}}, {0, {2.5}}, shape, seed), Error);
}

TEST(HwSweep, MergeReportsMeanSpreadAndTheParetoFront) {
  const std::string dir = test::scratch_dir("hw_sweep_merge_" + std::to_string(::getpid()));
  make_dirs(dir + "/points");
  // adc_bits x seed; perplexity 6, 7, 4 by bits (+-1 over the seeds), energy 2^bits; bits 6 seed 2 failed. Bits 5
  // costs more than bits 4 and loses more: it is off the Pareto front.
  int64_t index = 0;
  for (int bits : {4, 5, 6})
    for (int seed : {1, 2}) {
      nlohmann::ordered_json j;
      j["point"] = index;
      j["settings"] = {{"adc_bits", double(bits)}, {"seed", double(seed)}};
      j["seed"] = seed;
      j["task"] = "perplexity";
      if (bits == 6 && seed == 2) {
        j["status"] = "error";
        j["error"] = "expected \"x\", got y";
      } else {
        j["status"] = "ok";
        j["metrics"] = {{"perplexity", (bits == 4   ? 6.0
                                        : bits == 5 ? 7.0
                                                    : 4.0) +
                                           (seed == 1 ? -1 : 1)},
                        {"energy_per_token_nj", std::ldexp(1, bits)}};
      }
      write_file_atomic(dir + "/points/" + point_stem(index++) + ".json", j.dump());
    }
  const std::vector<std::string> written = merge_hw_sweep({dir}, dir);
  EXPECT_EQ(written.size(), 5u);
  EXPECT_EQ(read_file(dir + "/points.csv"),
            "point,adc_bits,seed,status,perplexity,energy_per_token_nj,error\n"
            "0,4,1,ok,5,16,\n1,4,2,ok,7,16,\n2,5,1,ok,6,32,\n3,5,2,ok,8,32,\n4,6,1,ok,3,64,\n"
            "5,6,2,error,,,\"expected \"\"x\"\", got y\"\n");
  const double sd = std::sqrt(2.0);  // sample standard deviation of {m - 1, m + 1}
  char row[256];
  std::snprintf(row, sizeof row, "4,2,6,%.17g,16,0\n", sd);
  const std::string sum = read_file(dir + "/summary.csv");
  EXPECT_EQ(sum.substr(0, sum.find('\n')),
            "adc_bits,n,perplexity_mean,perplexity_std,energy_per_token_nj_mean,"
            "energy_per_token_nj_std");
  EXPECT_NE(sum.find(std::string("\n") + row), std::string::npos) << sum;
  EXPECT_NE(sum.find("\n6,1,3,0,64,0\n"), std::string::npos) << sum;
  // Three settings, two on the front (bits 4 and 6): the polylines' point lists.
  const std::string svg = read_file(dir + "/pareto.svg");
  auto points_of = [&](const std::string& name) {
    const size_t g = svg.find("data-name=\"" + name + "\"");
    if (g == std::string::npos) return -1;
    const size_t a = svg.find("points=\"", g) + 8, b = svg.find('"', a);
    const std::string list = svg.substr(a, b - a);
    return list.empty() ? 0 : int(std::count(list.begin(), list.end(), ' ')) + 1;
  };
  EXPECT_EQ(points_of("settings"), 3);
  EXPECT_EQ(points_of("Pareto front"), 2);
  for (const char* f : {"/perplexity_vs_adc_bits.svg", "/energy_vs_adc_bits.svg"})
    EXPECT_TRUE(file_exists(dir + f)) << f;
  EXPECT_THROW(merge_hw_sweep({dir + "/nothing"}, dir), Error);
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
