#include "calibration/head_stats.h"

#include <cmath>

#include "analog/cell_model.h"
#include "core/dist.h"
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

void view_head_moments(std::vector<double>& moments, const HeadRows& x, int64_t n_rows, int n_heads, int D,
                       const float* a, const float* b) {
  moments.assign(size_t(n_heads) * 3, 0.0);
  const double n = double(n_rows) * D;
  for (int h = 0; h < n_heads; ++h) {
    const float A = a ? scale_of(a[h]) : 1.0f, B = b ? b[h] : 0.0f;
    double sum = 0;
    for (int64_t r = 0; r < n_rows; ++r) {
      const float* p = x.at(r, h);
      for (int d = 0; d < D; ++d) sum += double(A * p[d] + B);
    }
    const double m = n > 0 ? sum / n : 0.0;
    double ss = 0;
    for (int64_t r = 0; r < n_rows; ++r) {
      const float* p = x.at(r, h);
      for (int d = 0; d < D; ++d) {
        const double e = double(A * p[d] + B) - m;
        ss += e * e;
      }
    }
    moments[size_t(h) * 3] = n;
    moments[size_t(h) * 3 + 1] = m;
    moments[size_t(h) * 3 + 2] = ss;
  }
}

void view_head_stats(std::vector<float>& mean, std::vector<float>& std, const HeadRows& x, int64_t n_rows, int n_heads,
                     int D, const float* a, const float* b) {
  std::vector<double> mo;
  view_head_moments(mo, x, n_rows, n_heads, D, a, b);
  mean.assign(size_t(n_heads), 0.0f);
  std.assign(size_t(n_heads), 0.0f);
  for (size_t h = 0; h < size_t(n_heads); ++h) {
    const double n = mo[h * 3];
    mean[h] = float(mo[h * 3 + 1]);
    std[h] = n > 1 ? float(std::sqrt(mo[h * 3 + 2] / (n - 1))) : 0.0f;  // unbiased, as torch.std
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

void StatsTap::capture(std::vector<ScalerCalibration>* scalers) {
  capture_ = scalers;
  moments_.clear();
  if (scalers) moments_.resize(scalers->size());
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
  const bool keep_moments = dist_size() > 1;
  const HeadRows* parts[3] = {&qkv.q, &qkv.k, &qkv.v};
  for (int k = 0; k < kPerLayer; ++k) {
    const size_t at = size_t(layer) * kPerLayer + size_t(k);
    ScalerCalibration& c = (*capture_)[at];
    const int n = scaler_heads(s, k);
    if (k != kOut && (c.scale.size() != size_t(n) || c.shift.size() != size_t(n)))
      fail_expected("calibration", std::to_string(n) + " scales and shifts in '" + c.name + "'",
                    std::to_string(c.scale.size()) + " and " + std::to_string(c.shift.size()));
    // The backend's output already holds a_out O + b_out.
    const HeadRows view = k == kOut ? HeadRows{out, s.width(), D} : *parts[k];
    const float* a = k == kOut ? nullptr : c.scale.data();
    const float* b = k == kOut ? nullptr : c.shift.data();
    if (keep_moments)
      view_head_moments(moments_[at], view, rows, n, D, a, b);
    else
      view_head_stats(c.mean, c.std, view, rows, n, D, a, b);
  }
}

void StatsTap::reduce() {
  if (!capture_ || dist_size() == 1) return;
  const AttentionShape& s = shape();
  // Every rank lays out the same entries (zeros where it saw no rows), so rank 0 can cut the gathered vector.
  std::vector<double> mine;
  for (size_t at = 0; at < capture_->size(); ++at) {
    const size_t heads = size_t(scaler_heads(s, int(at % kPerLayer)));
    if (moments_[at].size() != heads * 3) moments_[at].assign(heads * 3, 0.0);
    mine.insert(mine.end(), moments_[at].begin(), moments_[at].end());
  }
  const std::vector<double> all = dist_gather(mine);
  const int ranks = dist_size();
  std::vector<double> stats(mine.size() / 3 * 2);  // (mean, std) per head, every scaler
  if (dist_root())
    for (size_t h = 0; h < mine.size() / 3; ++h) {  // Chan et al.'s pairwise combination, in rank order
      double n = 0, m = 0, ss = 0;
      for (int r = 0; r < ranks; ++r) {
        const double* x = &all[size_t(r) * mine.size() + h * 3];
        if (x[0] == 0) continue;
        const double nn = n + x[0], delta = x[1] - m;
        m += delta * x[0] / nn;
        ss += x[2] + delta * delta * n * x[0] / nn;
        n = nn;
      }
      stats[h * 2] = m;
      stats[h * 2 + 1] = n > 1 ? std::sqrt(ss / (n - 1)) : 0.0;
    }
  dist_broadcast(stats.data(), stats.size());
  size_t h = 0;
  for (size_t at = 0; at < capture_->size(); ++at) {
    ScalerCalibration& c = (*capture_)[at];
    const size_t heads = size_t(scaler_heads(s, int(at % kPerLayer)));
    c.mean.assign(heads, 0.0f);
    c.std.assign(heads, 0.0f);
    for (size_t i = 0; i < heads; ++i, ++h) {
      c.mean[i] = float(stats[h * 2]);
      c.std[i] = float(stats[h * 2 + 1]);
    }
  }
}

}  // namespace gaincell
