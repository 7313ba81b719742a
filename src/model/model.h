// Model weights of any family (model/config.h): loaded from a Hugging Face folder (config.json plus
// model.safetensors, or sharded model-0000x-of-0000y.safetensors with model.safetensors.index.json), made at
// random, or saved back in the family's HF names. The weight table (model/weights.h) names every tensor.
// F32 tensors of a loaded file are used in place (memory-mapped, Linear weights in their [out, in] layout);
// F16/BF16 tensors are converted once at load.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/buffer.h"
#include "model/config.h"
#include "model/weights.h"

namespace gaincell {

class SafeTensorsFile;

// Views of one block's parameters; absent tensors are nullptr. Linear weights are [in, out] (GPT-2 Conv1D)
// unless out_in, then [out, in] (HF nn.Linear, used with a transposed GEMM).
struct LayerWeights {
  bool out_in = false;
  const float* ln1_w = nullptr;   // [C] attention norm
  const float* ln1_b = nullptr;   // [C] (LayerNorm)
  const float* attn_w = nullptr;  // [C, 3C] GPT-2 fused q | k | v
  const float* attn_b = nullptr;  // [3C]
  const float* q_w = nullptr;     // [H D, C]
  const float* q_b = nullptr;
  const float* k_w = nullptr;  // [H_kv D, C]
  const float* k_b = nullptr;
  const float* v_w = nullptr;  // [H_kv D, C]
  const float* v_b = nullptr;
  const float* proj_w = nullptr;  // attention output: [C, C] (GPT-2) / o_proj [C, H D]
  const float* proj_b = nullptr;
  const float* ln2_w = nullptr;  // [C] MLP norm
  const float* ln2_b = nullptr;
  const float* fc_w = nullptr;  // GPT-2 c_fc [C, I] / up_proj [I, C]
  const float* fc_b = nullptr;
  const float* gate_w = nullptr;  // SwiGLU gate_proj [I, C]
  const float* gate_b = nullptr;
  const float* fcproj_w = nullptr;  // GPT-2 mlp.c_proj [I, C] / down_proj [C, I]
  const float* fcproj_b = nullptr;
  // The projection weights held in bf16 (WeightStorage::kBf16Projections): set instead of the float32 pointer
  // of the same name, which is then nullptr. Same shapes and layout.
  const uint16_t* attn_w16 = nullptr;
  const uint16_t* q_w16 = nullptr;
  const uint16_t* k_w16 = nullptr;
  const uint16_t* v_w16 = nullptr;
  const uint16_t* proj_w16 = nullptr;
  const uint16_t* fc_w16 = nullptr;
  const uint16_t* gate_w16 = nullptr;
  const uint16_t* fcproj_w16 = nullptr;
};

// How a model holds its weights. kF32: every tensor float32 (training, adaptation, --precision f32).
// kBf16Projections (inference with --precision bf16): the projection weights (roles kQkv, kQ, kK, kV, kO, kUp,
// kGate, kDown and an untied lm_head) held in bf16 only, their float32 values not kept: BF16 tensors of a file
// as stored, F16 / F32 / F64 ones rounded once at load (to nearest even). A tied lm_head is the float32 token
// embedding, which the embedding lookup reads; a bf16 copy of it is kept for the head's GEMM, so decoding reads
// every projection in 16 bits (docs/precision.md). Norms, biases, embeddings and extras stay float32.
enum class WeightStorage { kF32, kBf16Projections };

class Model {
 public:
  // Loads DIR/config.json and DIR/model.safetensors, or the shards named by DIR/model.safetensors.index.json.
  // Every missing tensor or shard, wrong shape, unsupported dtype, tensor not in the family's table or
  // inconsistent config throws Error naming the file and tensor.
  static Model load(const std::string& dir, WeightStorage storage = WeightStorage::kF32);
  // Random weights by the table's init rules: N(0, 0.02); GPT-2's residual projections N(0, 0.02/sqrt(2
  // n_layer)); zero biases; unit norm weights. One random stream per tensor, in table order.
  static Model random(const ModelConfig& config, uint64_t seed);

  // A non-owning view over parameters stored contiguously in weight_table order (the training engine's
  // single allocation); `params` must outlive the view. source_dir is where save() copies tokenizer files from.
  static Model view(const ModelConfig& config, const float* params, const std::string& source_dir);

  // Converts a float32 model's projection weights to bf16 and frees their float32 copies (those it owns; mapped
  // ones are dropped): the model then holds kBf16Projections. No-op when already converted.
  void hold_projections_in_bf16();
  WeightStorage storage() const { return storage_; }

  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;
  ~Model();

  // Writes DIR/config.json and DIR/model.safetensors (F32, the family's HF names; GPT-2 without prefix)
  // atomically, plus every extra tensor (set_extra) and the source folder's tokenizer files.
  // bf16-held projections are written as BF16 tensors.
  void save(const std::string& dir) const;

  const ModelConfig& config() const { return config_; }
  const float* wte() const { return wte_; }  // [V, C] token embedding; also the tied lm_head
  const float* wpe() const { return wpe_; }  // [n_positions, C]; nullptr with rotary positions
  const float* lnf_w() const { return lnf_w_; }
  const float* lnf_b() const { return lnf_b_; }      // nullptr for RMSNorm
  const float* lm_head() const { return lm_head_; }  // [V, C]; == wte() when tied; nullptr when held in bf16
  // The lm_head in bf16 (kBf16Projections: the untied head, or the copy of a tied one), else nullptr.
  const uint16_t* lm_head_bf16() const { return lm_head16_; }
  bool lm_head_tied() const { return tied_head_; }
  const LayerWeights& layer(int l) const { return layers_[l]; }
  // A table tensor by name (throws Error when absent or held in bf16).
  const float* tensor_data(const std::string& name) const;
  // A table tensor held in bf16 by name (throws Error when absent or held in float32).
  const uint16_t* tensor_bf16(const std::string& name) const;

  // Extra float32 tensors stored with the model (for example per-head gain-cell scalers). find_extra returns
  // nullptr when absent and throws when present with a size other than numel.
  const float* find_extra(const std::string& name, int64_t numel) const;
  void set_extra(const std::string& name, const std::vector<int64_t>& shape, const float* data);
  // Names and shapes of the extra tensors, in name order.
  std::vector<std::pair<std::string, std::vector<int64_t>>> extra_table() const;
  // Where the model came from (folder), empty for random models.
  const std::string& source_dir() const { return source_dir_; }
  int64_t weight_bytes() const;  // bytes of parameters read per decoded token (bf16-held ones count 2 bytes)
  // Bytes of every tensor the model holds, by the element size it is held in (4 for float32, 2 for bf16, the
  // bf16 copy of a tied lm_head included), wherever it lives (owned buffers or a file's memory map); extras not
  // counted.
  int64_t storage_bytes() const;
  // Bytes of the buffers the model owns (converted, generated or copied tensors, extras included): what it has
  // allocated beyond the file maps.
  int64_t owned_bytes() const;

 private:
  Model();
  struct Tensor {
    std::vector<int64_t> shape;
    const float* data = nullptr;
    const uint16_t* bf16 = nullptr;  // set instead of data for bf16-held projections
  };
  void bind_views();
  // Replaces t's float32 storage by a bf16 copy (freeing the float32 buffer when owned).
  void convert_to_bf16(Tensor& t);
  const Tensor& tensor(const std::string& name) const;
  void load_tensors(const std::string& dir);

  ModelConfig config_;
  std::string source_dir_;
  std::vector<std::unique_ptr<SafeTensorsFile>> files_;            // keep the memory maps alive
  std::vector<std::unique_ptr<AlignedBuffer<float>>> owned_;       // converted or generated tensors
  std::vector<std::unique_ptr<AlignedBuffer<uint16_t>>> owned16_;  // bf16 tensors converted at load
  std::map<std::string, Tensor> tensors_;                          // table names
  std::map<std::string, Tensor> extras_;
  const float* wte_ = nullptr;
  const float* wpe_ = nullptr;
  const float* lnf_w_ = nullptr;
  const float* lnf_b_ = nullptr;
  const float* lm_head_ = nullptr;
  const uint16_t* lm_head16_ = nullptr;
  std::unique_ptr<AlignedBuffer<uint16_t>> tied_head16_;  // bf16 copy of a tied head (kBf16Projections)
  bool tied_head_ = false;
  WeightStorage storage_ = WeightStorage::kF32;
  std::vector<LayerWeights> layers_;
};
using Gpt2 = Model;  // transition alias

}  // namespace gaincell
