// The Llama family: config.json of llama / mistral / qwen2 and its errors, the weight table, random models,
// KV-cache decoding against the full forward, save/load, sharded folders, BF16 files and hostile folders.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <vector>

#include "analog/hw_config.h"
#include "analog/hw_toml.h"
#include "analog/register.h"
#include "core/error.h"
#include "core/file.h"
#include "expect_close.h"
#include "io/safetensors.h"
#include "kernels/threads.h"
#include "model/attention.h"
#include "model/config.h"
#include "model/engine.h"
#include "model/model.h"
#include "test_paths.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {

template <typename F>
void expect_error(F&& fn, const std::string& fragment) {
  try {
    fn();
    ADD_FAILURE() << "no error; expected one containing '" << fragment << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << "message: " << e.what();
  }
}

// Largest |a - b|, NaN when either holds a NaN.
double max_abs_diff(const float* a, const float* b, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; ++i) {
    double d = std::fabs(double(a[i]) - double(b[i]));
    if (std::isnan(d)) return d;
    m = test::nan_max(m, d);
  }
  return m;
}

ModelConfig tiny_llama() {
  ModelConfig c = config_preset("llama-tiny");
  c.vocab_size = 64;
  c.n_positions = 48;
  return c;
}

std::unique_ptr<Attention> softmax_for(const Model& m) {
  register_digital_attention();
  return create_attention("softmax", m, {});
}

std::vector<int32_t> tokens(int n, int V, int seed) {
  std::vector<int32_t> t(n);
  for (int i = 0; i < n; ++i) t[i] = (i * 7 + seed * 13 + 3) % V;
  return t;
}

const char* kLlamaJson = R"({"model_type": "llama", "hidden_size": 64, "intermediate_size": 96,
  "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 2, "vocab_size": 50,
  "max_position_embeddings": 128, "rms_norm_eps": 1e-6, "rope_theta": 500000.0, "tie_word_embeddings": true,
  "hidden_act": "silu", "rope_scaling": null, "bos_token_id": 1, "eos_token_id": 2})";

TEST(LlamaConfig, ParsesHuggingFaceKeys) {
  ModelConfig c = config_from_json(kLlamaJson);
  EXPECT_EQ(c.family, "llama");
  EXPECT_EQ(c.norm, NormKind::kRMSNorm);
  EXPECT_TRUE(c.rotary());
  EXPECT_EQ(c.mlp, MlpKind::kSwiGLU);
  EXPECT_EQ(c.n_embd, 64);
  EXPECT_EQ(c.ffn_dim(), 96);
  EXPECT_EQ(c.n_head, 4);
  EXPECT_EQ(c.kv_heads(), 2);
  EXPECT_EQ(c.head_dim(), 16);
  EXPECT_EQ(c.n_positions, 128);
  EXPECT_FLOAT_EQ(c.layer_norm_epsilon, 1e-6f);
  EXPECT_DOUBLE_EQ(c.rope_theta, 500000.0);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_FALSE(c.qkv_bias);
  EXPECT_FALSE(c.o_bias);
  EXPECT_EQ(c.bos_token_id, 1);
  EXPECT_EQ(c.eos_token_id, 2);
  // Written back in the HF spelling and read again unchanged.
  ModelConfig back = config_from_json(config_to_json(c));
  EXPECT_EQ(back.n_head, 4);
  EXPECT_EQ(back.kv_heads(), 2);
  EXPECT_EQ(back.ffn_dim(), 96);
  EXPECT_DOUBLE_EQ(back.rope_theta, 500000.0);
  EXPECT_EQ(back.num_parameters(), c.num_parameters());
}

TEST(LlamaConfig, Qwen2HasQkvBiasesAndMistralKeepsItsWindow) {
  std::string q = kLlamaJson;
  q.replace(q.find("\"llama\""), 7, "\"qwen2\"");
  ModelConfig c = config_from_json(q);
  EXPECT_TRUE(c.qkv_bias);
  EXPECT_FALSE(c.o_bias);
  std::string m = kLlamaJson;
  m.replace(m.find("\"llama\""), 7, "\"mistral\"");
  m.insert(1, "\"sliding_window\": 32, ");
  ModelConfig mc = config_from_json(m);
  EXPECT_EQ(mc.sliding_window, 32);
  EXPECT_EQ(attention_context(mc).model_window, 32);
  EXPECT_EQ(config_from_json(config_to_json(mc)).sliding_window, 32);
}

TEST(LlamaConfig, SmolLmPresetHas135MParameters) {
  const ModelConfig c = config_preset("smollm-135m");
  EXPECT_EQ(c.n_layer, 30);
  EXPECT_EQ(c.head_dim(), 64);
  EXPECT_EQ(c.num_parameters(), 134515008);  // HF SmolLM-135M, tied embeddings
  EXPECT_TRUE(c.validate().empty());
}

TEST(LlamaConfig, GeluErfIsAcceptedForGpt2) {
  ModelConfig c = config_from_json(R"({"n_layer": 1, "n_head": 2, "n_embd": 8, "vocab_size": 10,
      "n_positions": 8, "activation_function": "gelu"})");
  EXPECT_EQ(c.mlp, MlpKind::kGeluErf);
  EXPECT_NE(config_to_json(c).find("\"gelu\""), std::string::npos);
}

TEST(LlamaConfig, RejectsHostileFiles) {
  auto with = [](const char* key, const char* value) {
    nlohmann::json j = nlohmann::json::parse(kLlamaJson);
    j[key] = nlohmann::json::parse(value);
    return j.dump();
  };
  const std::pair<std::string, const char*> cases[] = {
      {with("model_type", R"("bert")"), "model_type"},
      {with("rope_scaling", R"({"type": "linear", "factor": 2.0})"), "rope_scaling"},
      {with("hidden_act", R"("gelu")"), "silu"},
      {with("num_key_value_heads", "3"), "n_kv_head"},
      {with("num_attention_heads", "5"), "multiple of n_head"},
      {with("head_dim", "15"), "even"},
      {with("rms_norm_eps", "2.0"), "rms_norm_eps"},
      {with("rope_theta", "-1"), "rope_theta"},
      {with("tie_word_embeddings", R"("yes")"), "tie_word_embeddings"},
      {with("num_hidden_layers", "0"), "positive size"},
      {with("vocab_size", "1.5"), "an integer"},
      {R"({"model_type": "llama", "hidden_size": 64})", "missing key"},
  };
  for (const auto& [json, fragment] : cases) expect_error([&] { config_from_json(json); }, fragment);
}

TEST(LlamaWeights, TableUsesHuggingFaceNames) {
  ModelConfig c = tiny_llama();
  std::vector<WeightSpec> t = weight_table(c);
  EXPECT_EQ(t.front().name, "model.embed_tokens.weight");
  EXPECT_EQ(t[1].name, "model.layers.0.input_layernorm.weight");
  EXPECT_EQ(t[2].name, "model.layers.0.self_attn.q_proj.weight");
  EXPECT_EQ(t[2].shape, (std::vector<int64_t>{128, 128}));
  EXPECT_EQ(t[3].shape, (std::vector<int64_t>{64, 128}));  // k_proj: 2 KV heads of 32
  EXPECT_EQ(t.back().name, "lm_head.weight");              // untied
  int64_t n = 0;
  for (const auto& s : t) n += s.numel();
  EXPECT_EQ(n, c.num_parameters());
  c.family = "qwen2";
  c.qkv_bias = true;
  bool has_bias = false;
  for (const auto& s : weight_table(c)) has_bias = has_bias || s.name == "model.layers.1.self_attn.k_proj.bias";
  EXPECT_TRUE(has_bias);
}

std::vector<float> logits_of(const Model& m, int T);
bool same_bits(const std::vector<float>& a, const std::vector<float>& b);

// Decoding with the KV cache (prefill, then steps) gives the full forward's logits.
void expect_decode_matches_forward(const Model& m, int T) {
  const int V = m.config().vocab_size;
  auto att = softmax_for(m);
  Engine full(m, *att);
  auto seq = tokens(T, V, 1);
  std::vector<float> ref(full.forward(seq.data(), 1, T), full.forward(seq.data(), 1, T) + int64_t(T) * V);
  Engine dec(m, *att);
  dec.decode_begin(1, T);
  const int P = 5;
  const float* lp = dec.decode_prefill(seq.data(), P);
  double worst = max_abs_diff(lp, ref.data() + int64_t(P - 1) * V, V);
  for (int t = P; t < T; ++t) {
    const float* ls = dec.decode_step(&seq[t]);
    worst = test::nan_max(worst, max_abs_diff(ls, ref.data() + int64_t(t) * V, V));
    if (std::isnan(worst)) break;
  }
  EXPECT_TRUE(worst <= 1e-5) << worst;
}

TEST(LlamaEngine, KvCacheDecodingEqualsFullForward) {
  expect_decode_matches_forward(Model::random(tiny_llama(), 3), 23);  // odd length, GQA, untied
  ModelConfig q = tiny_llama();
  q.family = "qwen2";
  q.qkv_bias = true;
  q.o_bias = q.mlp_bias = false;
  q.tie_word_embeddings = true;
  expect_decode_matches_forward(Model::random(q, 4), 17);
}

// Meta's interleaved rotary pairs (2i, 2i + 1) with q/k rows in Meta's order give the logits of HF's half-split
// pairs (i, i + D/2) with the rows in HF's order: the permutation a llama2.c/Meta converter applies.
TEST(LlamaEngine, InterleavedPairsEqualHalfSplitWithPermutedRows) {
  const ModelConfig hf = tiny_llama();
  Model a = Model::random(hf, 12);
  ModelConfig meta = hf;
  meta.rope_pairs = RopePairs::kInterleaved;
  const int D = hf.head_dim();
  std::vector<float> params;
  for (const WeightSpec& s : weight_table(hf)) {
    const float* d = a.tensor_data(s.name);
    const bool qk = s.role == WeightRole::kQ || s.role == WeightRole::kK;
    const int64_t rows = s.shape[0], cols = s.numel() / s.shape[0];
    for (int64_t r = 0; r < rows; ++r) {
      int64_t src = r;
      if (qk) {  // Meta row h D + 2i + j holds HF row h D + j D/2 + i
        const int64_t h = r / D, within = r % D, i = within / 2, j = within % 2;
        src = h * D + j * (D / 2) + i;
      }
      params.insert(params.end(), d + src * cols, d + (src + 1) * cols);
    }
  }
  Model b = Model::view(meta, params.data(), "");
  const auto la = logits_of(a, 11), lb = logits_of(b, 11);
  const double d = max_abs_diff(la.data(), lb.data(), int64_t(la.size()));
  EXPECT_TRUE(d <= 1e-5) << d;
  EXPECT_FALSE(same_bits(la, logits_of(Model::view(hf, params.data(), ""), 11)));  // the pair order matters
}

// Mistral's sliding_window is the sliding backend's default window.
TEST(LlamaEngine, MistralWindowIsTheSlidingDefault) {
  ModelConfig c = tiny_llama();
  c.family = "mistral";
  c.sliding_window = 4;
  Model m = Model::random(c, 13);
  register_digital_attention();
  auto run = [&](const char* name, int window) {
    AttentionOptions o;
    o.window = window;
    auto att = create_attention(name, m, o);
    Engine e(m, *att);
    auto seq = tokens(10, c.vocab_size, 3);
    const float* l = e.forward(seq.data(), 1, 10);
    return std::vector<float>(l, l + 10 * c.vocab_size);
  };
  const auto by_default = run("sliding", 0);
  EXPECT_TRUE(same_bits(by_default, run("sliding", 4)));
  EXPECT_FALSE(same_bits(by_default, run("softmax", 0)));
}

// The gain-cell backends on a Llama model (grouped-query attention, rotary): the streaming decoder, whose
// cache is the arrays, gives the training form's logits (ring tiles, a window that slides within the run).
TEST(LlamaEngine, GainCellDecoderEqualsTrainingForm) {
  register_digital_attention();
  register_analog_attention();
  HardwareConfig hw;
  hw.array.tile_mapping = "ring";
  const std::string toml = test::scratch_dir("llama_gaincell_ring") + "/ring.toml";
  save_hardware_toml(toml, hw);
  Model m = Model::random(tiny_llama(), 14);
  const int T = 20, V = m.config().vocab_size;
  for (const char* kind : {"gaincell-linear", "gaincell"}) {
    AttentionOptions o;
    o.window = 8;
    o.hw_path = toml;
    auto att = create_attention(kind, m, o);
    Engine full(m, *att), dec(m, *att);
    auto seq = tokens(T, V, 4);
    const float* l = full.forward(seq.data(), 1, T);
    std::vector<float> ref(l, l + int64_t(T) * V);
    dec.decode_begin(1, T);
    double worst = max_abs_diff(dec.decode_prefill(seq.data(), 3), ref.data() + 2 * V, V);
    for (int t = 3; t < T; ++t)
      worst = test::nan_max(worst, max_abs_diff(dec.decode_step(&seq[t]), ref.data() + t * V, V));
    EXPECT_TRUE(worst <= 1e-5) << kind << ": " << worst;
  }
}

// Same bits at any thread count (style R9), here for the new kernels (RMSNorm, rotary, SwiGLU, transposed GEMMs),
// in the full forward and in decoding; and Model::random's init rules (norms 1, weights N(0, 0.02)).
TEST(LlamaEngine, SameBitsAtOneAndTwoThreadsAndInitRules) {
  Model m = Model::random(tiny_llama(), 15);
  auto run = [&](int threads) {
    set_compute_threads(threads);
    auto att = softmax_for(m);
    Engine e(m, *att);
    auto seq = tokens(13, m.config().vocab_size, 5);
    const float* l = e.forward(seq.data(), 2, 6);
    std::vector<float> out(l, l + 12 * m.config().vocab_size);
    e.decode_begin(1, 13);
    e.decode_prefill(seq.data(), 4);
    const float* d = e.decode_step(&seq[4]);
    out.insert(out.end(), d, d + m.config().vocab_size);
    return out;
  };
  const auto one = run(1), two = run(2);
  set_compute_threads(0);
  EXPECT_TRUE(same_bits(one, two));
  const float* norm = m.tensor_data("model.layers.1.post_attention_layernorm.weight");
  EXPECT_EQ(norm[0], 1.0f);
  EXPECT_EQ(norm[127], 1.0f);
  const float* w = m.tensor_data("model.layers.0.mlp.down_proj.weight");
  double ss = 0;
  for (int i = 0; i < 128 * 256; ++i) ss += double(w[i]) * w[i];
  const double sd = std::sqrt(ss / (128 * 256));
  EXPECT_TRUE(sd > 0.019 && sd < 0.021) << sd;
}

TEST(LlamaEngine, GenerationRunsToMaxPositions) {
  Model m = Model::random(tiny_llama(), 5);
  auto att = softmax_for(m);
  Engine e(m, *att);
  const int P = m.config().n_positions;
  e.decode_begin(1, P);
  int32_t tok = 1;
  for (int t = 0; t < P; ++t) {
    const float* l = e.decode_step(&tok);
    ASSERT_TRUE(std::isfinite(l[0]));
  }
  EXPECT_EQ(e.decode_position(), P);
  EXPECT_THROW(e.decode_step(&tok), Error);
  EXPECT_THROW(e.decode_begin(1, P + 1), Error);
}

std::vector<float> logits_of(const Model& m, int T) {
  auto att = softmax_for(m);
  Engine e(m, *att);
  auto seq = tokens(T, m.config().vocab_size, 2);
  const float* l = e.forward(seq.data(), 1, T);
  return std::vector<float>(l, l + int64_t(T) * m.config().vocab_size);
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST(LlamaFolder, SaveLoadRoundTripIsBitExact) {
  Model m = Model::random(tiny_llama(), 6);
  const std::string dir = test::scratch_dir("llama_roundtrip");
  m.save(dir);
  SafeTensorsFile f(dir + "/model.safetensors");
  EXPECT_NE(f.find("model.layers.1.mlp.down_proj.weight"), nullptr);
  EXPECT_NE(f.find("lm_head.weight"), nullptr);
  Model back = Model::load(dir);
  EXPECT_EQ(back.config().family, "llama");
  EXPECT_NE(back.lm_head(), back.wte());
  EXPECT_TRUE(same_bits(logits_of(m, 9), logits_of(back, 9)));
  // The float32 weights are read in place from the map: every one starts on a cache line (the writer aligns the
  // data section to 64 bytes and every preset tensor is a multiple of 64 bytes long).
  for (const WeightSpec& s : weight_table(back.config()))
    EXPECT_EQ(reinterpret_cast<uintptr_t>(back.tensor_data(s.name)) % 64, 0u) << s.name;
}

// Writes the model's table tensors into two shards plus the index; `edit` may change the index text.
std::string write_sharded(const Model& m, const std::string& name,
                          const std::function<void(std::string&)>& edit = nullptr) {
  const std::string dir = test::scratch_dir(name);
  write_file_atomic(dir + "/config.json", config_to_json(m.config()));
  std::vector<WeightSpec> t = weight_table(m.config());
  SafeTensorsWriter a, b;
  std::string map;
  for (size_t i = 0; i < t.size(); ++i) {
    const bool first = i < t.size() / 2;
    (first ? a : b).add_f32(t[i].name, t[i].shape, m.tensor_data(t[i].name));
    map += std::string(map.empty() ? "" : ", ") + "\"" + t[i].name + "\": \"model-0000" + (first ? "1" : "2") +
           "-of-00002.safetensors\"";
  }
  a.write(dir + "/model-00001-of-00002.safetensors");
  b.write(dir + "/model-00002-of-00002.safetensors");
  std::string index = "{\"metadata\": {}, \"weight_map\": {" + map + "}}";
  if (edit) edit(index);
  write_file_atomic(dir + "/model.safetensors.index.json", index);
  return dir;
}

TEST(LlamaFolder, TiedModelIgnoresAStoredHead) {
  ModelConfig c = tiny_llama();
  c.tie_word_embeddings = true;
  Model m = Model::random(c, 16);
  const std::string dir = test::scratch_dir("llama_tied_head");
  write_file_atomic(dir + "/config.json", config_to_json(c));
  SafeTensorsWriter w;
  for (const WeightSpec& s : weight_table(c)) w.add_f32(s.name, s.shape, m.tensor_data(s.name));
  std::vector<float> head(size_t(c.vocab_size) * c.n_embd, 0.5f);
  w.add_f32("lm_head.weight", {c.vocab_size, c.n_embd}, head.data());
  w.write(dir + "/model.safetensors");
  Model back = Model::load(dir);
  EXPECT_EQ(back.lm_head(), back.wte());
  EXPECT_TRUE(same_bits(logits_of(m, 5), logits_of(back, 5)));
}

TEST(LlamaFolder, ShardedFolderLoadsEqualToSingleFile) {
  Model m = Model::random(tiny_llama(), 7);
  Model sharded = Model::load(write_sharded(m, "llama_sharded"));
  EXPECT_TRUE(same_bits(logits_of(m, 8), logits_of(sharded, 8)));
}

TEST(LlamaFolder, RejectsHostileShardIndexes) {
  Model m = Model::random(tiny_llama(), 8);
  auto replace = [](std::string from, std::string to) {
    return [from, to](std::string& s) { s.replace(s.find(from), from.size(), to); };
  };
  expect_error(
      [&] { Model::load(write_sharded(m, "shard_missing_file", replace("00002-of-00002", "00003-of-00002"))); },
      "missing shard 'model-00003-of-00002.safetensors'");
  expect_error(
      [&] {
        Model::load(
            write_sharded(m, "shard_wrong_file",
                          replace("\"model-00002-of-00002.safetensors\"}", "\"model-00001-of-00002.safetensors\"}")));
      },
      "is missing from shard");
  expect_error([&] { Model::load(write_sharded(m, "shard_escape", replace("model-00001", "../model-00001"))); },
               "plain shard file name");
  expect_error([&] { Model::load(write_sharded(m, "shard_not_json", [](std::string& s) { s = "{not json"; })); },
               "JSON");
  expect_error([&] { Model::load(write_sharded(m, "shard_no_map", [](std::string& s) { s = "{\"metadata\": {}}"; })); },
               "weight_map");
  // A name not in the table: an extra tensor in the shard, listed by the index.
  const std::string dir = write_sharded(m, "shard_unknown",
                                        replace("{\"metadata\": {}, \"weight_map\": {",
                                                "{\"weight_map\": {\"model.extra.weight\": "
                                                "\"model-00003-of-00002.safetensors\", "));
  SafeTensorsWriter w;
  float one = 1.0f;
  w.add_f32("model.extra.weight", {1}, &one);
  w.write(dir + "/model-00003-of-00002.safetensors");
  expect_error([&] { Model::load(dir); }, "unknown tensor 'model.extra.weight'");
}

TEST(LlamaFolder, Bf16FileLoadsAsItsRoundedWeights) {
  Model m = Model::random(tiny_llama(), 9);
  const std::string dir = test::scratch_dir("llama_bf16");
  write_file_atomic(dir + "/config.json", config_to_json(m.config()));
  SafeTensorsWriter w;
  std::vector<std::vector<float>> rounded;
  for (const WeightSpec& s : weight_table(m.config())) {
    w.add_f32(s.name, s.shape, m.tensor_data(s.name), DType::kBF16);
    const float* d = m.tensor_data(s.name);
    std::vector<float> r(d, d + s.numel());
    for (float& x : r) x = bf16_to_f32(f32_to_bf16(x));
    rounded.push_back(r);
  }
  w.write(dir + "/model.safetensors");
  Model back = Model::load(dir);
  size_t i = 0;
  for (const WeightSpec& s : weight_table(m.config())) {
    const std::vector<float>& r = rounded[i++];
    ASSERT_EQ(std::memcmp(back.tensor_data(s.name), r.data(), r.size() * sizeof(float)), 0) << s.name;
  }
  const auto a = logits_of(m, 6), b = logits_of(back, 6);
  const double d = max_abs_diff(a.data(), b.data(), int64_t(a.size()));
  EXPECT_TRUE(d > 0 && d < 0.5) << d;  // bf16 weights: close, not equal
}

TEST(LlamaFolder, RejectsMissingAndMisshapedTensors) {
  Model m = Model::random(tiny_llama(), 10);
  const std::string dir = test::scratch_dir("llama_missing");
  write_file_atomic(dir + "/config.json", config_to_json(m.config()));
  SafeTensorsWriter w;
  for (const WeightSpec& s : weight_table(m.config()))
    if (s.name != "model.layers.1.mlp.gate_proj.weight") w.add_f32(s.name, s.shape, m.tensor_data(s.name));
  w.write(dir + "/model.safetensors");
  expect_error([&] { Model::load(dir); }, "missing tensor 'model.layers.1.mlp.gate_proj.weight'");
  SafeTensorsWriter w2;
  for (const WeightSpec& s : weight_table(m.config())) {
    std::vector<int64_t> shape = s.shape;
    if (s.name == "model.layers.0.self_attn.k_proj.weight") std::swap(shape[0], shape[1]);  // [in, out]
    w2.add_f32(s.name, shape, m.tensor_data(s.name));
  }
  w2.write(dir + "/model.safetensors");
  expect_error([&] { Model::load(dir); }, "shape [64, 128]");
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
