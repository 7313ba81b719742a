#include "calibration/head_stats.h"

#include <cmath>

#include "analog/cell_model.h"
#include "core/error.h"

namespace gaincell {
namespace {

constexpr int kOut = 3, kPerLayer = 4;
bool per_kv_head(int kind) {
  return kind == 1 || kind == 2;
}

}  // namespace

int scaler_heads(const AttentionShape& s, int kind) {
  return per_kv_head(kind) ? s.n_kv_head : s.n_head;
}

void view_head_stats(std::vector<float>& mean, std::vector<float>& std, const HeadRows& x, int64_t n_rows, int n_heads,
                     int D, const float* a, const float* b) {
  mean.assign(size_t(n_heads), 0.0f);
  std.assign(size_t(n_heads), 0.0f);
  const double n = double(n_rows) * D;
  for (int h = 0; h < n_heads; ++h) {
    const float A = a ? scale_of(a[h]) : 1.0f, B = b ? b[h] : 0.0f;
    double sum = 0;
    for (int64_t r = 0; r < n_rows; ++r) {
      const float* p = x.at(r, h);
      for (int d = 0; d < D; ++d) sum += double(A * p[d] + B);
    }
    const double m = sum / n;
    double ss = 0;
    for (int64_t r = 0; r < n_rows; ++r) {
      const float* p = x.at(r, h);
      for (int d = 0; d < D; ++d) {
        const double e = double(A * p[d] + B) - m;
        ss += e * e;
      }
    }
    mean[size_t(h)] = float(m);
    std[size_t(h)] = n > 1 ? float(std::sqrt(ss / (n - 1))) : 0.0f;  // unbiased, as torch.std
  }
}

std::vector<float> to_calibration_layout(const std::vector<float>& v, const AttentionShape& s, int kind,
                                         const std::string& what) {
  const size_t want = size_t(scaler_heads(s, kind));
  if (v.size() == want) return v;
  if (!per_kv_head(kind) || v.size() != size_t(s.n_head))
    fail_expected("calibration",
                  std::to_string(want) + (per_kv_head(kind) ? " (KV heads) or " + std::to_string(s.n_head) : "") +
                      " entries in '" + what + "'",
                  std::to_string(v.size()));
  std::vector<float> r(want, 0.0f);
  const int G = s.group();
  for (int h = 0; h < s.n_head; ++h) r[size_t(s.kv_of(h))] += v[size_t(h)] / float(G);
  return r;
}

void to_backend_layout(float* dst, int64_t dst_n, const std::vector<float>& v, const AttentionShape& s, int kind,
                       const std::string& what) {
  if (v.size() != size_t(scaler_heads(s, kind)))
    fail_expected("calibration", std::to_string(scaler_heads(s, kind)) + " values for '" + what + "'",
                  std::to_string(v.size()));
  if (dst_n == int64_t(v.size())) {
    std::copy(v.begin(), v.end(), dst);
  } else if (per_kv_head(kind) && dst_n == s.n_head) {
    for (int h = 0; h < s.n_head; ++h) dst[h] = v[size_t(s.kv_of(h))];
  } else {
    fail_expected("calibration", std::to_string(v.size()) + " entries in the backend's '" + what + "'",
                  std::to_string(dst_n));
  }
}

void StatsTap::forward(float* out, const QkvView& qkv, int B, int T, int layer) {
  inner_.forward(out, qkv, B, T, layer);
  if (!capture_) return;
  const AttentionShape& s = shape();
  if (capture_->size() < size_t(layer + 1) * kPerLayer)
    fail_expected("calibration", "scalers of layer " + std::to_string(layer) + " to capture into",
                  std::to_string(capture_->size() / kPerLayer) + " layers");
  const int64_t rows = int64_t(B) * T;
  const int D = s.head_dim;
  const HeadRows* parts[3] = {&qkv.q, &qkv.k, &qkv.v};
  for (int k = 0; k < kPerLayer; ++k) {
    ScalerCalibration& c = (*capture_)[size_t(layer) * kPerLayer + size_t(k)];
    const int n = scaler_heads(s, k);
    if (k == kOut) {  // the backend's output already holds a_out O + b_out
      view_head_stats(c.mean, c.std, HeadRows{out, s.width(), D}, rows, n, D, nullptr, nullptr);
    } else {
      if (c.scale.size() != size_t(n) || c.shift.size() != size_t(n))
        fail_expected("calibration", std::to_string(n) + " scales and shifts in '" + c.name + "'",
                      std::to_string(c.scale.size()) + " and " + std::to_string(c.shift.size()));
      view_head_stats(c.mean, c.std, *parts[k], rows, n, D, c.scale.data(), c.shift.data());
    }
  }
}

}  // namespace gaincell
