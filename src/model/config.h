// GPT-2 hyper-parameters as Hugging Face config.json spells them, with presets and validation.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace gaincell {

struct Gpt2Config {
  int n_layer = 12;                  // transformer blocks
  int n_head = 12;                   // attention heads per block
  int n_embd = 768;                  // model width C; head dim = n_embd / n_head
  int vocab_size = 50257;            // rows of wte
  int n_positions = 1024;            // rows of wpe = longest context
  float layer_norm_epsilon = 1e-5f;  // LayerNorm eps
  std::string activation_function = "gelu_new";  // only the tanh GELU ("gelu_new", "gelu_pytorch_tanh")

  int head_dim() const { return n_embd / n_head; }
  // Every problem found, one line each; empty when valid.
  std::vector<std::string> validate() const;
  int64_t num_parameters() const;  // with tied lm_head counted once
};

// Parses config.json text; missing or mistyped keys and invalid sizes throw Error("config", ...) naming
// the key, what was expected and what was found. `where` names the file in messages.
Gpt2Config config_from_json(const std::string& text, const std::string& where = "config.json");
std::string config_to_json(const Gpt2Config& c);

// Presets: tiny (2 layers, 2 heads, 128 dims), gpt2, gpt2-medium, gpt2-large, gpt2-xl. Unknown names throw.
Gpt2Config config_preset(const std::string& name);
std::vector<std::string> config_preset_names();

}  // namespace gaincell
