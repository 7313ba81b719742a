// A trainable model of any family (llm.c style): every parameter in one mutable allocation (weight_table
// order), a matching gradient allocation, and activations saved per layer by forward() for backward(). The
// forward is the engine's block routine (model/block.h); the backward beside it covers both families: LayerNorm
// or RMSNorm, learned positions or rotary embedding (either pair order), GELU (tanh or erf) or SwiGLU, fused
// or separate q/k/v projections with grouped-query attention, the biases the config has, and a tied or untied
// lm_head (an untied one is a table tensor, trained like the rest). The attention backend runs through the
// Attention interface, so its backward() and trainable parameters() (scalers) are trained generically.
//
// Buffers are allocated on the first forward of a given size and reused (first touch of memory is slow).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/buffer.h"
#include "model/attention.h"
#include "model/gpt2.h"

namespace gaincell {

// One parameter tensor of the single allocation.
struct TensorSpan {
  std::string name;
  std::vector<int64_t> shape;
  int64_t offset = 0;  // floats from the start of the allocation
  int64_t numel = 0;
};

class TrainModel {
 public:
  // Copies the weights of `init`. `attention` (built for init's config) must outlive the model.
  TrainModel(const Gpt2& init, Attention& attention);

  const Gpt2Config& config() const { return config_; }
  int64_t num_params() const { return static_cast<int64_t>(params_.size()); }
  float* params() { return params_.data(); }
  float* grads() { return grads_.data(); }
  const std::vector<TensorSpan>& tensors() const { return tensors_; }
  // The backend's trainable tensors (values and gradients owned by the backend).
  std::vector<ParamView>& attention_params() { return attention_params_; }
  Attention& attention() { return attention_; }

  // A Gpt2 view over the current parameters (for save()); carries the initial model's extra tensors and the
  // backend parameters' and persistent buffers' (buffers()) current values as extras.
  Gpt2 snapshot() const;

  // Forward over tokens [B, T] (ids validated); returns the logits [B*T, V]. Saves what backward needs.
  const float* forward(const int32_t* tokens, int B, int T);
  // Mean cross-entropy of the last forward against targets [B*T] (no gradient; consumes the logits).
  double loss(const int32_t* targets);
  // Loss of the last forward, L = (1 - distill) * CE + distill * MSE(logits, teacher_logits) (teacher_logits
  // [B*T, V], may be null when distill == 0), and backward: accumulates grad_scale * dL/dparam into grads()
  // and the backend's gradients. Returns L. Consumes the logits.
  double backward(const int32_t* targets, const float* teacher_logits, float distill, float grad_scale);
  // Zeroes grads() and the backend's gradients.
  void zero_grad();

 private:
  void reserve(int B, int T);
  float* act(AlignedBuffer<float>& buf, int l, int64_t width) { return buf.data() + l * n_rows_ * width; }
  void check_tokens(const int32_t* ids, int64_t n, const char* what) const;
  void backward_layer(int l);
  void norm_backward(float* dinp, const float* w, float* dw, float* db, const float* dout, const float* inp,
                     const float* mean, const float* rstd);

  Gpt2Config config_;
  std::string source_dir_;
  Attention& attention_;
  std::vector<TensorSpan> tensors_;
  std::vector<std::pair<std::string, std::vector<float>>> extras_;  // copied from the initial model
  std::vector<std::pair<std::string, std::vector<int64_t>>> extra_shapes_;
  std::vector<ParamView> attention_params_;
  AlignedBuffer<float> params_, grads_;
  // Views of params_ and grads_ through the weight table (Model::view): the block routine reads the
  // parameters; the backward writes the gradients (the views' pointers into grads_, made mutable).
  std::unique_ptr<Model> p_, g_;

  int B_ = 0, T_ = 0;
  int64_t n_rows_ = 0;
  std::vector<int32_t> tokens_;
  // Saved activations: residual stream at each layer input (L + 1, the last = final x), after attention (L),
  // norm outputs and statistics (mean: LayerNorm only), qkv (rotary applied), attention output, MLP
  // pre-activation (SwiGLU: up), gate (SwiGLU) and post-activation, final norm, logits; rotary tables.
  AlignedBuffer<float> res_in_, res_mid_, ln1_, ln1_mean_, ln1_rstd_, qkv_, att_, ln2_, ln2_mean_, ln2_rstd_;
  AlignedBuffer<float> fch_, gate_, fch_gelu_, lnf_, lnf_mean_, lnf_rstd_, logits_, proj_, rope_cos_, rope_sin_;
  // Backward scratch.
  AlignedBuffer<float> dres_, dln_, dqkv_, datt_, dfch_, dgate_, dlogits_, losses_;
};

}  // namespace gaincell
