#include "analog/gaincell_train.h"

#include <cmath>

namespace gaincell {
namespace {

constexpr double kEmaWeight = 0.1;  // paper-spec §3.2: target <- 0.1 stat + 0.9 target

std::string tensor_base(int layer, int kind) {
  return "h." + std::to_string(layer) + ".attn.gaincell." + scaler_name(kind) + ".";
}

}  // namespace

const char* scaler_name(int kind) {
  static const char* kNames[kNumScalers] = {"q", "k", "v", "out"};
  return kNames[kind];
}

float* scaler_scale(LayerScalers& s, int kind) {
  std::vector<float>* v[kNumScalers] = {&s.q_scale, &s.k_scale, &s.v_scale, &s.out_scale};
  return v[kind]->data();
}

float* scaler_shift(LayerScalers& s, int kind) {
  std::vector<float>* v[kNumScalers] = {&s.q_shift, &s.k_shift, &s.v_shift, &s.out_shift};
  return v[kind]->data();
}

const float* scaler_scale(const LayerScalers& s, int kind) {
  return scaler_scale(const_cast<LayerScalers&>(s), kind);
}

const float* scaler_shift(const LayerScalers& s, int kind) {
  return scaler_shift(const_cast<LayerScalers&>(s), kind);
}

GainCellTrainState::GainCellTrainState(int n_layer, int n_head, int n_kv_head)
    : n_layer_(n_layer),
      n_head_(n_head),
      n_kv_head_(n_kv_head > 0 ? n_kv_head : n_head),
      grads_(n_layer),
      target_(size_t(n_layer) * kNumScalers),
      current_(size_t(n_layer) * kNumScalers) {
  for (auto& g : grads_)
    for (int k = 0; k < kNumScalers; ++k) {
      g.scale[k].assign(heads_of(k), 0.0f);
      g.shift[k].assign(heads_of(k), 0.0f);
    }
  for (auto* v : {&target_, &current_})
    for (size_t i = 0; i < v->size(); ++i) {
      (*v)[i].mean.assign(heads_of(int(i % kNumScalers)), 0.0f);
      (*v)[i].std.assign(heads_of(int(i % kNumScalers)), 0.0f);
    }
}

int GainCellTrainState::heads_of(int kind) const {
  return kind == int(ScalerKind::kK) || kind == int(ScalerKind::kV) ? n_kv_head_ : n_head_;
}

void GainCellTrainState::load_targets(const AttentionContext& ctx) {
  if (!ctx.find_tensor) return;
  for (int l = 0; l < n_layer_; ++l)
    for (int k = 0; k < kNumScalers; ++k) {
      ScalerStats& t = target(l, k);
      const int n = heads_of(k);
      if (const float* m = ctx.find_tensor(tensor_base(l, k) + "target_mean", n)) t.mean.assign(m, m + n);
      if (const float* s = ctx.find_tensor(tensor_base(l, k) + "target_std", n)) t.std.assign(s, s + n);
    }
}

void affine_stats(ScalerStats& st, const float* x, int64_t n_rows, int64_t ld, int n_head, int D, const float* a,
                  const float* b) {
  affine_stats(st, HeadRows{x, ld, D}, n_rows, n_head, 1, D, a, b);
}

void affine_stats(ScalerStats& st, const HeadRows& x, int64_t n_rows, int n_head, int group, int D, const float* a,
                  const float* b) {
  st.mean.assign(n_head, 0.0f);
  st.std.assign(n_head, 0.0f);
  const double n = double(n_rows) * D;
  for (int h = 0; h < n_head; ++h) {
    const float A = a ? scale_of(a[h]) : 1.0f, B = b ? b[h] : 0.0f;
    double sum = 0;
    for (int64_t r = 0; r < n_rows; ++r)
      for (int d = 0; d < D; ++d) sum += double(A * x.at(r, h / group)[d] + B);
    const double mean = sum / n;
    double ss = 0;
    for (int64_t r = 0; r < n_rows; ++r)
      for (int d = 0; d < D; ++d) {
        double e = double(A * x.at(r, h / group)[d] + B) - mean;
        ss += e * e;
      }
    st.mean[h] = float(mean);
    st.std[h] = n > 1 ? float(std::sqrt(ss / (n - 1))) : 0.0f;  // unbiased, as torch.std
  }
}

void GainCellTrainState::observe(const LayerScalers& s, int layer, const QkvView& qkv, const AttentionShape& shape,
                                 const float* out, int B, int T) {
  if (!record_ && !capture_) return;
  const int D = shape.head_dim, C = n_head_ * D;
  const int64_t rows = int64_t(B) * T;
  const HeadRows* parts[3] = {&qkv.q, &qkv.k, &qkv.v};
  for (int k = 0; k < kNumScalers; ++k) {
    ScalerStats st;
    if (k == int(ScalerKind::kOut))
      affine_stats(st, out, rows, C, n_head_, D, nullptr, nullptr);  // out already holds a_out * O + b_out
    else  // q per query head; k and v per KV head (each KV head's rows once)
      affine_stats(st, *parts[k], rows, heads_of(k), 1, D, scaler_scale(s, k), scaler_shift(s, k));
    if (capture_) current_[layer * kNumScalers + k] = st;
    if (record_) {
      ScalerStats& t = target(layer, k);
      for (int h = 0; h < heads_of(k); ++h) {
        t.mean[h] = float(kEmaWeight * st.mean[h] + (1 - kEmaWeight) * t.mean[h]);
        t.std[h] = float(kEmaWeight * st.std[h] + (1 - kEmaWeight) * t.std[h]);
      }
    }
  }
}

std::vector<ParamView> GainCellTrainState::parameters(const std::vector<LayerScalers*>& scalers) {
  std::vector<ParamView> v;
  for (int l = 0; l < n_layer_; ++l)
    for (int k = 0; k < kNumScalers; ++k) {
      std::string base = tensor_base(l, k);
      v.push_back({base + "scale", {heads_of(k)}, scaler_scale(*scalers[l], k), grads_[l].scale[k].data(), false});
      v.push_back({base + "shift", {heads_of(k)}, scaler_shift(*scalers[l], k), grads_[l].shift[k].data(), false});
    }
  return v;
}

std::vector<ParamView> GainCellTrainState::buffers() {
  std::vector<ParamView> v;
  for (int l = 0; l < n_layer_; ++l)
    for (int k = 0; k < kNumScalers; ++k) {
      std::string base = tensor_base(l, k);
      v.push_back({base + "target_mean", {heads_of(k)}, target(l, k).mean.data(), nullptr, false});
      v.push_back({base + "target_std", {heads_of(k)}, target(l, k).std.data(), nullptr, false});
    }
  return v;
}

}  // namespace gaincell
