// GainCellAttention::backward and parameters(): per (sequence, head) tasks in parallel, each writing its own
// slices of dqkv and its own scaler partial sums, reduced in a fixed order (thread-count independent).
#include <vector>

#include "analog/gaincell_attention.h"
#include "analog/gaincell_backward.h"
#include "core/error.h"
#include "core/parallel.h"

namespace gaincell {

void GainCellAttention::backward(float* dqkv, const float* dout, const float* qkv, int B, int T, int layer) {
  if (layer < 0 || layer >= model_->n_layer())
    fail_expected("gaincell", "layer in [0, " + std::to_string(model_->n_layer()) + ")", std::to_string(layer));
  const GainCellModel& m = *model_;
  if (m.hw().noise.read_snr_s_db > 0 || m.hw().noise.read_snr_a_db > 0)  // paper-spec §2.8: eval mode only
    fail_expected("gaincell", "no noise.read_snr_*_db when training (the SNR read noise is evaluation-only)",
                  "read_snr_s_db " + std::to_string(m.hw().noise.read_snr_s_db) + ", read_snr_a_db " +
                      std::to_string(m.hw().noise.read_snr_a_db));
  const int H = m.n_head(), D = m.head_dim(), C = H * D;
  HeadBackwardParams base = make_head_backward_params(m.hw(), m.window(), linear_);
  const LayerScalers& sc = m.scalers(layer);
  std::vector<HeadScalerGrads> parts(size_t(B) * H);
  parallel_for(0, int64_t(B) * H, [&](int64_t task) {
    const int b = int(task / H), h = int(task % H);
    HeadBackwardParams p = base;
    for (int kind = 0; kind < kNumScalers; ++kind) {
      p.a[kind] = scaler_scale(sc, kind)[h];
      p.b[kind] = scaler_shift(sc, kind)[h];
    }
    const size_t row0 = size_t(b) * T * 3 * C + size_t(h) * D;
    gaincell_head_backward(dqkv + row0, dqkv + row0 + C, dqkv + row0 + 2 * C, parts[task],
                           dout + size_t(b) * T * C + size_t(h) * D, C, qkv + row0, qkv + row0 + C, qkv + row0 + 2 * C,
                           3 * C, T, D, p);
  });
  ScalerGrads& g = train_->grads(layer);
  for (int h = 0; h < H; ++h)
    for (int kind = 0; kind < kNumScalers; ++kind) {
      double ds = 0, db = 0;
      for (int b = 0; b < B; ++b) {
        ds += parts[size_t(b) * H + h].scale[kind];
        db += parts[size_t(b) * H + h].shift[kind];
      }
      g.scale[kind][h] += float(ds);
      g.shift[kind][h] += float(db);
    }
}

std::vector<ParamView> GainCellAttention::parameters() {
  std::vector<LayerScalers*> layers;
  for (int l = 0; l < model_->n_layer(); ++l) layers.push_back(&model_->scalers(l));
  return train_->parameters(layers);
}

}  // namespace gaincell
