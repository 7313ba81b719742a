#include "analog/hardsigmoid_attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "analog/gaincell_model.h"
#include "core/error.h"
#include "core/parallel.h"

namespace gaincell {

void hardsigmoid_head(float* out, int64_t ld_out, const float* q, const float* k, const float* v, int64_t ld, int T,
                      int D, int window) {
  const float scale = 1.0f / std::sqrt(float(D));
  for (int i = 0; i < T; ++i) {
    float* o = out + i * ld_out;
    std::fill(o, o + D, 0.0f);
    const float* qi = q + i * ld;
    for (int j = std::max(0, i - window + 1); j <= i; ++j) {
      const float* kj = k + j * ld;
      float s = 0.0f;
      for (int d = 0; d < D; ++d) s += qi[d] * kj[d];
      float p = std::min(std::max(s * scale, 0.0f), 1.0f);
      if (p == 0.0f) continue;
      const float* vj = v + j * ld;
      for (int d = 0; d < D; ++d) o[d] += p * vj[d];
    }
  }
}

namespace {

int window_of(const AttentionContext& ctx) {
  if (ctx.window > 0) return ctx.window;
  if (ctx.n_positions > 0) return ctx.n_positions;
  return 1024;
}

// Decoding: a ring of the last W keys and values per (sequence, head), read in slot order.
class HardSigmoidCache : public AttentionCache {
 public:
  HardSigmoidCache(int H, int D, int W, int B, std::shared_ptr<ActivityLog> log, int layer)
      : H_(H), D_(D), W_(W), B_(B), k_(size_t(B) * H * W * D), v_(k_.size()), log_(std::move(log)), layer_(layer) {}

  void step(float* out, const float* qkv) override {
    const int C = H_ * D_;
    const int64_t slot = pos_ % W_, n = std::min<int64_t>(pos_ + 1, W_);
    parallel_for(0, int64_t(B_) * H_, [&](int64_t task) {
      int b = int(task / H_), h = int(task % H_);
      const float* row = qkv + size_t(b) * 3 * C + size_t(h) * D_;
      float* kc = &k_[size_t(task) * W_ * D_];
      float* vc = &v_[size_t(task) * W_ * D_];
      std::copy(row + C, row + C + D_, kc + slot * D_);
      std::copy(row + 2 * C, row + 2 * C + D_, vc + slot * D_);
      float* o = out + size_t(b) * C + size_t(h) * D_;
      std::fill(o, o + D_, 0.0f);
      const float scale = 1.0f / std::sqrt(float(D_));
      for (int64_t s = 0; s < n; ++s) {  // slot order
        float acc = 0.0f;
        for (int d = 0; d < D_; ++d) acc += row[d] * kc[s * D_ + d];
        float p = std::min(std::max(acc * scale, 0.0f), 1.0f);
        if (p == 0.0f) continue;
        for (int d = 0; d < D_; ++d) o[d] += p * vc[s * D_ + d];
      }
    });
    AttentionActivity a;
    a.tokens = B_;
    a.macs = int64_t(B_) * H_ * n * D_ * 2;
    log_->add(layer_, a);
    ++pos_;
  }
  int64_t position() const override { return pos_; }
  void reset() override { pos_ = 0; }

 private:
  int H_, D_, W_, B_;
  std::vector<float> k_, v_;
  std::shared_ptr<ActivityLog> log_;
  int layer_;
  int64_t pos_ = 0;
};

class HardSigmoidAttention : public Attention {
 public:
  explicit HardSigmoidAttention(const AttentionContext& ctx)
      : H_(ctx.n_head), D_(ctx.head_dim), W_(window_of(ctx)), log_(std::make_shared<ActivityLog>(ctx.n_layer)) {
    if (H_ < 1 || D_ < 1) fail_expected("hardsigmoid", "positive n_head and head_dim", std::to_string(H_));
  }
  std::string name() const override { return "hardsigmoid"; }

  void forward(float* out, const float* qkv, int B, int T, int layer) override {
    const int C = H_ * D_;
    parallel_for(0, int64_t(B) * H_, [&](int64_t task) {
      int b = int(task / H_), h = int(task % H_);
      const float* base = qkv + size_t(b) * T * 3 * C + size_t(h) * D_;
      hardsigmoid_head(out + size_t(b) * T * C + size_t(h) * D_, C, base, base + C, base + 2 * C, 3 * C, T, D_, W_);
    });
    AttentionActivity a;
    a.tokens = int64_t(B) * T;
    for (int i = 0; i < T; ++i) a.macs += int64_t(B) * H_ * std::min(i + 1, W_) * D_ * 2;
    log_->add(layer, a);
  }

  void backward(float* dqkv, const float* dout, const float* qkv, int B, int T, int) override {
    const int C = H_ * D_;
    parallel_for(0, int64_t(B) * H_, [&](int64_t task) {
      int b = int(task / H_), h = int(task % H_);
      const size_t row0 = size_t(b) * T * 3 * C + size_t(h) * D_;
      const float* base = qkv + row0;
      hardsigmoid_head_backward(dqkv + row0, dqkv + row0 + C, dqkv + row0 + 2 * C, dout + size_t(b) * T * C + h * D_,
                                C, base, base + C, base + 2 * C, 3 * C, T, D_, W_);
    });
  }

  std::unique_ptr<AttentionCache> make_cache(int layer, int B, int64_t max_tokens) override {
    if (B < 1) fail_expected("hardsigmoid", "B >= 1", std::to_string(B));
    return std::make_unique<HardSigmoidCache>(H_, D_, W_, B, log_, layer);
  }
  std::vector<AttentionActivity> activity() const override { return log_->snapshot(); }

 private:
  int H_, D_, W_;
  std::shared_ptr<ActivityLog> log_;
};

}  // namespace

std::unique_ptr<Attention> make_hardsigmoid_attention(const AttentionContext& ctx) {
  return std::make_unique<HardSigmoidAttention>(ctx);
}

}  // namespace gaincell
