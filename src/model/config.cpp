#include "model/config.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/json.h"

namespace gaincell {
namespace {

constexpr int kMaxLayers = 1024;
constexpr int kMaxWidth = 1 << 16;
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

}  // namespace

std::vector<std::string> Gpt2Config::validate() const {
  std::vector<std::string> p;
  auto range = [&](const char* name, int v, int hi) {
    if (v <= 0 || v > hi)
      p.push_back(std::string(name) + ": expected 1.." + std::to_string(hi) + ", got " + std::to_string(v));
  };
  range("n_layer", n_layer, kMaxLayers);
  range("n_head", n_head, kMaxWidth);
  range("n_embd", n_embd, kMaxWidth);
  range("vocab_size", vocab_size, kMaxVocab);
  range("n_positions", n_positions, kMaxPositions);
  if (n_head > 0 && n_embd > 0 && n_embd % n_head != 0)
    p.push_back("n_embd: expected a multiple of n_head (" + std::to_string(n_head) + "), got " +
                std::to_string(n_embd));
  if (!(layer_norm_epsilon > 0.0f && layer_norm_epsilon < 1.0f))
    p.push_back("layer_norm_epsilon: expected a value in (0, 1), got " + std::to_string(layer_norm_epsilon));
  if (activation_function != "gelu_new" && activation_function != "gelu_pytorch_tanh" &&
      activation_function != "gelu_fast")
    p.push_back("activation_function: expected \"gelu_new\" (tanh GELU), got \"" + activation_function + "\"");
  return p;
}

int64_t Gpt2Config::num_parameters() const {
  int64_t C = n_embd;
  int64_t per_layer = 2 * C + (C * 3 * C + 3 * C) + (C * C + C) + 2 * C + (C * 4 * C + 4 * C) + (4 * C * C + C);
  return int64_t{vocab_size} * C + int64_t{n_positions} * C + n_layer * per_layer + 2 * C;
}

Gpt2Config config_from_json(const std::string& text, const std::string& where) {
  nlohmann::json j = parse_json(text, "config", where);
  if (!j.is_object()) fail_expected("config", "a JSON object", j.type_name(), "in '" + where + "'");
  Gpt2Config c;
  c.n_layer = get_int(j, "n_layer", where);
  c.n_head = get_int(j, "n_head", where);
  c.n_embd = get_int(j, "n_embd", where);
  c.vocab_size = get_int(j, "vocab_size", where);
  c.n_positions = get_int(j, "n_positions", where);
  if (auto it = j.find("layer_norm_epsilon"); it != j.end()) {
    if (!it->is_number()) fail_expected("config", "a number for 'layer_norm_epsilon'", it->dump());
    const double eps = it->get<double>();  // range-checked before narrowing: a huge double to float is UB
    if (!(eps > 0.0 && eps < 1.0))
      fail_expected("config", "'layer_norm_epsilon' in (0, 1)", it->dump(), "in '" + where + "'");
    c.layer_norm_epsilon = static_cast<float>(eps);
  }
  if (auto it = j.find("activation_function"); it != j.end()) {
    if (!it->is_string()) fail_expected("config", "a string for 'activation_function'", it->dump());
    c.activation_function = it->get<std::string>();
  }
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
}  // namespace

std::string config_to_json(const Gpt2Config& c) {
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
  j["activation_function"] = c.activation_function;
  if (c.vocab_size > kGpt2EndOfText) {  // GPT-2's <|endoftext|>; a byte-level model has no such id
    j["bos_token_id"] = kGpt2EndOfText;
    j["eos_token_id"] = kGpt2EndOfText;
  }
  return j.dump(2) + "\n";
}

Gpt2Config config_preset(const std::string& name) {
  Gpt2Config c;
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
  } else {
    fail_expected("config", "a preset tiny|gpt2|gpt2-medium|gpt2-large|gpt2-xl", "'" + name + "'");
  }
  return c;
}

std::vector<std::string> config_preset_names() {
  return {"tiny", "gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl"};
}

}  // namespace gaincell
