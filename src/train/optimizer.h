// AdamW (PyTorch's formulation), the learning-rate schedule and clipping by global norm. All elementwise or
// reduced in a fixed order, so results do not depend on the thread count.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/buffer.h"

namespace gaincell {

// One optimised tensor: its values, gradient, and whether weight decay applies (tensors with >= 2 dims).
struct ParamSpan {
  std::string name;
  float* value = nullptr;
  float* grad = nullptr;
  int64_t numel = 0;
  bool decay = false;
};

struct AdamWConfig {
  float beta1 = 0.9f;
  float beta2 = 0.95f;
  float eps = 1e-8f;
  float weight_decay = 0.1f;
};

// What AdamW::step does besides the update, in the same pass over each span.
struct AdamWFusion {
  bool zero_grads = false;           // leave every span's gradient at 0 (the next step's zero_grad)
  const float* bf16_base = nullptr;  // spans whose values lie in [bf16_base, bf16_base + bf16_count) also write
  uint16_t* bf16 = nullptr;          // their new values rounded to bf16 (core/bf16.h to_bf16) to
  int64_t bf16_count = 0;            // bf16[value - bf16_base]: the next step's bf16 copy of the weights
};

// Holds the first and second moments of every span, in span order (one allocation each).
class AdamW {
 public:
  AdamW(const std::vector<ParamSpan>& spans, AdamWConfig config);
  // One update with learning rate lr; t is the 1-based step number (bias correction). As torch.optim.AdamW:
  // p *= 1 - lr*wd (decayed spans); m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
  // p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
  // grad_scale multiplies every gradient as it is read (clipping fused into the update: one pass less over
  // the gradients); the gradients themselves are left unchanged unless fuse.zero_grads. The values, moments and
  // bf16 copies are the same bits with and without fusion.
  void step(float lr, int64_t t, float grad_scale = 1.0f, const AdamWFusion& fuse = {});
  float* m() { return m_.data(); }
  float* v() { return v_.data(); }
  int64_t size() const { return static_cast<int64_t>(m_.size()); }
  const std::vector<ParamSpan>& spans() const { return spans_; }

 private:
  std::vector<ParamSpan> spans_;
  AdamWConfig config_;
  AlignedBuffer<float> m_, v_;
};

// Global L2 norm of every gradient (double, summed in fixed-size chunks combined in order). When max_norm > 0
// and the norm exceeds it, scales every gradient by max_norm / (norm + 1e-6) (as torch clip_grad_norm_).
// Returns the norm before clipping.
double clip_grad_norm(const std::vector<ParamSpan>& spans, double max_norm);
// The global L2 norm alone (same order as clip_grad_norm), and the factor clipping applies for it: 1 when
// max_norm <= 0 or norm <= max_norm, else max_norm / (norm + 1e-6).
double grad_norm(const std::vector<ParamSpan>& spans);
float clip_factor(double norm, double max_norm);

// Linear warm-up from lr/warmup to lr over `warmup` steps (0-based step s gets lr * (s+1) / warmup), then
// cosine decay from lr to min_lr at step total_steps - 1 (min_lr afterwards).
struct LrSchedule {
  float lr = 6e-4f;
  float min_lr = 6e-5f;
  int64_t warmup = 0;
  int64_t total_steps = 1;
  float at(int64_t step) const;
};

}  // namespace gaincell
