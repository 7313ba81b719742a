// GPT-2 forward parity with the float64 PyTorch reference (tools/gpt2_reference): every folder of
// tests/data/parity loads like a Hugging Face checkpoint, and its logits match within 1e-4 max abs; decoding
// with the KV cache equals the full-sequence logits within 1e-5.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/file.h"
#include "expect_close.h"
#include "io/npy.h"
#include "model/attention.h"
#include "model/engine.h"
#include "model/gpt2.h"
#include "test_paths.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {

struct Case {
  std::string folder;
  int window;  // 0: exact softmax golden logits.npy; else logits_sliding_w<window>.npy
};

std::vector<std::vector<int32_t>> read_tokens(const std::string& dir) {
  auto j = nlohmann::json::parse(read_file(dir + "/tokens.json"));
  return j.get<std::vector<std::vector<int32_t>>>();
}

std::unique_ptr<Attention> make_attention(const Gpt2& m, int window) {
  register_digital_attention();
  AttentionContext ctx = attention_context(m.config());
  ctx.window = window;
  return attention_registry().create(window ? "sliding" : "softmax", ctx);
}

class Gpt2Parity : public ::testing::TestWithParam<Case> {};

TEST_P(Gpt2Parity, FullSequenceLogitsMatchReference) {
  const Case& c = GetParam();
  const std::string dir = test::data_path("parity/" + c.folder);
  Gpt2 m = Gpt2::load(dir);
  auto tokens = read_tokens(dir);
  const int B = static_cast<int>(tokens.size()), T = static_cast<int>(tokens[0].size());
  std::vector<int32_t> flat;
  for (auto& row : tokens) flat.insert(flat.end(), row.begin(), row.end());
  NpyArray golden =
      read_npy(dir + (c.window ? "/logits_sliding_w" + std::to_string(c.window) + ".npy" : "/logits.npy"));
  const int64_t V = m.config().vocab_size;
  ASSERT_EQ(golden.shape, (std::vector<int64_t>{B, T, V}));
  auto attn = make_attention(m, c.window);
  Gpt2Engine engine(m, *attn);
  const float* logits = engine.forward(flat.data(), B, T);
  EXPECT_TRUE(test::all_within(logits, golden.data.data(), golden.numel(), 1e-4));
}

TEST_P(Gpt2Parity, KvCacheDecodingEqualsFullSequence) {
  const Case& c = GetParam();
  const std::string dir = test::data_path("parity/" + c.folder);
  Gpt2 m = Gpt2::load(dir);
  auto tokens = read_tokens(dir);
  const int B = static_cast<int>(tokens.size()), T = static_cast<int>(tokens[0].size());
  const int64_t V = m.config().vocab_size;
  std::vector<int32_t> flat;
  for (auto& row : tokens) flat.insert(flat.end(), row.begin(), row.end());
  auto attn = make_attention(m, c.window);
  Gpt2Engine full(m, *attn);
  const float* ref = full.forward(flat.data(), B, T);
  std::vector<float> expected(ref, ref + int64_t{B} * T * V);

  // Prefill a prefix of P tokens, then decode the rest one token at a time.
  Gpt2Engine dec(m, *attn);
  const int P = T / 3 + 1;
  dec.decode_begin(B, T);
  std::vector<int32_t> prefix;
  for (int b = 0; b < B; ++b) prefix.insert(prefix.end(), tokens[b].begin(), tokens[b].begin() + P);
  const float* got = dec.decode_prefill(prefix.data(), P);
  double worst = 0;  // NaN-propagating (tests/expect_close.h)
  for (int b = 0; b < B; ++b)
    worst =
        test::nan_max(worst, test::worst_abs_diff(got + b * V, expected.data() + (int64_t{b} * T + P - 1) * V, V).err);
  std::vector<int32_t> step(B);
  for (int t = P; t < T; ++t) {
    for (int b = 0; b < B; ++b) step[b] = tokens[b][t];
    got = dec.decode_step(step.data());
    for (int b = 0; b < B; ++b)
      worst =
          test::nan_max(worst, test::worst_abs_diff(got + b * V, expected.data() + (int64_t{b} * T + t) * V, V).err);
  }
  EXPECT_LT(worst, 1e-5);
  EXPECT_EQ(dec.decode_position(), T);
}

INSTANTIATE_TEST_SUITE_P(Folders, Gpt2Parity,
                         ::testing::Values(Case{"f32_basic", 0}, Case{"f32_odd", 0}, Case{"f32_odd", 8}, Case{"f16", 0},
                                           Case{"bf16", 0}, Case{"long", 0}, Case{"long", 64}),
                         [](const auto& info) {
                           return info.param.folder +
                                  (info.param.window ? "_w" + std::to_string(info.param.window) : "");
                         });

TEST(Gpt2Parity, SavedModelReloadsWithIdenticalLogits) {
  Gpt2 m = Gpt2::load(test::data_path("parity/f16"));
  std::string out = test::scratch_dir("parity_resave");
  m.save(out);
  Gpt2 r = Gpt2::load(out);
  auto tokens = read_tokens(test::data_path("parity/f16"));
  auto a1 = make_attention(m, 0);
  auto a2 = make_attention(r, 0);
  Gpt2Engine e1(m, *a1), e2(r, *a2);
  const int T = static_cast<int>(tokens[0].size());
  const float* l1 = e1.forward(tokens[0].data(), 1, T);
  const float* l2 = e2.forward(tokens[0].data(), 1, T);
  EXPECT_EQ(std::memcmp(l1, l2, sizeof(float) * T * m.config().vocab_size), 0);
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
