// Digital attention backends: "softmax" (exact causal) and "sliding" (causal softmax over the last W
// tokens, the current one included; default W: --window, else the model's sliding_window, else
// n_positions). Full sequences use two GEMMs per (batch, head); decoding keeps K and V in the shared ring
// cache (RingKvCache) of min(W, max_tokens) slots.
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

// O[T, D] (row stride ldo) = P[T, T] V[T, D] (row stride ld).
void weighted_values(float* o, int64_t ldo, const float* p, const float* v, int T, int D, int64_t ld) {
  matmul_nn(o, ldo, p, T, v, ld, T, D, T);
}

class SoftmaxAttention : public Attention {
 public:
  SoftmaxAttention(const AttentionContext& ctx, bool sliding)
      : Attention(ctx.shape()), window_(default_window(ctx, sliding)), sliding_(sliding) {
    if (ctx.window < 0) fail_expected("attention", "--window >= 1", std::to_string(ctx.window));
    activity_.resize(ctx.n_layer);
  }

  std::string name() const override { return sliding_ ? "sliding" : "softmax"; }

  void forward(float* out, const QkvView& qkv, int B, int T, int layer) override {
    const AttentionShape& sh = shape();
    const int H = sh.n_head, D = sh.head_dim;
    const int64_t C = sh.width();
    const float scale = 1.0f / std::sqrt(static_cast<float>(D));
    const int nt = num_threads();
    scratch_.resize(static_cast<size_t>(nt) * T * T);
    parallel_for(0, int64_t{B} * H, [&](int64_t bh) {
      const int64_t b = bh / H, h = bh % H, g = sh.kv_of(int(h));
      float* s = scratch_.data() + static_cast<size_t>(omp_get_thread_num()) * T * T;
      probabilities(s, qkv.q.at(b * T, h), qkv.q.row_stride, qkv.k.at(b * T, g), qkv.k.row_stride, T, D, scale);
      weighted_values(out + b * T * C + h * D, C, s, qkv.v.at(b * T, g), T, D, qkv.v.row_stride);
    });
    int64_t pairs = 0;
    for (int i = 0; i < T; ++i) pairs += std::min(i + 1, window_);
    activity_[layer].tokens += int64_t{B} * T;
    activity_[layer].macs += 2 * int64_t{B} * H * pairs * D;
  }

  // Recomputes P per (batch, head), then dP = dO V^T, dV = P^T dO, dS = P * (dP - rowsum(P * dP)),
  // dQ = scale dS K, dK = scale dS^T Q. One task per (batch, KV head) runs the query heads of its group in
  // order, the first writing dK and dV and the others adding to them, so the result does not depend on the
  // thread count.
  void backward(const QkvGrad& dqkv, const float* dout, const QkvView& qkv, int B, int T, int layer) override {
    (void)layer;
    const AttentionShape& sh = shape();
    const int Hkv = sh.n_kv_head, D = sh.head_dim, G = sh.group();
    const int64_t C = sh.width();
    const float scale = 1.0f / std::sqrt(static_cast<float>(D));
    const int nt = num_threads();
    scratch_.resize(static_cast<size_t>(nt) * 2 * T * T);
    parallel_for(0, int64_t{B} * Hkv, [&](int64_t bg) {
      const int64_t b = bg / Hkv, g = bg % Hkv;
      float* p = scratch_.data() + static_cast<size_t>(omp_get_thread_num()) * 2 * T * T;
      float* dp = p + int64_t{T} * T;
      const float *k = qkv.k.at(b * T, g), *v = qkv.v.at(b * T, g);
      const int64_t ldq = qkv.q.row_stride, ldk = qkv.k.row_stride, ldv = qkv.v.row_stride;
      float *dk = dqkv.k.at(b * T, g), *dv = dqkv.v.at(b * T, g);
      for (int j = 0; j < G; ++j) {
        const int64_t h = int64_t{g} * G + j;
        const float beta = j == 0 ? 0.0f : 1.0f;
        const float* q = qkv.q.at(b * T, h);
        float* dq = dqkv.q.at(b * T, h);
        const float* dO = dout + b * T * C + h * D;
        probabilities(p, q, ldq, k, ldk, T, D, scale);
        gemm_deterministic(false, true, T, T, D, 1.0f, dO, C, v, ldv, 0.0f, dp, T);
        gemm_deterministic(true, false, T, D, T, 1.0f, p, T, dO, C, beta, dv, dqkv.v.row_stride);
        for (int i = 0; i < T; ++i) {
          float* pr = p + int64_t{i} * T;
          float* dr = dp + int64_t{i} * T;
          float dot = 0.0f;
          for (int jj = 0; jj <= i; ++jj) dot += pr[jj] * dr[jj];
          for (int jj = 0; jj <= i; ++jj) dr[jj] = pr[jj] * (dr[jj] - dot);
          for (int jj = i + 1; jj < T; ++jj) dr[jj] = 0.0f;
        }
        gemm_deterministic(false, false, T, D, T, scale, dp, T, k, ldk, 0.0f, dq, dqkv.q.row_stride);
        gemm_deterministic(true, false, T, D, T, scale, dp, T, q, ldq, beta, dk, dqkv.k.row_stride);
      }
    });
  }

  std::unique_ptr<AttentionCache> make_cache(int layer, int B, int64_t max_tokens) override {
    const int64_t slots = std::min<int64_t>(window_, std::max<int64_t>(1, max_tokens));
    const int D = shape().head_dim, H = shape().n_head;
    const float scale = 1.0f / std::sqrt(static_cast<float>(D));
    AttentionActivity* act = &activity_[layer];
    return std::make_unique<RingKvCache>(
        shape(), B, slots,
        [D, scale](float* out, const float* q, const float* k, const float* v, int64_t n, float* s) {
          attention_scores(s, q, k, n, D, scale);
          softmax_row(s, n);
          attention_mix(out, s, v, n, D);
        },
        [act, B, H, D](int64_t n) {
          act->tokens += B;
          act->macs += 2 * int64_t{B} * H * n * D;
        });
  }

  std::vector<AttentionActivity> activity() const override { return activity_; }

 private:
  static int default_window(const AttentionContext& ctx, bool sliding) {
    if (!sliding) return ctx.n_positions;
    if (ctx.window > 0) return ctx.window;
    return ctx.model_window > 0 ? ctx.model_window : ctx.n_positions;
  }

  // P[T, T] = masked softmax(scale Q K^T) of one (batch, head); zero outside the causal window.
  void probabilities(float* s, const float* q, int64_t ldq, const float* k, int64_t ldk, int T, int D,
                     float scale) const {
    matmul_nt(s, T, q, ldq, k, ldk, T, T, D, scale);
    for (int i = 0; i < T; ++i) {
      float* row = s + int64_t{i} * T;
      const int lo = std::max(0, i - window_ + 1);
      for (int j = 0; j < lo; ++j) row[j] = 0.0f;
      softmax_row(row + lo, i - lo + 1);
      for (int j = i + 1; j < T; ++j) row[j] = 0.0f;
    }
  }

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
