// Digital attention backends: "softmax" (exact causal) and "sliding" (causal softmax over the last W
// tokens, the current one included). Full sequences use two GEMMs per (batch, head); decoding keeps K and
// V in a ring buffer of min(W, max_tokens) slots.
#include <cmath>
#include <cstring>

#include "core/buffer.h"
#include "core/error.h"
#include "core/parallel.h"
#include "kernels/gemm.h"
#include "kernels/ops.h"
#include "model/attention.h"

namespace gaincell {
namespace {

// S[T, T] = scale * Q[T, D] K[T, D]^T with row stride ld for Q and K.
void scores_qk(float* s, const float* q, const float* k, int T, int D, int64_t ld, float scale) {
  matmul_nt(s, T, q, ld, k, ld, T, T, D, scale);
}

// O[T, D] (row stride ldo) = P[T, T] V[T, D] (row stride ld).
void weighted_values(float* o, int64_t ldo, const float* p, const float* v, int T, int D, int64_t ld) {
  matmul_nn(o, ldo, p, T, v, ld, T, D, T);
}

class SoftmaxCache : public AttentionCache {
 public:
  SoftmaxCache(int B, int H, int D, int64_t slots, AttentionActivity* activity)
      : B_(B), H_(H), D_(D), slots_(slots), activity_(activity) {
    k_.resize(static_cast<size_t>(B) * H * slots * D);
    v_.resize(k_.size());
    scratch_.resize(static_cast<size_t>(B) * H * slots);
  }

  void step(float* out, const float* qkv) override {
    const int64_t C = int64_t{H_} * D_;
    const int64_t slot = pos_ % slots_;
    const int64_t n = std::min<int64_t>(pos_ + 1, slots_);
    const float scale = 1.0f / std::sqrt(static_cast<float>(D_));
    parallel_for(0, int64_t{B_} * H_, [&](int64_t bh) {
      const int64_t b = bh / H_, h = bh % H_;
      const float* row = qkv + b * 3 * C;
      float* kc = k_.data() + bh * slots_ * D_;
      float* vc = v_.data() + bh * slots_ * D_;
      std::memcpy(kc + slot * D_, row + C + h * D_, D_ * sizeof(float));
      std::memcpy(vc + slot * D_, row + 2 * C + h * D_, D_ * sizeof(float));
      const float* q = row + h * D_;
      float* s = scratch_.data() + bh * slots_;
      attention_scores(s, q, kc, n, D_, scale);
      softmax_row(s, n);
      attention_mix(out + b * C + h * D_, s, vc, n, D_);
    }, int64_t{B_} * H_ * n * D_ * 4);
    activity_->tokens += B_;
    activity_->macs += 2 * int64_t{B_} * H_ * n * D_;
    ++pos_;
  }
  int64_t position() const override { return pos_; }
  void reset() override { pos_ = 0; }

 private:
  int B_, H_, D_;
  int64_t slots_;
  int64_t pos_ = 0;
  AttentionActivity* activity_;
  AlignedBuffer<float> k_, v_, scratch_;
};

class SoftmaxAttention : public Attention {
 public:
  SoftmaxAttention(const AttentionContext& ctx, bool sliding)
      : ctx_(ctx), window_(sliding && ctx.window > 0 ? ctx.window : ctx.n_positions), sliding_(sliding) {
    if (ctx.window < 0) fail_expected("attention", "--window >= 1", std::to_string(ctx.window));
    activity_.resize(ctx.n_layer);
  }

  std::string name() const override { return sliding_ ? "sliding" : "softmax"; }

  void forward(float* out, const float* qkv, int B, int T, int layer) override {
    const int H = ctx_.n_head, D = ctx_.head_dim;
    const int64_t C = int64_t{H} * D;
    const float scale = 1.0f / std::sqrt(static_cast<float>(D));
    const int nt = num_threads();
    scratch_.resize(static_cast<size_t>(nt) * T * T);
    parallel_for(0, int64_t{B} * H, [&](int64_t bh) {
      const int64_t b = bh / H, h = bh % H;
      float* s = scratch_.data() + static_cast<size_t>(omp_get_thread_num()) * T * T;
      const float* base = qkv + b * T * 3 * C;
      probabilities(s, base + h * D, base + C + h * D, T, D, 3 * C, scale);
      weighted_values(out + b * T * C + h * D, C, s, base + 2 * C + h * D, T, D, 3 * C);
    });
    int64_t pairs = 0;
    for (int i = 0; i < T; ++i) pairs += std::min(i + 1, window_);
    activity_[layer].tokens += int64_t{B} * T;
    activity_[layer].macs += 2 * int64_t{B} * H * pairs * D;
  }

  // Recomputes P per (batch, head), then dP = dO V^T, dV = P^T dO, dS = P * (dP - rowsum(P * dP)),
  // dQ = scale dS K, dK = scale dS^T Q. Heads write disjoint slices of dqkv, so the result does not depend
  // on the thread count.
  void backward(float* dqkv, const float* dout, const float* qkv, int B, int T, int layer) override {
    (void)layer;
    const int H = ctx_.n_head, D = ctx_.head_dim;
    const int64_t C = int64_t{H} * D;
    const float scale = 1.0f / std::sqrt(static_cast<float>(D));
    const int nt = num_threads();
    scratch_.resize(static_cast<size_t>(nt) * 2 * T * T);
    parallel_for(0, int64_t{B} * H, [&](int64_t bh) {
      const int64_t b = bh / H, h = bh % H;
      float* p = scratch_.data() + static_cast<size_t>(omp_get_thread_num()) * 2 * T * T;
      float* dp = p + int64_t{T} * T;
      const float* base = qkv + b * T * 3 * C;
      const float *q = base + h * D, *k = base + C + h * D, *v = base + 2 * C + h * D;
      float* dbase = dqkv + b * T * 3 * C;
      float *dq = dbase + h * D, *dk = dbase + C + h * D, *dv = dbase + 2 * C + h * D;
      const float* dO = dout + b * T * C + h * D;
      probabilities(p, q, k, T, D, 3 * C, scale);
      gemm_deterministic(false, true, T, T, D, 1.0f, dO, C, v, 3 * C, 0.0f, dp, T);
      gemm_deterministic(true, false, T, D, T, 1.0f, p, T, dO, C, 0.0f, dv, 3 * C);
      for (int i = 0; i < T; ++i) {
        float* pr = p + int64_t{i} * T;
        float* dr = dp + int64_t{i} * T;
        float dot = 0.0f;
        for (int j = 0; j <= i; ++j) dot += pr[j] * dr[j];
        for (int j = 0; j <= i; ++j) dr[j] = pr[j] * (dr[j] - dot);
        for (int j = i + 1; j < T; ++j) dr[j] = 0.0f;
      }
      gemm_deterministic(false, false, T, D, T, scale, dp, T, k, 3 * C, 0.0f, dq, 3 * C);
      gemm_deterministic(true, false, T, D, T, scale, dp, T, q, 3 * C, 0.0f, dk, 3 * C);
    });
  }

  std::unique_ptr<AttentionCache> make_cache(int layer, int B, int64_t max_tokens) override {
    int64_t slots = std::min<int64_t>(window_, std::max<int64_t>(1, max_tokens));
    return std::make_unique<SoftmaxCache>(B, ctx_.n_head, ctx_.head_dim, slots, &activity_[layer]);
  }

  std::vector<AttentionActivity> activity() const override { return activity_; }

 private:
  // P[T, T] = masked softmax(scale Q K^T) of one (batch, head); zero outside the causal window.
  void probabilities(float* s, const float* q, const float* k, int T, int D, int64_t ld, float scale) const {
    scores_qk(s, q, k, T, D, ld, scale);
    for (int i = 0; i < T; ++i) {
      float* row = s + int64_t{i} * T;
      const int lo = std::max(0, i - window_ + 1);
      for (int j = 0; j < lo; ++j) row[j] = 0.0f;
      softmax_row(row + lo, i - lo + 1);
      for (int j = i + 1; j < T; ++j) row[j] = 0.0f;
    }
  }

  AttentionContext ctx_;
  int window_;
  bool sliding_;
  AlignedBuffer<float> scratch_;
  std::vector<AttentionActivity> activity_;
};

}  // namespace

void register_digital_attention() {
  auto& r = attention_registry();
  r.add("softmax", "exact causal softmax attention",
        [](const AttentionContext& c) { return std::make_unique<SoftmaxAttention>(c, false); });
  r.add("sliding", "causal softmax over the last W tokens (--window, default n_positions)",
        [](const AttentionContext& c) { return std::make_unique<SoftmaxAttention>(c, true); });
}

}  // namespace gaincell
