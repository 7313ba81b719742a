// Llama-family forward parity with the float64 PyTorch reference (tools/llama_reference/llama_ref.py): every
// case of tests/data/llama_parity/cases.json (GQA, MHA, untied head, odd lengths, BF16, Qwen2 biases, Mistral,
// a sharded copy) loads like a Hugging Face checkpoint; its logits match logits.npy within the case's full_tol
// (1e-4 max abs) and KV-cache decoding equals the full forward within decode_tol (1e-5).
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/file.h"
#include "io/npy.h"
#include "model/attention.h"
#include "model/engine.h"
#include "model/gpt2.h"
#include "test_paths.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {

struct LlamaCase {
  std::string name;
  double full_tol = 0, decode_tol = 0;
};

std::vector<LlamaCase> cases() {
  const auto j = nlohmann::json::parse(read_file(test::data_path("llama_parity/cases.json")));
  std::vector<LlamaCase> out;
  for (const auto& c : j["cases"])
    out.push_back({c["name"].get<std::string>(), c["full_tol"].get<double>(), c["decode_tol"].get<double>()});
  return out;
}

std::vector<std::vector<int32_t>> read_tokens(const std::string& dir) {
  return nlohmann::json::parse(read_file(dir + "/tokens.json")).get<std::vector<std::vector<int32_t>>>();
}

std::unique_ptr<Attention> softmax_attention(const Gpt2& m) {
  register_digital_attention();
  return attention_registry().create("softmax", attention_context(m.config()));
}

// Max |a - b| over n values; NaN counts as infinitely wrong.
double max_abs_diff(const float* a, const float* b, int64_t n) {
  double worst = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = std::abs(double(a[i]) - double(b[i]));
    if (!(d <= worst)) worst = std::isnan(d) ? INFINITY : d;
  }
  return worst;
}

class LlamaParity : public ::testing::TestWithParam<LlamaCase> {};

TEST_P(LlamaParity, FullSequenceLogitsMatchReference) {
  const LlamaCase& c = GetParam();
  const std::string dir = test::data_path("llama_parity/" + c.name);
  Gpt2 m = Gpt2::load(dir);
  const auto tokens = read_tokens(dir);
  const int B = static_cast<int>(tokens.size()), T = static_cast<int>(tokens[0].size());
  std::vector<int32_t> flat;
  for (const auto& row : tokens) flat.insert(flat.end(), row.begin(), row.end());
  const NpyArray golden = read_npy(dir + "/logits.npy");
  const int64_t V = m.config().vocab_size;
  ASSERT_EQ(golden.shape, (std::vector<int64_t>{B, T, V}));
  auto attn = softmax_attention(m);
  Gpt2Engine engine(m, *attn);
  const float* logits = engine.forward(flat.data(), B, T);
  const double err = max_abs_diff(logits, golden.data.data(), golden.numel());
  EXPECT_TRUE(err <= c.full_tol) << c.name << ": max |logits - reference| = " << err;
  // Only the last position (last_n = 1) gives the same row.
  const float* last = engine.forward(flat.data(), B, T, 1);
  double err_last = 0;
  for (int b = 0; b < B; ++b)
    err_last = std::max(err_last, max_abs_diff(last + b * V, golden.data.data() + (int64_t{b} * T + T - 1) * V, V));
  EXPECT_TRUE(err_last <= c.full_tol) << c.name << ": last_n = 1, max error " << err_last;
}

TEST_P(LlamaParity, KvCacheDecodingEqualsFullSequence) {
  const LlamaCase& c = GetParam();
  const std::string dir = test::data_path("llama_parity/" + c.name);
  Gpt2 m = Gpt2::load(dir);
  const auto tokens = read_tokens(dir);
  const int B = static_cast<int>(tokens.size()), T = static_cast<int>(tokens[0].size());
  const int64_t V = m.config().vocab_size;
  std::vector<int32_t> flat;
  for (const auto& row : tokens) flat.insert(flat.end(), row.begin(), row.end());
  auto attn = softmax_attention(m);
  Gpt2Engine full(m, *attn);
  const float* ref = full.forward(flat.data(), B, T);
  const std::vector<float> expected(ref, ref + int64_t{B} * T * V);

  // Prefill an odd-length prefix, then decode the rest one token at a time (RoPE positions continue).
  Gpt2Engine dec(m, *attn);
  const int P = T / 3 + 1;
  dec.decode_begin(B, T);
  std::vector<int32_t> prefix;
  for (int b = 0; b < B; ++b) prefix.insert(prefix.end(), tokens[b].begin(), tokens[b].begin() + P);
  const float* got = dec.decode_prefill(prefix.data(), P);
  double worst = 0;
  for (int b = 0; b < B; ++b)
    worst = std::max(worst, max_abs_diff(got + b * V, expected.data() + (int64_t{b} * T + P - 1) * V, V));
  std::vector<int32_t> step(B);
  for (int t = P; t < T; ++t) {
    for (int b = 0; b < B; ++b) step[b] = tokens[b][t];
    got = dec.decode_step(step.data());
    for (int b = 0; b < B; ++b)
      worst = std::max(worst, max_abs_diff(got + b * V, expected.data() + (int64_t{b} * T + t) * V, V));
  }
  EXPECT_TRUE(worst <= c.decode_tol) << c.name << ": max |decode - full| = " << worst;
  EXPECT_EQ(dec.decode_position(), T);
}

INSTANTIATE_TEST_SUITE_P(Cases, LlamaParity, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.name; });

// The sharded copy is the gqa model split over two files: identical logits, bit for bit.
TEST(LlamaParity, ShardedFolderLoadsLikeTheSingleFile) {
  Gpt2 a = Gpt2::load(test::data_path("llama_parity/gqa"));
  Gpt2 b = Gpt2::load(test::data_path("llama_parity/sharded"));
  const auto tokens = read_tokens(test::data_path("llama_parity/gqa"));
  auto at = softmax_attention(a);
  auto bt = softmax_attention(b);
  Gpt2Engine ea(a, *at), eb(b, *bt);
  const int T = static_cast<int>(tokens[0].size());
  const float* la = ea.forward(tokens[0].data(), 1, T);
  const float* lb = eb.forward(tokens[0].data(), 1, T);
  const double err = max_abs_diff(la, lb, int64_t{T} * a.config().vocab_size);
  EXPECT_TRUE(err <= 0.0) << err;
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
