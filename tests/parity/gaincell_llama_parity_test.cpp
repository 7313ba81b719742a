// Llama-family parity of the gain-cell backends with the float64 PyTorch reference
// (tools/llama_reference/make_llama_gaincell_goldens.py, tests/data/parity_gaincell_llama/README.md): two
// random Llama folders with RoPE and grouped-query attention (4 query / 2 KV heads of dimension 8, the shape
// of stories260K; 2 query / 1 KV head of dimension 96, two stacked K arrays per column) and stored scalers
// (q, out per query head [H], k, v per KV head [H_kv]) load through Gpt2::load + the attention registry; their
// logits over T = 80 tokens (window 64: it slides, and keys cross the tile boundary 64) match the reference,
// which applies the paper's equations to the rotated q and k with shared KV arrays, within 1e-4; the
// streaming decoder (the KV cache is the arrays) equals the training form within 1e-5. The generator chose
// the tokens so that no quantiser input lies within 1e-5 of a rounding boundary (no flipped level).
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "analog/gaincell_attention.h"
#include "analog/hw_toml.h"
#include "analog/register.h"
#include "analog_npy.h"
#include "core/file.h"
#include "expect_close.h"
#include "model/attention.h"
#include "model/engine.h"
#include "model/gpt2.h"
#include "model/llama2c.h"
#include "test_paths.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {

constexpr int kWindow = 64;

struct Case {
  std::string folder, golden, kind;
  bool ring;
  std::string row_sum;
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.folder << " " << c.golden;
}

std::string hw_toml(bool ring, const std::string& row_sum) {
  HardwareConfig hw;
  hw.array.tile_mapping = ring ? "ring" : "absolute";
  hw.array.row_sum = row_sum;
  // One folder per process: ctest runs the cases as parallel processes, and scratch_dir empties its folder.
  static const std::string dir = test::scratch_dir("gaincell_llama_parity_" + std::to_string(::getpid()));
  std::string p = dir + "/" + (ring ? "ring_" : "abs_") + row_sum + ".toml";
  save_hardware_toml(p, hw);
  return p;
}

std::unique_ptr<Attention> make_attention(const Gpt2& m, const Case& c) {
  register_digital_attention();
  register_analog_attention();
  AttentionContext ctx = attention_context(m.config());
  ctx.window = kWindow;
  ctx.hw_path = hw_toml(c.ring, c.row_sum);
  ctx.find_tensor = [&m](const std::string& name, int64_t n) { return m.find_extra(name, n); };
  return attention_registry().create(c.kind, ctx);
}

std::vector<int32_t> read_tokens(const std::string& dir) {
  auto j = nlohmann::json::parse(read_file(dir + "/tokens.json"));
  return j.get<std::vector<std::vector<int32_t>>>().at(0);
}

double max_abs_diff(const float* a, const float* b, int64_t n) {
  return test::worst_abs_diff(a, b, n).err;  // NaN when any value is
}

class GainCellLlamaParity : public ::testing::TestWithParam<Case> {};

TEST_P(GainCellLlamaParity, LogitsMatchFloat64Reference) {
  const Case& c = GetParam();
  const std::string dir = test::data_path("parity_gaincell_llama/" + c.folder);
  Gpt2 m = Gpt2::load(dir);
  ASSERT_LT(m.config().kv_heads(), m.config().n_head);  // grouped-query attention
  ASSERT_TRUE(m.config().rotary());                     // q and k rotated before the arrays
  std::vector<int32_t> tokens = read_tokens(dir);
  const int T = int(tokens.size());
  const int64_t V = m.config().vocab_size;
  test::NpyData golden = test::load_npy_f32(dir + "/" + c.golden);
  ASSERT_EQ(golden.shape, (std::vector<int64_t>{1, T, V}));
  ASSERT_GT(T, kWindow + 1);
  auto attn = make_attention(m, c);
  Gpt2Engine engine(m, *attn);
  const float* logits = engine.forward(tokens.data(), 1, T);
  for (int t = 0; t < T; ++t)
    ASSERT_TRUE(max_abs_diff(logits + t * V, golden.data.data() + t * V, V) <= 1e-4) << "position " << t;
}

// The decoder (prefill, then one token at a time) equals the training form: every position with ring tiles
// or while the window has not slid (absolute tiles = the arrays' slots until then).
TEST_P(GainCellLlamaParity, StreamingDecoderEqualsTrainingForm) {
  const Case& c = GetParam();
  const std::string dir = test::data_path("parity_gaincell_llama/" + c.folder);
  Gpt2 m = Gpt2::load(dir);
  std::vector<int32_t> tokens = read_tokens(dir);
  const int T = int(tokens.size()), n_check = c.ring ? T : kWindow;
  const int64_t V = m.config().vocab_size;
  auto attn = make_attention(m, c);
  Gpt2Engine full(m, *attn);
  const float* ref = full.forward(tokens.data(), 1, T);
  std::vector<float> expected(ref, ref + int64_t{T} * V);
  Gpt2Engine dec(m, *attn);
  dec.decode_begin(1, T);
  const int P = 20;
  const float* got = dec.decode_prefill(tokens.data(), P);
  EXPECT_TRUE(max_abs_diff(got, expected.data() + (P - 1) * V, V) <= 1e-5) << "after prefill";
  for (int t = P; t < n_check; ++t) {
    got = dec.decode_step(&tokens[t]);
    ASSERT_TRUE(max_abs_diff(got, expected.data() + t * V, V) <= 1e-5) << "position " << t;
  }
}

std::vector<Case> all_cases() {
  return {{"llama_gqa_d8", "logits_gaincell.npy", "gaincell", false, "shared_line"},
          {"llama_gqa_d8", "logits_gaincell_linear.npy", "gaincell-linear", false, "shared_line"},
          {"llama_gqa_d8", "logits_gaincell_ring.npy", "gaincell", true, "shared_line"},
          {"llama_gqa_d96", "logits_gaincell.npy", "gaincell", false, "shared_line"},
          {"llama_gqa_d96", "logits_gaincell_linear.npy", "gaincell-linear", false, "shared_line"},
          {"llama_gqa_d96", "logits_gaincell_digital.npy", "gaincell", false, "digital"}};
}

INSTANTIATE_TEST_SUITE_P(Folders, GainCellLlamaParity, ::testing::ValuesIn(all_cases()), [](const auto& info) {
  std::string n = info.param.folder + "_" + info.param.golden.substr(7);
  for (char& ch : n)
    if (ch == '-' || ch == '.') ch = '_';
  return n;
});

// The stored per-KV-head k/v scalers ([H_kv]) and per-query-head q/out scalers ([H]) are what the backend uses.
TEST(GainCellLlamaParity, ScalersPerKvHeadAndPerQueryHead) {
  const std::string dir = test::data_path("parity_gaincell_llama/llama_gqa_d8");
  Gpt2 m = Gpt2::load(dir);
  ASSERT_NE(m.find_extra("h.0.attn.gaincell.k.scale", 2), nullptr);
  ASSERT_NE(m.find_extra("h.0.attn.gaincell.q.scale", 4), nullptr);
  auto attn = make_attention(m, all_cases()[0]);
  auto* g = dynamic_cast<GainCellAttention*>(attn.get());
  ASSERT_NE(g, nullptr);
  const LayerScalers& s = g->model().scalers(1);
  ASSERT_EQ(s.k_shift.size(), 2u);
  ASSERT_EQ(s.q_shift.size(), 4u);
  EXPECT_EQ(s.k_shift[1], m.find_extra("h.1.attn.gaincell.k.shift", 2)[1]);
  EXPECT_EQ(s.out_scale[3], m.find_extra("h.1.attn.gaincell.out.scale", 4)[3]);
}

// stories260K (a real pre-trained Llama: RoPE, 8 query / 4 KV heads of dimension 8, 5 layers), converted, on
// the gain-cell hardware: the streaming decoder equals the training form over 100 tokens (1e-4), the counters write
// per KV head and read per query head, and the hardware changes the logits (finite, not the softmax ones).
TEST(GainCellLlamaParity, Stories260KDecoderAndCounters) {
  const std::string ck = test::shared_path("data/DaveBben__esp32-llm/stories260K.bin");
  const std::string tok = test::shared_path("data/DaveBben__esp32-llm/tok512.bin");
  GAINCELL_REQUIRE_FILE(ck);
  GAINCELL_REQUIRE_FILE(tok);
  const std::string dir = test::scratch_dir("gaincell_llama_stories260k") + "/model";
  convert_llama2c({ck, tok, dir});
  Gpt2 m = Gpt2::load(dir);
  const Gpt2Config& c = m.config();
  ASSERT_EQ(c.n_head, 8);
  ASSERT_EQ(c.kv_heads(), 4);
  ASSERT_EQ(c.head_dim(), 8);
  const int T = 100;
  const int64_t V = c.vocab_size;
  std::vector<int32_t> tokens(T);
  for (int t = 0; t < T; ++t) tokens[t] = t == 0 ? 1 : 3 + (t * 37) % 500;
  register_digital_attention();
  register_analog_attention();
  AttentionContext ctx = attention_context(c);  // paper hardware, window 1024 > T
  auto attn = attention_registry().create("gaincell", ctx);
  Gpt2Engine full(m, *attn);
  const float* ref = full.forward(tokens.data(), 1, T);
  std::vector<float> expected(ref, ref + int64_t{T} * V);
  const std::vector<AttentionActivity> act = attn->activity();
  ASSERT_EQ(act.size(), 5u);
  for (const AttentionActivity& a : act) {
    EXPECT_EQ(a.cell_writes, int64_t{T} * 4 * 2 * 8);                    // once per token and KV head
    EXPECT_EQ(a.charge_to_pulse, int64_t{8} * T * (T + 1) / 2);          // per query head and key
    EXPECT_EQ(a.adc_conversions, int64_t{8} * 8 * (64 + 2 * (T - 64)));  // keys 1..100: 1 or 2 arrays, D each
  }
  auto soft = attention_registry().create("softmax", ctx);
  Gpt2Engine se(m, *soft);
  const float* sl = se.forward(tokens.data(), 1, T);
  const double diff = max_abs_diff(sl, expected.data(), int64_t{T} * V);
  EXPECT_TRUE(diff > 0.1 && diff < 1e3) << diff;  // finite, and the hardware matters
  Gpt2Engine dec(m, *attn);
  dec.decode_begin(1, T);
  // The engine's decode-step matmuls round differently from its full-sequence GEMMs (~1e-7 relative), and these
  // logits reach |x| ~ 10: 1e-4 absolute (a flipped quantiser level would move them by ~1e-2).
  const float* got = dec.decode_prefill(tokens.data(), 30);
  EXPECT_TRUE(max_abs_diff(got, expected.data() + 29 * V, V) <= 1e-4) << "after prefill";
  for (int t = 30; t < T; ++t) {
    got = dec.decode_step(&tokens[t]);
    ASSERT_TRUE(max_abs_diff(got, expected.data() + t * V, V) <= 1e-4)
        << "position " << t << ": " << max_abs_diff(got, expected.data() + t * V, V);
  }
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
