// The model description: what a transformer family is made of (norm, positions, MLP, heads, biases, head),
// as Hugging Face config.json spells it for GPT-2 and the Llama family (llama, mistral, qwen2), with presets
// and validation. Everything else (the weight table, the engine's block routine) is driven by it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace gaincell {

enum class NormKind { kLayerNorm, kRMSNorm };         // LayerNorm (weight + bias) | RMSNorm (weight)
enum class PositionKind { kLearned, kRotary };        // learned wpe rows | rotary embedding on q and k
enum class RopePairs { kHalfSplit, kInterleaved };    // HF rotate_half (i, i + D/2) | Meta (2i, 2i + 1)
enum class MlpKind { kGeluTanh, kGeluErf, kSwiGLU };  // GELU tanh | exact-erf GELU | silu(gate) * up

struct ModelConfig {
  std::string family = "gpt2";  // config.json model_type: gpt2 | llama | mistral | qwen2
  int n_layer = 12;             // transformer blocks
  int n_head = 12;              // query heads per block
  int n_kv_head = 0;            // key/value heads (grouped-query attention); 0 = n_head
  int n_embd = 768;             // model width C
  int head_size = 0;            // head dimension D; 0 = n_embd / n_head (HF "head_dim")
  int vocab_size = 50257;       // rows of the token embedding
  int n_positions = 1024;       // longest context (GPT-2 n_positions = rows of wpe; Llama max_position_embeddings)
  NormKind norm = NormKind::kLayerNorm;
  float layer_norm_epsilon = 1e-5f;  // eps of the norm, LayerNorm or RMSNorm (HF rms_norm_eps)
  PositionKind position = PositionKind::kLearned;
  double rope_theta = 10000.0;
  RopePairs rope_pairs = RopePairs::kHalfSplit;
  MlpKind mlp = MlpKind::kGeluTanh;
  int intermediate_size = 0;  // MLP hidden width; 0 = 4 n_embd
  // GPT-2's activation spelling, written back as read: "gelu_new", "gelu_pytorch_tanh", "gelu_fast" (tanh GELU)
  // or "gelu" (exact erf GELU). Llama-family configs use hidden_act = "silu" (SwiGLU).
  std::string activation_function = "gelu_new";
  bool qkv_bias = true;             // biases of the q, k, v projections (GPT-2, Qwen2, Llama attention_bias)
  bool o_bias = true;               // bias of the attention output projection (GPT-2, Llama attention_bias)
  bool mlp_bias = true;             // biases of the MLP projections (GPT-2, Llama mlp_bias)
  bool tie_word_embeddings = true;  // lm_head = token embedding; else a separate lm_head.weight
  int sliding_window = 0;           // Mistral's sliding_window: the default window of the "sliding" backend; 0 = none
  int64_t bos_token_id = -1, eos_token_id = -1;  // from config.json when given there; -1 = unknown

  int head_dim() const { return head_size > 0 ? head_size : (n_head > 0 ? n_embd / n_head : 0); }
  int kv_heads() const { return n_kv_head > 0 ? n_kv_head : n_head; }
  int ffn_dim() const { return intermediate_size > 0 ? intermediate_size : 4 * n_embd; }
  int64_t q_dim() const { return int64_t{n_head} * head_dim(); }       // width of q rows
  int64_t kv_dim() const { return int64_t{kv_heads()} * head_dim(); }  // width of k and v rows
  int64_t qkv_dim() const { return q_dim() + 2 * kv_dim(); }           // width of the fused q | k | v rows
  bool is_gpt2() const { return family == "gpt2"; }
  bool rotary() const { return position == PositionKind::kRotary; }
  bool norm_has_bias() const { return norm == NormKind::kLayerNorm; }

  // Every problem found, one line each; empty when valid.
  std::vector<std::string> validate() const;
  int64_t num_parameters() const;  // with a tied lm_head counted once
};
using Gpt2Config = ModelConfig;  // transition alias: GPT-2 is one description

// Parses config.json text: GPT-2 (model_type "gpt2" or absent) or the Llama family (model_type "llama",
// "mistral", "qwen2"). Missing or mistyped keys, unsupported features (rope_scaling, hidden_act other than
// silu) and invalid sizes throw Error("config", ...) naming the key, what was expected and what was found.
// `where` names the file in messages.
ModelConfig config_from_json(const std::string& text, const std::string& where = "config.json");
// The Hugging Face spelling of the config's family.
std::string config_to_json(const ModelConfig& c);

// Presets: GPT-2 tiny (2 layers, 2 heads, 128 dims), gpt2, gpt2-medium, gpt2-large, gpt2-xl; Llama
// llama-tiny (2 layers, 128 dims, 4 heads, 2 KV heads of 32, SwiGLU 256, vocab 512, 256 positions, untied
// lm_head: for tests) and smollm-135m (SmolLM-135M's shape). Unknown names throw.
ModelConfig config_preset(const std::string& name);
std::vector<std::string> config_preset_names();

// "LayerNorm" / "RMSNorm", "learned" / "rotary (theta 10000, half-split)", "gelu_tanh" / "gelu_erf" / "swiglu".
std::string norm_name(NormKind k);
std::string position_name(const ModelConfig& c);
std::string mlp_name(MlpKind k);

}  // namespace gaincell
