// One weight table per family: every parameter tensor with its Hugging Face name, shape, role in the block and
// initialisation rule. It drives loading (names and shapes checked), saving (the family's HF names), random
// initialisation and the training parameter list, so a family's tensor names are spelled here only.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "model/config.h"

namespace gaincell {

// What a tensor is in the block routine. Linear weights are [in, out] in GPT-2 files (HF Conv1D) and
// [out, in] in Llama-family files (HF nn.Linear): see WeightSpec::out_in.
enum class WeightRole {
  kTokenEmbed,     // [V, C]
  kPositionEmbed,  // [n_positions, C] (learned positions only)
  kNorm1,          // [C] weight of the attention norm
  kNorm1Bias,      // [C] (LayerNorm only)
  kQkv,            // [C, 3C] GPT-2's fused c_attn
  kQkvBias,        // [3C]
  kQ,
  kK,
  kV,  // [H D, C], [H_kv D, C], [H_kv D, C]
  kQBias,
  kKBias,
  kVBias,
  kO,  // attention output projection
  kOBias,
  kNorm2,
  kNorm2Bias,
  kUp,  // GPT-2 c_fc [C, 4C]; Llama up_proj [I, C]
  kUpBias,
  kGate,
  kGateBias,  // SwiGLU gate_proj [I, C]
  kDown,      // GPT-2 mlp.c_proj [4C, C]; Llama down_proj [C, I]
  kDownBias,
  kFinalNorm,
  kFinalNormBias,
  kLmHead,  // [V, C] when untied
};

// The projection weights, which --precision bf16 holds in bf16 (model/model.h WeightStorage): kQkv, kQ, kK, kV,
// kO, kUp, kGate, kDown and kLmHead.
bool is_projection(WeightRole r);

enum class WeightInit {
  kNormal,          // N(0, 0.02)
  kResidualNormal,  // N(0, 0.02 / sqrt(2 n_layer)) (GPT-2's residual projections)
  kZero,            // biases
  kOne,             // norm weights
};

struct WeightSpec {
  std::string name;  // as stored in the family's HF files (GPT-2 without the "transformer." prefix)
  std::vector<int64_t> shape;
  WeightRole role;
  int layer = -1;  // block index, -1 for model-level tensors
  WeightInit init = WeightInit::kNormal;
  bool out_in = false;  // a Linear weight stored [out, in] (used with a transposed GEMM, in place)
  int64_t numel() const;
};

// The tensors of a model of config c, in file order (GPT-2: exactly the order and names of HF GPT-2).
std::vector<WeightSpec> weight_table(const ModelConfig& c);

// Name and shape of every table entry (GPT-2's former gpt2_tensor_table).
std::vector<std::pair<std::string, std::vector<int64_t>>> tensor_table(const ModelConfig& c);
inline std::vector<std::pair<std::string, std::vector<int64_t>>> gpt2_tensor_table(const ModelConfig& c) {
  return tensor_table(c);
}

// The name of a separate lm_head tensor in the family's files ("lm_head.weight" for every family so far).
std::string lm_head_name(const ModelConfig& c);
// Prefix that HF files may put before the table names and that loading strips ("transformer." for GPT-2).
std::string stripped_prefix(const ModelConfig& c);
// Non-parameter buffers some HF checkpoints carry (GPT-2's attention masks, Llama's rotary inv_freq).
bool is_ignored_buffer(const ModelConfig& c, const std::string& name);
// Names of tensors that a backend stores with the model (gain-cell scalers and statistics): "....gaincell...."
bool is_backend_tensor(const std::string& name);

}  // namespace gaincell
