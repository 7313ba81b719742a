// Clip-and-quantise of one converter (paper-spec §2.6): clip to [lo, hi], then step * round(x / step) with
// round-half-to-even relative to 0 (std::nearbyint in the default rounding mode, like torch.round).
// Computed in float32 with the step rounded to float, as the PyTorch reference does.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "analog/hw_config.h"

namespace gaincell {

struct Quantizer {
  bool enabled = false;
  float lo = 0.0f, hi = 1.0f, step = 1.0f;

  Quantizer() = default;
  explicit Quantizer(const QuantizerConfig& c)
      : enabled(c.enabled), lo(float(c.lo)), hi(float(c.hi)), step(float(quant_step(c))) {}

  float clip(float x) const { return std::min(std::max(x, lo), hi); }
  float quantize(float x) const { return enabled ? step * round_half_even(x / step) : x; }
  // std::nearbyint in the default rounding mode, inline: below 2^22 in magnitude, adding and subtracting
  // 1.5 * 2^23 rounds to the nearest integer, ties to even (the constant is even); copysign keeps -0.0.
  static float round_half_even(float r) {
    constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23
    if (!(std::fabs(r) < 4194304.0f)) return std::nearbyint(r);
    float sum = r + kMagic;  // IEEE semantics (no -ffast-math): not folded away
    return std::copysign(sum - kMagic, r);
  }
  float operator()(float x) const { return quantize(clip(x)); }
  // For i < n: out[i] = (*this)(x[i]), or of a * x[i] + b with `affine` (float, as the scalar expression), and
  // code[i] = round_half_even(clip(that) / step), the integer the quantiser outputs; out or code may be null.
  // Vectorized (quantize.cpp) with the scalar functions' bits.
  void apply(float* out, float* code, const float* x, int64_t n, bool affine = false, float a = 1.0f,
             float b = 0.0f) const;
};

}  // namespace gaincell
