#include "model/sampler.h"

#include <algorithm>
#include <cmath>

namespace gaincell {

std::vector<std::string> SamplerConfig::validate() const {
  std::vector<std::string> p;
  if (!(temperature >= 0.0f) || !std::isfinite(temperature))
    p.push_back("temperature: expected >= 0, got " + std::to_string(temperature));
  if (top_k < 0) p.push_back("top-k: expected >= 0, got " + std::to_string(top_k));
  if (!(top_p > 0.0f && top_p <= 1.0f)) p.push_back("top-p: expected a value in (0, 1], got " + std::to_string(top_p));
  return p;
}

int32_t Sampler::sample(const float* logits, int32_t vocab) {
  if (config_.temperature == 0.0f) return static_cast<int32_t>(std::max_element(logits, logits + vocab) - logits);
  scratch_.resize(vocab);
  for (int32_t i = 0; i < vocab; ++i) scratch_[i] = {logits[i], i};
  // Highest logits first; ties broken by id so the order is fully determined. Plain sampling needs no order.
  auto by_logit = [](const auto& a, const auto& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  int32_t n = vocab;
  if (config_.top_k > 0 && config_.top_k < vocab) {
    std::partial_sort(scratch_.begin(), scratch_.begin() + config_.top_k, scratch_.end(), by_logit);
    n = config_.top_k;
  } else if (config_.top_p < 1.0f) {
    std::sort(scratch_.begin(), scratch_.end(), by_logit);
  } else {
    std::swap(scratch_[0], *std::max_element(scratch_.begin(), scratch_.end(),
                                             [&](const auto& a, const auto& b) { return by_logit(b, a); }));
  }
  const double inv_t = 1.0 / config_.temperature;
  const double mx = scratch_[0].first;
  double total = 0;
  std::vector<double> p(n);
  for (int32_t i = 0; i < n; ++i) total += (p[i] = std::exp((scratch_[i].first - mx) * inv_t));
  if (config_.top_p < 1.0f) {
    double acc = 0;
    int32_t keep = n;
    for (int32_t i = 0; i < n; ++i) {
      acc += p[i] / total;
      if (acc >= config_.top_p) {
        keep = i + 1;
        break;
      }
    }
    n = keep;
    total = 0;
    for (int32_t i = 0; i < n; ++i) total += p[i];
  }
  double u = rng_.uniform_double() * total;
  for (int32_t i = 0; i < n; ++i) {
    u -= p[i];
    if (u < 0) return scratch_[i].second;
  }
  return scratch_[n - 1].second;
}

}  // namespace gaincell
