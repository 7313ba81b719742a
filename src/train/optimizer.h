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

// Holds the first and second moments of every span, in span order (one allocation each).
class AdamW {
 public:
  AdamW(const std::vector<ParamSpan>& spans, AdamWConfig config);
  // One update with learning rate lr; t is the 1-based step number (bias correction). As torch.optim.AdamW:
  // p *= 1 - lr*wd (decayed spans); m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
  // p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
  void step(float lr, int64_t t);
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
