// Next-token sampling: greedy at temperature 0, else softmax(logits / T) restricted to the top-k tokens and
// to the smallest set whose probability reaches top-p, drawn with an explicit Rng.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/rng.h"

namespace gaincell {

struct SamplerConfig {
  float temperature = 1.0f;  // 0 = greedy (argmax)
  int top_k = 0;             // 0 = off
  float top_p = 1.0f;        // 1 = off; in (0, 1]
  std::vector<std::string> validate() const;
};

class Sampler {
 public:
  explicit Sampler(const SamplerConfig& config, uint64_t seed) : config_(config), rng_(seed) {}
  int32_t sample(const float* logits, int32_t vocab);

 private:
  SamplerConfig config_;
  Rng rng_;
  std::vector<std::pair<float, int32_t>> scratch_;
};

}  // namespace gaincell
