// Issue 17 item 6: every GPU comparison row says which baseline it used, a sweep uses one baseline for every
// point (no jump of the ratio where the workload leaves the measured one), and the leakage of `gaincell cost`
// is the simulator's lambda (one source: HardwareConfig::lambda_per_token).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "analog/gaincell_model.h"
#include "cost/report.h"
#include "cost/sweep.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {

std::vector<SweepPoint> window_sweep(GpuBaseline b) {
  SweepBase base;
  base.gpus = parse_gpu_list("rtx4090,jetson-nano,h100");
  base.gpu_baseline = b;
  return run_sweep(base, {parse_sweep_param("window=512,1024,2048,4096")});
}

TEST(CostBaseline, WindowSweepRatioDoesNotJumpAt1024) {
  std::vector<SweepPoint> pts = window_sweep(GpuBaseline::kMeasuredScaled);
  ASSERT_EQ(pts.size(), 4u);
  for (auto& p : pts) {
    ASSERT_EQ(p.summary.gpus.size(), 3u);
    EXPECT_EQ(p.summary.gpus[0].baseline, "measured-scaled") << p.label;
    EXPECT_EQ(p.summary.gpus[1].baseline, "measured-scaled") << p.label;
    EXPECT_EQ(p.summary.gpus[2].baseline, "roofline") << p.label;  // H100: no measured point, in every row
  }
  const GpuComparison &a = pts[1].summary.gpus[0], &b = pts[2].summary.gpus[0];  // RTX 4090, W = 1024, 2048
  EXPECT_EQ(std::lround(a.latency_ratio), 344);                                  // the paper's point is unchanged
  // From 1024 to 2048 the GPU cost follows its roofline (bytes x (2 x 2048 + 4) / (2 x 1024 + 4)) and the
  // gain-cell latency gains one adder level (65 -> 66 ns): main fell from 344x to 95x here.
  const double gpu_growth = (2.0 * 2048 + 4) / (2.0 * 1024 + 4);
  const double imc_a = pts[1].summary.token.layer_latency.total_ns(),
               imc_b = pts[2].summary.token.layer_latency.total_ns();
  EXPECT_EQ(imc_a, 65.0);
  EXPECT_EQ(imc_b, 66.0);
  EXPECT_NEAR(b.latency_ratio / a.latency_ratio, gpu_growth * imc_a / imc_b, 1e-9);
  for (size_t k = 1; k < pts.size(); ++k)  // monotone in the window, never falling
    EXPECT_TRUE(pts[k].summary.gpus[0].latency_ratio > pts[k - 1].summary.gpus[0].latency_ratio) << k;
}

TEST(CostBaseline, RooflineSweepUsesTheRooflineEverywhere) {
  std::vector<SweepPoint> pts = window_sweep(GpuBaseline::kRoofline);
  for (auto& p : pts)
    for (auto& g : p.summary.gpus) {
      EXPECT_EQ(g.baseline, "roofline") << p.label << " " << g.gpu.name;
      EXPECT_EQ(g.attention.latency_s, g.roofline.latency_s) << p.label << " " << g.gpu.name;
    }
  std::string csv = sweep_csv({parse_sweep_param("window=512,1024,2048,4096")}, pts);
  EXPECT_NE(csv.find("rtx4090_baseline,rtx4090_latency_ratio"), std::string::npos) << csv;
  EXPECT_EQ(csv.find("measured"), std::string::npos) << csv;
}

TEST(CostBaseline, LeakageIsTheSimulatorsLambda) {
  const ModelShape gpt2{12, 12, 64};
  HardwareConfig hw;
  CostSummary s = summarize("gpt2", gpt2, 50257, hw, 1024, CostTable{}, {}, 0.0);
  GainCellModel sim(hw, 12, 12, 64, 1024, false, 1);
  EXPECT_EQ(s.decay_per_token, 1.6e-4);  // paper-spec §2.2 (main printed 780 ns / 5 ms = 1.56e-4 here)
  EXPECT_EQ(s.decay_per_token, sim.hw().lambda_per_token());
  // A TOML's own leakage is what both use.
  hw.leakage.decay_per_token = 3e-4;
  EXPECT_EQ(summarize("gpt2", gpt2, 50257, hw, 1024, CostTable{}, {}, 0.0).decay_per_token, 3e-4);
  // --retention-s 5 ms: both derive 780 ns / 5 ms = 1.56e-4 through HardwareConfig::set_retention.
  CostSummary r = summarize("gpt2", gpt2, 50257, HardwareConfig{}, 1024, CostTable{}, {}, 5e-3);
  EXPECT_NEAR(r.decay_per_token, 1.56e-4, 1e-18);
  AttentionContext ctx;
  ctx.n_layer = 12, ctx.n_head = 12, ctx.head_dim = 64, ctx.window = 1024;
  ctx.retention_tau_s = 5e-3;
  ctx.token_period_s = token_period_s(r.token);
  EXPECT_EQ(GainCellModel(ctx, false).hw().lambda_per_token(), r.decay_per_token);
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
