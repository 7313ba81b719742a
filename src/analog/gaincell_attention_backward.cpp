// GainCellAttention::backward and parameters(): per (sequence, head) tasks in parallel, each writing its own
// slices of dqkv and its own scaler partial sums, reduced in a fixed order (thread-count independent).
#include <vector>

#include "analog/gaincell_attention.h"
#include "analog/gaincell_backward.h"
#include "core/error.h"
#include "core/parallel.h"

namespace gaincell {

void GainCellAttention::backward(const QkvGrad& dqkv, const float* dout, const QkvView& qkv, int B, int T, int layer) {
  if (layer < 0 || layer >= model_->n_layer())
    fail_expected("gaincell", "layer in [0, " + std::to_string(model_->n_layer()) + ")", std::to_string(layer));
  const GainCellModel& m = *model_;
  if (m.hw().noise.read_snr_s_db > 0 || m.hw().noise.read_snr_a_db > 0)  // paper-spec §2.8: eval mode only
    fail_expected("gaincell", "no noise.read_snr_*_db when training (the SNR read noise is evaluation-only)",
                  "read_snr_s_db " + std::to_string(m.hw().noise.read_snr_s_db) + ", read_snr_a_db " +
                      std::to_string(m.hw().noise.read_snr_a_db));
  const int H = m.n_head(), D = m.head_dim(), C = H * D, Hkv = m.n_kv_head(), G = H / Hkv;
  const int64_t ld = qkv.q.row_stride;
  if (qkv.k.row_stride != ld || qkv.v.row_stride != ld || dqkv.q.row_stride != ld || dqkv.k.row_stride != ld ||
      dqkv.v.row_stride != ld)
    fail("gaincell", "q, k, v and their gradient views must share one row stride");
  HeadBackwardParams base = make_head_backward_params(m.hw(), m.window(), linear_);
  const LayerScalers& sc = m.scalers(layer);
  std::vector<HeadScalerGrads> parts(size_t(B) * H);
  // One task per (sequence, KV head): its query heads in order; with more than one, each head's dk, dv go
  // through scratch rows and are added in head order (thread-count independent).
  parallel_for(0, int64_t(B) * Hkv, [&](int64_t task) {
    const int64_t b = task / Hkv, g = task % Hkv, r0 = b * T;
    float *dk = dqkv.k.at(r0, g), *dv = dqkv.v.at(r0, g);
    std::vector<float> sk, sv;
    if (G > 1) sk.assign(size_t(T) * ld, 0.0f), sv.assign(size_t(T) * ld, 0.0f);
    for (int j = 0; j < G; ++j) {
      const int h = int(g) * G + j;
      HeadBackwardParams p = base;
      for (int kind = 0; kind < kNumScalers; ++kind) {  // k and v: the KV head's scalers
        const int i = kind == int(ScalerKind::kK) || kind == int(ScalerKind::kV) ? int(g) : h;
        p.a[kind] = scaler_scale(sc, kind)[i];
        p.b[kind] = scaler_shift(sc, kind)[i];
      }
      float* tk = G > 1 ? sk.data() : dk;
      float* tv = G > 1 ? sv.data() : dv;
      gaincell_head_backward(dqkv.q.at(r0, h), tk, tv, parts[size_t(b) * H + h], dout + size_t(r0) * C + size_t(h) * D,
                             C, qkv.q.at(r0, h), qkv.k.at(r0, g), qkv.v.at(r0, g), ld, T, D, p);
      if (G == 1) continue;
      for (int t = 0; t < T; ++t)
        for (int d = 0; d < D; ++d) {
          const int64_t e = t * ld + d;
          dk[e] = j == 0 ? sk[e] : dk[e] + sk[e];
          dv[e] = j == 0 ? sv[e] : dv[e] + sv[e];
        }
    }
  });
  // q and out per query head; k and v per KV head, summed over the group's query heads (in head order).
  ScalerGrads& g = train_->grads(layer);
  for (int kind = 0; kind < kNumScalers; ++kind) {
    const bool kv = kind == int(ScalerKind::kK) || kind == int(ScalerKind::kV);
    for (int i = 0; i < (kv ? Hkv : H); ++i) {
      double ds = 0, db = 0;
      for (int b = 0; b < B; ++b)
        for (int h = kv ? i * G : i; h < (kv ? (i + 1) * G : i + 1); ++h) {
          ds += parts[size_t(b) * H + h].scale[kind];
          db += parts[size_t(b) * H + h].shift[kind];
        }
      g.scale[kind][i] += float(ds);
      g.shift[kind][i] += float(db);
    }
  }
}

std::vector<ParamView> GainCellAttention::parameters() {
  std::vector<LayerScalers*> layers;
  for (int l = 0; l < model_->n_layer(); ++l) layers.push_back(&model_->scalers(l));
  return train_->parameters(layers);
}

}  // namespace gaincell
