// GPT-2 weights: loaded from a Hugging Face folder (config.json + model.safetensors), made at random with
// GPT-2 initialisation, or saved back to the same format. F32 tensors of a loaded file are used in place
// (memory-mapped); F16/BF16 tensors are converted once at load.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/buffer.h"
#include "model/config.h"

namespace gaincell {

class SafeTensorsFile;

// Views of one block's parameters. Linear weights are [in, out] (HF Conv1D layout).
struct LayerWeights {
  const float* ln1_w;      // [C]
  const float* ln1_b;      // [C]
  const float* attn_w;     // [C, 3C]
  const float* attn_b;     // [3C]
  const float* proj_w;     // [C, C]
  const float* proj_b;     // [C]
  const float* ln2_w;      // [C]
  const float* ln2_b;      // [C]
  const float* fc_w;       // [C, 4C]
  const float* fc_b;       // [4C]
  const float* fcproj_w;   // [4C, C]
  const float* fcproj_b;   // [C]
};

class Gpt2 {
 public:
  // Loads DIR/config.json and DIR/model.safetensors. Every missing tensor, wrong shape, unsupported dtype or
  // inconsistent config throws Error naming the file and tensor.
  static Gpt2 load(const std::string& dir);
  // Random weights with GPT-2 initialisation: N(0, 0.02), residual projections N(0, 0.02/sqrt(2 n_layer)),
  // zero biases, unit LayerNorm weights.
  static Gpt2 random(const Gpt2Config& config, uint64_t seed);

  // A non-owning view over parameters stored contiguously in gpt2_tensor_table order (the training engine's
  // single allocation); `params` must outlive the view. source_dir is where save() copies tokenizer files from.
  static Gpt2 view(const Gpt2Config& config, const float* params, const std::string& source_dir);

  Gpt2(Gpt2&&) noexcept;
  Gpt2& operator=(Gpt2&&) noexcept;
  ~Gpt2();

  // Writes DIR/config.json and DIR/model.safetensors (F32, HF names without prefix, lm_head tied) atomically,
  // plus every extra tensor (set_extra) and the given metadata.
  void save(const std::string& dir) const;

  const Gpt2Config& config() const { return config_; }
  const float* wte() const { return wte_; }  // [V, C]; also the tied lm_head
  const float* wpe() const { return wpe_; }  // [n_positions, C]
  const float* lnf_w() const { return lnf_w_; }
  const float* lnf_b() const { return lnf_b_; }
  const float* lm_head() const { return lm_head_; }  // [V, C]; == wte() when tied
  const LayerWeights& layer(int l) const { return layers_[l]; }

  // Extra float32 tensors stored with the model (for example per-head gain-cell scalers). find_extra returns
  // nullptr when absent and throws when present with a size other than numel.
  const float* find_extra(const std::string& name, int64_t numel) const;
  void set_extra(const std::string& name, const std::vector<int64_t>& shape, const float* data);
  // Names and shapes of the extra tensors, in name order.
  std::vector<std::pair<std::string, std::vector<int64_t>>> extra_table() const;
  // Where the model came from (folder), empty for random models.
  const std::string& source_dir() const { return source_dir_; }
  int64_t weight_bytes() const;  // bytes of float32 parameters read per decoded token

 private:
  Gpt2();
  struct Tensor {
    std::vector<int64_t> shape;
    const float* data = nullptr;
  };
  void bind_views();
  const Tensor& tensor(const std::string& name) const;

  Gpt2Config config_;
  std::string source_dir_;
  std::unique_ptr<SafeTensorsFile> file_;           // keeps the memory map alive
  std::vector<std::unique_ptr<AlignedBuffer<float>>> owned_;  // converted or generated tensors
  std::map<std::string, Tensor> tensors_;          // canonical names (no "transformer." prefix)
  std::map<std::string, Tensor> extras_;
  const float* wte_ = nullptr;
  const float* wpe_ = nullptr;
  const float* lnf_w_ = nullptr;
  const float* lnf_b_ = nullptr;
  const float* lm_head_ = nullptr;
  std::vector<LayerWeights> layers_;
};

// The canonical tensor list of a GPT-2 (name and shape), in file order.
std::vector<std::pair<std::string, std::vector<int64_t>>> gpt2_tensor_table(const Gpt2Config& c);

}  // namespace gaincell
