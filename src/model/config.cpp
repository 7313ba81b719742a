#include "model/config.h"

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/json.h"

namespace gaincell {
namespace {

constexpr int kMaxLayers = 1024;
constexpr int kMaxWidth = 1 << 16;
constexpr int kMaxFfn = 1 << 20;
constexpr int kMaxVocab = 1 << 22;
constexpr int kMaxPositions = 1 << 20;

int get_int(const nlohmann::json& j, const char* key, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end()) fail("config", "missing key '" + std::string(key) + "' in '" + where + "'");
  if (!it->is_number_integer())
    fail_expected("config", "an integer for '" + std::string(key) + "'", it->dump(), "in '" + where + "'");
  int64_t v = it->get<int64_t>();
  if (v <= 0 || v > (int64_t{1} << 30))
    fail_expected("config", "a positive size for '" + std::string(key) + "'", std::to_string(v), "in '" + where + "'");
  return static_cast<int>(v);
}

int get_int_or(const nlohmann::json& j, const char* key, int fallback, const std::string& where) {
  auto it = j.find(key);
  return it == j.end() || it->is_null() ? fallback : get_int(j, key, where);
}

// A number in (lo, hi) read as double (range-checked before narrowing: a huge double to float is UB).
double get_number_or(const nlohmann::json& j, const char* key, double fallback, double lo, double hi,
                     const std::string& where) {
  auto it = j.find(key);
  if (it == j.end()) return fallback;
  if (!it->is_number()) fail_expected("config", "a number for '" + std::string(key) + "'", it->dump());
  const double v = it->get<double>();
  if (!(v > lo && v < hi))
    fail_expected(
        "config",
        "'" + std::string(key) + "' in (" + nlohmann::json(lo).dump() + ", " + nlohmann::json(hi).dump() + ")",
        it->dump(), "in '" + where + "'");
  return v;
}

bool get_bool_or(const nlohmann::json& j, const char* key, bool fallback, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_boolean())
    fail_expected("config", "true or false for '" + std::string(key) + "'", it->dump(), "in '" + where + "'");
  return it->get<bool>();
}

std::string get_string_or(const nlohmann::json& j, const char* key, const std::string& fallback) {
  auto it = j.find(key);
  if (it == j.end()) return fallback;
  if (!it->is_string()) fail_expected("config", "a string for '" + std::string(key) + "'", it->dump());
  return it->get<std::string>();
}

int64_t get_token_id(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_integer() && it->get<int64_t>() >= 0 ? it->get<int64_t>() : -1;
}

bool is_tanh_gelu(const std::string& a) {
  return a == "gelu_new" || a == "gelu_pytorch_tanh" || a == "gelu_fast";
}

void parse_gpt2(ModelConfig& c, const nlohmann::json& j, const std::string& where) {
  c.n_layer = get_int(j, "n_layer", where);
  c.n_head = get_int(j, "n_head", where);
  c.n_embd = get_int(j, "n_embd", where);
  c.vocab_size = get_int(j, "vocab_size", where);
  c.n_positions = get_int(j, "n_positions", where);
  if (j.contains("layer_norm_epsilon"))
    c.layer_norm_epsilon = static_cast<float>(get_number_or(j, "layer_norm_epsilon", 1e-5, 0.0, 1.0, where));
  c.activation_function = get_string_or(j, "activation_function", c.activation_function);
  c.mlp = c.activation_function == "gelu" ? MlpKind::kGeluErf : MlpKind::kGeluTanh;
}

// HF LlamaConfig / MistralConfig / Qwen2Config keys; defaults are those of transformers.
void parse_llama(ModelConfig& c, const nlohmann::json& j, const std::string& where) {
  c.norm = NormKind::kRMSNorm;
  c.position = PositionKind::kRotary;
  c.mlp = MlpKind::kSwiGLU;
  c.activation_function = "silu";
  c.n_embd = get_int(j, "hidden_size", where);
  c.intermediate_size = get_int(j, "intermediate_size", where);
  c.n_head = get_int(j, "num_attention_heads", where);
  c.n_kv_head = get_int_or(j, "num_key_value_heads", c.n_head, where);
  c.n_layer = get_int(j, "num_hidden_layers", where);
  c.vocab_size = get_int(j, "vocab_size", where);
  c.n_positions = get_int(j, "max_position_embeddings", where);
  c.head_size = get_int_or(j, "head_dim", 0, where);
  c.layer_norm_epsilon = static_cast<float>(get_number_or(j, "rms_norm_eps", 1e-6, 0.0, 1.0, where));
  c.rope_theta = get_number_or(j, "rope_theta", 10000.0, 0.0, 1e30, where);
  c.tie_word_embeddings = get_bool_or(j, "tie_word_embeddings", false, where);
  const std::string act = get_string_or(j, "hidden_act", "silu");
  if (act != "silu") fail_expected("config", "hidden_act \"silu\" (SwiGLU)", "\"" + act + "\"", "in '" + where + "'");
  if (auto it = j.find("rope_scaling"); it != j.end() && !it->is_null())
    fail_expected("config", "rope_scaling null (scaled rotary embeddings are not supported)", it->dump(),
                  "in '" + where + "'");
  if (c.family == "qwen2") {
    c.qkv_bias = true;  // Qwen2 always has q/k/v biases and none elsewhere
    c.o_bias = c.mlp_bias = false;
    if (get_bool_or(j, "use_sliding_window", false, where))
      fail_expected("config", "use_sliding_window false (Qwen2's per-layer sliding window is not supported)", "true",
                    "in '" + where + "'");
  } else {
    c.qkv_bias = c.o_bias = get_bool_or(j, "attention_bias", false, where);
    c.mlp_bias = get_bool_or(j, "mlp_bias", false, where);
  }
  if (c.family == "mistral") c.sliding_window = get_int_or(j, "sliding_window", 0, where);
  c.bos_token_id = get_token_id(j, "bos_token_id");
  c.eos_token_id = get_token_id(j, "eos_token_id");
}

const char* architecture(const std::string& family) {
  if (family == "mistral") return "MistralForCausalLM";
  if (family == "qwen2") return "Qwen2ForCausalLM";
  return "LlamaForCausalLM";
}

bool is_llama_family(const std::string& f) {
  return f == "llama" || f == "mistral" || f == "qwen2";
}

}  // namespace

std::vector<std::string> ModelConfig::validate() const {
  std::vector<std::string> p;
  auto range = [&](const char* name, int v, int lo, int hi) {
    if (v < lo || v > hi)
      p.push_back(std::string(name) + ": expected " + std::to_string(lo) + ".." + std::to_string(hi) + ", got " +
                  std::to_string(v));
  };
  if (family != "gpt2" && !is_llama_family(family))
    p.push_back("model_type: expected gpt2, llama, mistral or qwen2, got \"" + family + "\"");
  range("n_layer", n_layer, 1, kMaxLayers);
  range("n_head", n_head, 1, kMaxWidth);
  range("n_embd", n_embd, 1, kMaxWidth);
  range("vocab_size", vocab_size, 1, kMaxVocab);
  range("n_positions", n_positions, 1, kMaxPositions);
  range("n_kv_head", n_kv_head, 0, kMaxWidth);
  range("head_dim", head_size, 0, kMaxWidth);
  range("intermediate_size", intermediate_size, 0, kMaxFfn);
  range("sliding_window", sliding_window, 0, kMaxPositions);
  if (head_size == 0 && n_head > 0 && n_embd > 0 && n_embd % n_head != 0)
    p.push_back("n_embd: expected a multiple of n_head (" + std::to_string(n_head) + "), got " +
                std::to_string(n_embd));
  if (n_head > 0 && kv_heads() > 0 && n_head % kv_heads() != 0)
    p.push_back("n_kv_head: expected a divisor of n_head (" + std::to_string(n_head) + "), got " +
                std::to_string(kv_heads()));
  if (rotary() && head_dim() % 2 != 0)
    p.push_back("head_dim: expected an even size for rotary embeddings, got " + std::to_string(head_dim()));
  if (int64_t{n_head} * head_dim() > kMaxWidth)
    p.push_back("n_head x head_dim: expected at most " + std::to_string(kMaxWidth) + ", got " +
                std::to_string(int64_t{n_head} * head_dim()));
  if (!(layer_norm_epsilon > 0.0f && layer_norm_epsilon < 1.0f))
    p.push_back("layer_norm_epsilon: expected a value in (0, 1), got " + std::to_string(layer_norm_epsilon));
  if (rotary() && !(rope_theta > 0.0 && std::isfinite(rope_theta)))
    p.push_back("rope_theta: expected a positive number, got " + std::to_string(rope_theta));
  if (is_gpt2()) {
    if (!is_tanh_gelu(activation_function) && activation_function != "gelu")
      p.push_back("activation_function: expected \"gelu_new\" (tanh GELU) or \"gelu\" (exact erf GELU), got \"" +
                  activation_function + "\"");
    if (norm != NormKind::kLayerNorm || position != PositionKind::kLearned || mlp == MlpKind::kSwiGLU)
      p.push_back("gpt2: expected LayerNorm, learned positions and a GELU MLP");
    if (kv_heads() != n_head || q_dim() != n_embd)
      p.push_back("gpt2: expected n_kv_head = n_head and n_head x head_dim = n_embd");
  } else if (norm != NormKind::kRMSNorm || position != PositionKind::kRotary || mlp != MlpKind::kSwiGLU) {
    p.push_back(family + ": expected RMSNorm, rotary positions and a SwiGLU MLP");
  }
  return p;
}

int64_t ModelConfig::num_parameters() const {
  const int64_t C = n_embd, I = ffn_dim(), Q = q_dim(), KV = kv_dim(), norm_n = norm_has_bias() ? 2 * C : C;
  int64_t attn = C * (Q + 2 * KV) + Q * C + (qkv_bias ? Q + 2 * KV : 0) + (o_bias ? C : 0);
  int64_t mlp_n = mlp == MlpKind::kSwiGLU ? 3 * C * I + (mlp_bias ? 2 * I + C : 0) : 2 * C * I + (mlp_bias ? I + C : 0);
  int64_t per_layer = 2 * norm_n + attn + mlp_n;
  int64_t n = int64_t{vocab_size} * C + n_layer * per_layer + norm_n;
  if (!rotary()) n += int64_t{n_positions} * C;
  if (!tie_word_embeddings) n += int64_t{vocab_size} * C;
  return n;
}

ModelConfig config_from_json(const std::string& text, const std::string& where) {
  nlohmann::json j = parse_json(text, "config", where);
  if (!j.is_object()) fail_expected("config", "a JSON object", j.type_name(), "in '" + where + "'");
  ModelConfig c;
  c.family = get_string_or(j, "model_type", "gpt2");
  if (c.family == "gpt2")
    parse_gpt2(c, j, where);
  else if (is_llama_family(c.family))
    parse_llama(c, j, where);
  else
    fail_expected("config", "model_type gpt2, llama, mistral or qwen2", "\"" + c.family + "\"", "in '" + where + "'");
  auto problems = c.validate();
  if (!problems.empty()) {
    std::string msg = "invalid '" + where + "': " + problems[0];
    for (size_t i = 1; i < problems.size(); ++i) msg += "; " + problems[i];
    fail("config", msg);
  }
  return c;
}

namespace {
constexpr int64_t kGpt2EndOfText = 50256;

std::string gpt2_json(const ModelConfig& c) {
  nlohmann::ordered_json j;
  j["model_type"] = "gpt2";
  j["architectures"] = {"GPT2LMHeadModel"};
  j["n_layer"] = c.n_layer;
  j["n_head"] = c.n_head;
  j["n_embd"] = c.n_embd;
  j["vocab_size"] = c.vocab_size;
  j["n_positions"] = c.n_positions;
  j["n_ctx"] = c.n_positions;
  j["layer_norm_epsilon"] = c.layer_norm_epsilon;
  j["activation_function"] = c.mlp == MlpKind::kGeluErf            ? std::string("gelu")
                             : is_tanh_gelu(c.activation_function) ? c.activation_function
                                                                   : std::string("gelu_new");
  if (c.vocab_size > kGpt2EndOfText) {  // GPT-2's <|endoftext|>; a byte-level model has no such id
    j["bos_token_id"] = kGpt2EndOfText;
    j["eos_token_id"] = kGpt2EndOfText;
  }
  return j.dump(2) + "\n";
}

std::string llama_json(const ModelConfig& c) {
  nlohmann::ordered_json j;
  j["model_type"] = c.family;
  j["architectures"] = {architecture(c.family)};
  j["hidden_size"] = c.n_embd;
  j["intermediate_size"] = c.ffn_dim();
  j["num_attention_heads"] = c.n_head;
  j["num_key_value_heads"] = c.kv_heads();
  j["num_hidden_layers"] = c.n_layer;
  j["head_dim"] = c.head_dim();
  j["hidden_act"] = "silu";
  j["rms_norm_eps"] = c.layer_norm_epsilon;
  j["rope_theta"] = c.rope_theta;
  j["rope_scaling"] = nullptr;
  j["max_position_embeddings"] = c.n_positions;
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  j["vocab_size"] = c.vocab_size;
  if (c.family == "llama") {
    j["attention_bias"] = c.qkv_bias;
    j["mlp_bias"] = c.mlp_bias;
  }
  if (c.family == "mistral")
    j["sliding_window"] = c.sliding_window > 0 ? nlohmann::ordered_json(c.sliding_window) : nullptr;
  if (c.family == "qwen2") j["use_sliding_window"] = false;
  if (c.bos_token_id >= 0) j["bos_token_id"] = c.bos_token_id;
  if (c.eos_token_id >= 0) j["eos_token_id"] = c.eos_token_id;
  j["torch_dtype"] = "float32";
  return j.dump(2) + "\n";
}

ModelConfig llama_shape(int layers, int embd, int heads, int kv_heads, int ffn, int vocab, int positions, bool tied) {
  ModelConfig c;
  c.family = "llama";
  c.norm = NormKind::kRMSNorm;
  c.position = PositionKind::kRotary;
  c.mlp = MlpKind::kSwiGLU;
  c.activation_function = "silu";
  c.qkv_bias = c.o_bias = c.mlp_bias = false;
  c.n_layer = layers, c.n_embd = embd, c.n_head = heads, c.n_kv_head = kv_heads, c.intermediate_size = ffn;
  c.vocab_size = vocab, c.n_positions = positions, c.tie_word_embeddings = tied;
  c.head_size = embd / heads;
  c.rope_theta = 10000.0;
  c.layer_norm_epsilon = 1e-5f;
  return c;
}

}  // namespace

std::string config_to_json(const ModelConfig& c) {
  return c.is_gpt2() ? gpt2_json(c) : llama_json(c);
}

ModelConfig config_preset(const std::string& name) {
  ModelConfig c;
  if (name == "tiny") {
    c.n_layer = 2, c.n_head = 2, c.n_embd = 128;
  } else if (name == "gpt2") {
    c.n_layer = 12, c.n_head = 12, c.n_embd = 768;
  } else if (name == "gpt2-medium") {
    c.n_layer = 24, c.n_head = 16, c.n_embd = 1024;
  } else if (name == "gpt2-large") {
    c.n_layer = 36, c.n_head = 20, c.n_embd = 1280;
  } else if (name == "gpt2-xl") {
    c.n_layer = 48, c.n_head = 25, c.n_embd = 1600;
  } else if (name == "llama-tiny") {
    c = llama_shape(2, 128, 4, 2, 256, 512, 256, false);
  } else if (name == "smollm-135m") {
    c = llama_shape(30, 576, 9, 3, 1536, 49152, 2048, true);
    c.bos_token_id = 0, c.eos_token_id = 0;
  } else {
    std::string known;
    for (const auto& n : config_preset_names()) known += (known.empty() ? "" : "|") + n;
    fail_expected("config", "a preset " + known, "'" + name + "'");
  }
  return c;
}

std::vector<std::string> config_preset_names() {
  return {"tiny", "gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl", "llama-tiny", "smollm-135m"};
}

std::string norm_name(NormKind k) {
  return k == NormKind::kLayerNorm ? "LayerNorm" : "RMSNorm";
}

std::string position_name(const ModelConfig& c) {
  if (!c.rotary()) return "learned";
  char buf[96];
  std::snprintf(buf, sizeof buf, "rotary (theta %g, %s pairs)", c.rope_theta,
                c.rope_pairs == RopePairs::kHalfSplit ? "half-split" : "interleaved");
  return buf;
}

std::string mlp_name(MlpKind k) {
  return k == MlpKind::kGeluTanh ? "gelu_tanh" : k == MlpKind::kGeluErf ? "gelu_erf" : "swiglu";
}

}  // namespace gaincell
