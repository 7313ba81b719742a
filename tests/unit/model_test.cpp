// Model loading and running: config validation, hostile model folders, token and context checks, sampler.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>

#include "core/error.h"
#include "core/file.h"
#include "io/safetensors.h"
#include "model/attention.h"
#include "model/config.h"
#include "model/engine.h"
#include "model/gpt2.h"
#include "model/sampler.h"
#include "test_paths.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {

// Expects fn to throw gaincell::Error whose message contains `fragment`.
template <typename F>
void expect_error(F&& fn, const std::string& fragment) {
  try {
    fn();
    ADD_FAILURE() << "no error; expected one containing '" << fragment << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << "message: " << e.what();
  }
}

Gpt2Config small_config() {
  Gpt2Config c;
  c.n_layer = 2, c.n_head = 2, c.n_embd = 16, c.vocab_size = 40, c.n_positions = 24;
  return c;
}

std::unique_ptr<Attention> softmax_for(const Gpt2& m) {
  register_digital_attention();
  AttentionContext ctx = attention_context(m.config());
  return attention_registry().create("softmax", ctx);
}

TEST(Config, ParsesHuggingFaceKeys) {
  Gpt2Config c = config_from_json(
      R"({"n_layer": 3, "n_head": 4, "n_embd": 64, "vocab_size": 100, "n_positions": 32,
          "layer_norm_epsilon": 1e-6, "activation_function": "gelu_new", "model_type": "gpt2"})");
  EXPECT_EQ(c.n_layer, 3);
  EXPECT_EQ(c.head_dim(), 16);
  EXPECT_FLOAT_EQ(c.layer_norm_epsilon, 1e-6f);
}

TEST(Config, GptTwoPresetHas124MParameters) {
  EXPECT_EQ(config_preset("gpt2").num_parameters(), 124439808);  // HF GPT-2 small, tied lm_head
  EXPECT_EQ(config_preset("gpt2-xl").num_parameters(), 1557611200);
}

struct BadConfig {
  const char* json;
  const char* fragment;
};

TEST(Config, RejectsHostileFiles) {
  const BadConfig cases[] = {
      {"not json", "valid JSON"},
      {"[1, 2]", "JSON object"},
      {R"({"n_head": 2, "n_embd": 16, "vocab_size": 40, "n_positions": 24})", "missing key 'n_layer'"},
      {R"({"n_layer": 2, "n_embd": 16, "vocab_size": 40, "n_positions": 24})", "missing key 'n_head'"},
      {R"({"n_layer": -2, "n_head": 2, "n_embd": 16, "vocab_size": 40, "n_positions": 24})", "positive size"},
      {R"({"n_layer": 2, "n_head": 2, "n_embd": 16, "vocab_size": 0, "n_positions": 24})", "positive size"},
      {R"({"n_layer": 2, "n_head": 2, "n_embd": 16, "vocab_size": 40, "n_positions": 99999999999})", "positive size"},
      {R"({"n_layer": "2", "n_head": 2, "n_embd": 16, "vocab_size": 40, "n_positions": 24})", "an integer"},
      {R"({"n_layer": 2, "n_head": 3, "n_embd": 16, "vocab_size": 40, "n_positions": 24})", "multiple of n_head"},
      {R"({"n_layer": 5000, "n_head": 2, "n_embd": 16, "vocab_size": 40, "n_positions": 24})", "n_layer"},
      {R"({"n_layer": 2, "n_head": 2, "n_embd": 16, "vocab_size": 40, "n_positions": 24,
           "activation_function": "relu"})",
       "gelu_new"},
      {R"({"n_layer": 2, "n_head": 2, "n_embd": 16, "vocab_size": 40, "n_positions": 24,
           "layer_norm_epsilon": -1})",
       "layer_norm_epsilon"},
  };
  for (const auto& c : cases) expect_error([&] { config_from_json(c.json); }, c.fragment);
}

// A model folder whose safetensors file is built from the canonical table with one change.
std::string write_folder(
    const std::string& name,
    const std::function<void(SafeTensorsWriter&, const std::string&, const std::vector<int64_t>&)>& add) {
  Gpt2Config c = small_config();
  std::string dir = test::scratch_dir("model_" + name);
  write_file_atomic(dir + "/config.json", config_to_json(c));
  SafeTensorsWriter w;
  for (const auto& [tname, shape] : gpt2_tensor_table(c)) add(w, tname, shape);
  w.write(dir + "/model.safetensors");
  return dir;
}

void add_normal(SafeTensorsWriter& w, const std::string& name, const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  std::vector<float> v(n, 0.01f);
  w.add_f32(name, shape, v.data());
}

TEST(ModelFolder, RejectsHostileFolders) {
  expect_error([] { Gpt2::load("/nonexistent/model"); }, "not a directory");
  std::string empty = test::scratch_dir("model_empty");
  expect_error([&] { Gpt2::load(empty); }, "missing config.json");
  write_file_atomic(empty + "/config.json", config_to_json(small_config()));
  expect_error([&] { Gpt2::load(empty); }, "missing model.safetensors");

  auto missing = write_folder("missing", [](auto& w, auto& n, auto& s) {
    if (n != "h.1.mlp.c_fc.bias") add_normal(w, n, s);
  });
  expect_error([&] { Gpt2::load(missing); }, "missing tensor 'h.1.mlp.c_fc.bias'");

  auto shape = write_folder("shape", [](auto& w, auto& n, auto& s) {
    add_normal(w, n, n == "h.0.attn.c_attn.weight" ? std::vector<int64_t>{48, 16} : s);  // transposed
  });
  expect_error([&] { Gpt2::load(shape); }, "shape [16, 48] for tensor 'h.0.attn.c_attn.weight'");

  auto dup = write_folder("dup", [](auto& w, auto& n, auto& s) {
    add_normal(w, n, s);
    if (n == "ln_f.bias") add_normal(w, "transformer.ln_f.bias", s);
  });
  expect_error([&] { Gpt2::load(dup); }, "duplicate tensor 'ln_f.bias'");

  auto dtype = write_folder("dtype", [](auto& w, auto& n, auto& s) {
    if (n == "wpe.weight") {
      std::vector<int32_t> v(24 * 16, 1);
      w.add_raw(n, DType::kI32, s, v.data(), v.size() * 4);
    } else {
      add_normal(w, n, s);
    }
  });
  expect_error([&] { Gpt2::load(dtype); }, "I32");

  auto lm = write_folder("lm_head", [](auto& w, auto& n, auto& s) {
    add_normal(w, n, s);
    if (n == "ln_f.bias") add_normal(w, "lm_head.weight", {16, 40});
  });
  expect_error([&] { Gpt2::load(lm); }, "lm_head.weight");

  auto ok = write_folder("ok", [](auto& w, auto& n, auto& s) { add_normal(w, n, s); });
  EXPECT_NO_THROW(Gpt2::load(ok));
}

TEST(Engine, RejectsOutOfRangeTokensAndLongPrompts) {
  Gpt2 m = Gpt2::random(small_config(), 1);
  auto attn = softmax_for(m);
  Gpt2Engine e(m, *attn);
  std::vector<int32_t> bad = {1, 2, 40};
  expect_error([&] { e.forward(bad.data(), 1, 3); }, "token ids in [0, 40)");
  bad[2] = -1;
  expect_error([&] { e.forward(bad.data(), 1, 3); }, "got -1");
  std::vector<int32_t> longp(25, 1);
  expect_error([&] { e.forward(longp.data(), 1, 25); }, "at most n_positions = 24");
  expect_error([&] { e.decode_begin(1, 25); }, "n_positions = 24");
  e.decode_begin(1, 2);
  int32_t t = 3;
  e.decode_step(&t);
  e.decode_step(&t);
  expect_error([&] { e.decode_step(&t); }, "at most 2 tokens");
}

TEST(Engine, RandomInitIsSeededAndSaveLoadRoundTrips) {
  Gpt2 a = Gpt2::random(small_config(), 5), b = Gpt2::random(small_config(), 5), c = Gpt2::random(small_config(), 6);
  EXPECT_EQ(std::memcmp(a.wte(), b.wte(), 40 * 16 * 4), 0);
  EXPECT_NE(std::memcmp(a.wte(), c.wte(), 40 * 16 * 4), 0);
  // GPT-2 init statistics: weights N(0, 0.02), residual projections N(0, 0.02 / sqrt(2 n_layer)).
  Gpt2 big = Gpt2::random(config_preset("tiny"), 1);
  double s2 = 0;
  const int64_t n = 128 * 512;
  for (int64_t i = 0; i < n; ++i) s2 += double(big.layer(0).fc_w[i]) * big.layer(0).fc_w[i];
  EXPECT_NEAR(std::sqrt(s2 / n), 0.02, 0.0005);
  s2 = 0;
  for (int64_t i = 0; i < n; ++i) s2 += double(big.layer(0).fcproj_w[i]) * big.layer(0).fcproj_w[i];
  EXPECT_NEAR(std::sqrt(s2 / n), 0.01, 0.0003);  // 0.02 / sqrt(2 * 2)

  std::string dir = test::scratch_dir("model_roundtrip");
  a.save(dir);
  Gpt2 r = Gpt2::load(dir);
  std::vector<int32_t> toks = {1, 5, 9, 39, 0};
  auto at1 = softmax_for(a), at2 = softmax_for(r);
  Gpt2Engine e1(a, *at1), e2(r, *at2);
  const float* l1 = e1.forward(toks.data(), 1, 5);
  std::vector<float> copy(l1, l1 + 5 * 40);
  const float* l2 = e2.forward(toks.data(), 1, 5);
  EXPECT_EQ(std::memcmp(copy.data(), l2, copy.size() * 4), 0);
}

TEST(Engine, LastPositionLogitsEqualTheFullForward) {
  Gpt2 m = Gpt2::random(small_config(), 3);
  auto attn = softmax_for(m);
  Gpt2Engine e(m, *attn);
  std::vector<int32_t> toks = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8};  // B 2 x T 6
  const float* all = e.forward(toks.data(), 2, 6);
  std::vector<float> full(all, all + 12 * 40);
  const float* last2 = e.forward(toks.data(), 2, 6, 2);
  for (int b = 0; b < 2; ++b)
    for (int t = 0; t < 2; ++t)
      for (int v = 0; v < 40; ++v)
        EXPECT_NEAR(last2[(b * 2 + t) * 40 + v], full[(b * 6 + 4 + t) * 40 + v], 1e-6);  // GEMM blocking differs
}

TEST(Sampler, GreedyTopKTopP) {
  std::vector<float> logits = {0.1f, 2.0f, 1.9f, -5.0f, 1.0f};
  EXPECT_EQ(Sampler({0.0f, 0, 1.0f}, 1).sample(logits.data(), 5), 1);
  // top-k 2 only ever returns the two best ids.
  Sampler k2({1.0f, 2, 1.0f}, 7);
  int counts[5] = {};
  for (int i = 0; i < 2000; ++i) counts[k2.sample(logits.data(), 5)]++;
  EXPECT_EQ(counts[0] + counts[3] + counts[4], 0);
  EXPECT_GT(counts[1], counts[2]);  // p ratio e^0.1 = 1.105
  // top-p small enough keeps only the argmax.
  Sampler p({1.0f, 0, 0.2f}, 7);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(p.sample(logits.data(), 5), 1);
  // Plain sampling follows softmax: P(id 3) = e^-5 / Z is tiny, P(1) the largest.
  Sampler s({1.0f, 0, 1.0f}, 11);
  int c2[5] = {};
  for (int i = 0; i < 20000; ++i) c2[s.sample(logits.data(), 5)]++;
  double z = std::exp(0.1) + std::exp(2.0) + std::exp(1.9) + std::exp(-5.0) + std::exp(1.0);
  EXPECT_NEAR(c2[1] / 20000.0, std::exp(2.0) / z, 0.015);
  EXPECT_NEAR(c2[4] / 20000.0, std::exp(1.0) / z, 0.015);
  EXPECT_FALSE((SamplerConfig{-1.0f, 0, 1.0f}.validate().empty()));
  EXPECT_FALSE((SamplerConfig{1.0f, 0, 0.0f}.validate().empty()));
}

TEST(Gpt2Save, ByteLevelModelKeepsItsTokenizerAndHasNoEndOfTextId) {
  Gpt2Config c = small_config();
  c.vocab_size = 256;
  std::string src = test::scratch_dir("save_bytes_src"), dst = test::scratch_dir("save_bytes_dst");
  Gpt2::random(c, 4).save(src);
  write_file_atomic(src + "/tokenizer.json", "{\"type\": \"bytes\"}\n");
  Gpt2::load(src).save(dst);  // a trained model is saved from the loaded one
  EXPECT_EQ(read_file(dst + "/tokenizer.json"), "{\"type\": \"bytes\"}\n");
  const std::string json = read_file(dst + "/config.json");
  EXPECT_EQ(json.find("bos_token_id"), std::string::npos) << json;  // 50256 would be outside the 256 ids
  EXPECT_FALSE(std::filesystem::exists(dst + "/vocab.json"));
  Gpt2Config gpt2_vocab = small_config();
  gpt2_vocab.vocab_size = 50257;
  EXPECT_NE(config_to_json(gpt2_vocab).find("\"eos_token_id\": 50256"), std::string::npos);
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
