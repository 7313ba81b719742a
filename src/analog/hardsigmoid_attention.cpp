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

// One (sequence, query head) read of the decoding ring (RingKvCache): the written slots in slot order.
void hardsigmoid_ring_read(float* o, const float* q, const float* k, const float* v, int64_t n, int D) {
  std::fill(o, o + D, 0.0f);
  const float scale = 1.0f / std::sqrt(float(D));
  for (int64_t s = 0; s < n; ++s) {  // slot order
    float acc = 0.0f;
    for (int d = 0; d < D; ++d) acc += q[d] * k[s * D + d];
    float p = std::min(std::max(acc * scale, 0.0f), 1.0f);
    if (p == 0.0f) continue;
    for (int d = 0; d < D; ++d) o[d] += p * v[s * D + d];
  }
}

// Gradients of one (sequence, KV head): the query heads of its group in order; with more than one, each
// head's dk, dv go through a scratch copy and are added in head order (thread-count independent).
class HardSigmoidAttention : public Attention {
 public:
  explicit HardSigmoidAttention(const AttentionContext& ctx)
      : Attention(ctx.shape()), W_(window_of(ctx)), log_(std::make_shared<ActivityLog>(ctx.n_layer)) {
    const AttentionShape& s = shape();
    if (s.n_head < 1 || s.head_dim < 1 || s.n_kv_head < 1 || s.n_head % s.n_kv_head != 0)
      fail_expected("hardsigmoid", "positive n_head and head_dim, and n_kv_head dividing n_head",
                    "n_head " + std::to_string(s.n_head) + ", head_dim " + std::to_string(s.head_dim) + ", n_kv_head " +
                        std::to_string(s.n_kv_head));
  }
  std::string name() const override { return "hardsigmoid"; }

  void forward(float* out, const QkvView& qkv, int B, int T, int layer) override {
    const AttentionShape& sh = shape();
    const int H = sh.n_head, D = sh.head_dim;
    const int64_t C = sh.width(), ld = same_stride(qkv);
    parallel_for(0, int64_t(B) * H, [&](int64_t task) {
      const int64_t b = task / H, h = task % H, g = sh.kv_of(int(h));
      hardsigmoid_head(out + b * T * C + h * D, C, qkv.q.at(b * T, h), qkv.k.at(b * T, g), qkv.v.at(b * T, g), ld, T, D,
                       W_);
    });
    AttentionActivity a;
    a.tokens = int64_t(B) * T;
    for (int i = 0; i < T; ++i) a.macs += int64_t(B) * H * std::min(i + 1, W_) * D * 2;
    log_->add(layer, a);
  }

  void backward(const QkvGrad& dqkv, const float* dout, const QkvView& qkv, int B, int T, int) override {
    const AttentionShape& sh = shape();
    const int Hkv = sh.n_kv_head, D = sh.head_dim, G = sh.group();
    const int64_t C = sh.width(), ld = same_stride(qkv);
    if (dqkv.q.row_stride != ld || dqkv.k.row_stride != ld || dqkv.v.row_stride != ld)
      fail("hardsigmoid", "gradient views must have the row stride of q, k and v");
    parallel_for(0, int64_t(B) * Hkv, [&](int64_t task) {
      const int64_t b = task / Hkv, g = task % Hkv;
      float *dk = dqkv.k.at(b * T, g), *dv = dqkv.v.at(b * T, g);
      std::vector<float> sk, sv;
      if (G > 1) sk.assign(size_t(T) * ld, 0.0f), sv.assign(size_t(T) * ld, 0.0f);
      for (int j = 0; j < G; ++j) {
        const int64_t h = g * G + j;
        float* tk = G > 1 ? sk.data() : dk;
        float* tv = G > 1 ? sv.data() : dv;
        hardsigmoid_head_backward(dqkv.q.at(b * T, h), tk, tv, dout + b * T * C + h * D, C, qkv.q.at(b * T, h),
                                  qkv.k.at(b * T, g), qkv.v.at(b * T, g), ld, T, D, W_);
        if (G > 1) accumulate_rows(dk, dv, sk.data(), sv.data(), ld, T, D, j == 0);
      }
    });
  }

  std::unique_ptr<AttentionCache> make_cache(int layer, int B, int64_t max_tokens) override {
    (void)max_tokens;
    if (B < 1) fail_expected("hardsigmoid", "B >= 1", std::to_string(B));
    const int D = shape().head_dim, H = shape().n_head;
    auto log = log_;
    return std::make_unique<RingKvCache>(
        shape(), B, W_,
        [D](float* out, const float* q, const float* k, const float* v, int64_t n, float*) {
          hardsigmoid_ring_read(out, q, k, v, n, D);
        },
        [log, layer, B, H, D](int64_t n) {
          AttentionActivity a;
          a.tokens = B;
          a.macs = int64_t(B) * H * n * D * 2;
          log->add(layer, a);
        });
  }
  std::vector<AttentionActivity> activity() const override { return log_->snapshot(); }

 private:
  static int64_t same_stride(const QkvView& v) {
    if (v.k.row_stride != v.q.row_stride || v.v.row_stride != v.q.row_stride)
      fail("hardsigmoid", "q, k and v views must share one row stride");
    return v.q.row_stride;
  }
  // dk (+)= sk, dv (+)= sv over T rows of D values (row stride ld); `first` assigns.
  static void accumulate_rows(float* dk, float* dv, const float* sk, const float* sv, int64_t ld, int T, int D,
                              bool first) {
    for (int t = 0; t < T; ++t)
      for (int d = 0; d < D; ++d) {
        const int64_t e = t * ld + d;
        dk[e] = first ? sk[e] : dk[e] + sk[e];
        dv[e] = first ? sv[e] : dv[e] + sv[e];
      }
  }

  int W_;
  std::shared_ptr<ActivityLog> log_;
};

}  // namespace

std::unique_ptr<Attention> make_hardsigmoid_attention(const AttentionContext& ctx) {
  return std::make_unique<HardSigmoidAttention>(ctx);
}

}  // namespace gaincell
