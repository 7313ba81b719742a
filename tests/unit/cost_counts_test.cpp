// Analytic counts (a configuration, no model run) equal the counters of real gain-cell runs: the streaming
// decoder (generate) and the full-sequence form with absolute and ring tiles (perplexity, logits), across
// the window boundary and with a window that is not a multiple of the array size. Also the area rules and
// --retention-s reaching the simulator.
#include <gtest/gtest.h>

#include <memory>
#include <random>

#include "analog/gaincell_attention.h"
#include "cost/area.h"
#include "cost/cost_model.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {

void expect_same(const AttentionActivity& a, const AttentionActivity& b, const std::string& what) {
  EXPECT_EQ(a.tokens, b.tokens) << what;
  EXPECT_EQ(a.cell_writes, b.cell_writes) << what;
  EXPECT_EQ(a.query_pulses, b.query_pulses) << what;
  EXPECT_EQ(a.cell_reads, b.cell_reads) << what;
  EXPECT_EQ(a.charge_to_pulse, b.charge_to_pulse) << what;
  EXPECT_EQ(a.adc_conversions, b.adc_conversions) << what;
  EXPECT_EQ(a.digital_adds, b.digital_adds) << what;
}

std::vector<float> random_qkv(int rows, int C, uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> n(0, 1);
  std::vector<float> v(size_t(rows) * 3 * C);
  for (auto& x : v) x = n(g);
  return v;
}

struct Case {
  int window, cols, batch, tokens;
  std::string mapping;
};

class CountsMatchRun : public ::testing::TestWithParam<Case> {};

TEST_P(CountsMatchRun, DecodeAndForward) {
  const Case k = GetParam();
  const ModelShape shape{2, 2, 16};
  HardwareConfig hw;
  hw.array.rows = 16;
  hw.array.cols = k.cols;
  hw.array.tile_mapping = k.mapping;
  const int C = shape.n_head * shape.head_dim;
  auto model = std::make_shared<GainCellModel>(hw, shape.n_layer, shape.n_head, shape.head_dim, k.window, false, 1);
  std::vector<float> qkv = random_qkv(k.batch * k.tokens, C, 3), out(size_t(k.batch) * k.tokens * C);
  {  // full-sequence form, both layers
    GainCellAttention att(model, false);
    for (int l = 0; l < shape.n_layer; ++l) att.forward(out.data(), qkv.data(), k.batch, k.tokens, l);
    AttentionActivity want = analytic_activity(shape, hw, k.window, RunMode::kForward, k.batch, k.tokens);
    for (const AttentionActivity& got : att.activity()) expect_same(got, want, "forward " + k.mapping);
  }
  {  // streaming decoder, layer 0: one step per token
    GainCellAttention att(model, false);
    auto cache = att.make_cache(0, k.batch, k.tokens);
    std::vector<float> step_in(size_t(k.batch) * 3 * C), step_out(size_t(k.batch) * C);
    for (int t = 0; t < k.tokens; ++t) {
      for (int b = 0; b < k.batch; ++b)
        std::copy_n(&qkv[(size_t(b) * k.tokens + t) * 3 * C], 3 * C, &step_in[size_t(b) * 3 * C]);
      cache->step(step_out.data(), step_in.data());
    }
    AttentionActivity want = analytic_activity(shape, hw, k.window, RunMode::kDecode, k.batch, k.tokens);
    expect_same(att.activity()[0], want, "decode");
  }
}

INSTANTIATE_TEST_SUITE_P(Windows, CountsMatchRun,
                         ::testing::Values(Case{16, 4, 1, 40, "absolute"}, Case{16, 4, 2, 40, "ring"},
                                           Case{10, 4, 1, 33, "absolute"}, Case{10, 4, 1, 33, "ring"},
                                           Case{64, 8, 1, 20, "absolute"}));

TEST(CostCounts, ReadShapeOfTheFullPaperWindow) {
  // Token 5000 with W = 1024 and 64-token arrays: 1024 keys; decode (ring slots) reads 16 arrays; absolute
  // tiles 4977..5000 span tiles 62..78 = 17 arrays (the window is not aligned to the tiles).
  EXPECT_EQ(read_shape(RunMode::kDecode, 5000, 1024, 64, false).keys, 1024);
  EXPECT_EQ(read_shape(RunMode::kDecode, 5000, 1024, 64, false).arrays, 16);
  EXPECT_EQ(read_shape(RunMode::kForward, 5000, 1024, 64, false).arrays, 17);
  EXPECT_EQ(read_shape(RunMode::kDecode, 0, 1024, 64, false).arrays, 1);
}

TEST(CostArea, PaperTileHeadAndModel) {
  // One tile: 2 x 64 x 64 cells x 1 um^2 = 8192; 64 drivers x 50 = 3200; 64 C2P x 300 = 19200;
  // 64 ADCs x 20 x 32 = 40960; 128 write drivers x 30 = 3840 -> 75392 um^2. Head: 16 tiles + 5000 digital
  // = 1211272 um^2. GPT-2: 144 heads -> 174.423 mm^2, 4608 arrays.
  ModelArea a = model_area({12, 12, 64}, HardwareConfig{}, 1024, AreaTable{});
  EXPECT_DOUBLE_EQ(a.per_tile.total_um2(), 75392.0);
  EXPECT_EQ(a.tiles_per_head, 16);
  EXPECT_DOUBLE_EQ(a.per_head.total_um2(), 1211272.0);
  EXPECT_EQ(a.arrays, 4608);
  EXPECT_NEAR(a.model_mm2(), 174.423168, 1e-9);
}

TEST(CostArea, GrowsLinearlyWithWindowAndGpt2XlHas38400Arrays) {
  // Doubling the window doubles the tiles; GPT-2 XL (48 x 25 heads) at 1024: 48 x 25 x 32 = 38400 arrays.
  ModelArea a = model_area({12, 12, 64}, HardwareConfig{}, 2048, AreaTable{});
  EXPECT_EQ(a.tiles_per_head, 32);
  EXPECT_DOUBLE_EQ(a.per_head.total_um2(), 32 * 75392.0 + 5000.0);
  EXPECT_EQ(model_area({48, 25, 64}, HardwareConfig{}, 1024, AreaTable{}).arrays, 38400);
  // GPT-2 XL at 4096: 1200 heads x (64 tiles x 75392 + 5000) um^2 = 5796.1056 mm^2.
  EXPECT_NEAR(model_area({48, 25, 64}, HardwareConfig{}, 4096, AreaTable{}).model_mm2(), 5796.1056, 1e-9);
}

TEST(CostLeakage, RetentionInTheContextSetsTheSimulatorsDecay) {
  // --retention-s 5e-3 with the paper's 780 ns token period: lambda = 1.56e-4 in the backend's hardware.
  AttentionContext ctx;
  ctx.n_layer = 12;
  ctx.n_head = 1;
  ctx.head_dim = 64;
  ctx.n_positions = 1024;
  ctx.retention_tau_s = 5e-3;
  ctx.token_period_s = token_period_s(token_cost({12, 12, 64}, HardwareConfig{}, 1024, CostTable{}));
  GainCellModel m(ctx, false);
  EXPECT_NEAR(m.hw().lambda_per_token(), 1.56e-4, 1e-18);
  ctx.retention_tau_s = 0;  // no override: the hardware's 1.6e-4
  EXPECT_DOUBLE_EQ(GainCellModel(ctx, false).hw().lambda_per_token(), 1.6e-4);
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
