#include "analog/quantize.h"

#include <cstdint>

#include "core/simd_v8.h"

namespace gaincell {
namespace {

// Quantizer::apply, 16 elements at a time; the tail through the scalar functions. Rounding: t = |r| below 2^23
// goes to (t + 2^23) - 2^23, an integer rounded half to even (the sum's ulp is 1 and 2^23 is even); t at or above
// 2^23 is an integer already, or inf or NaN, and stays; the sign of r is put back. That is nearbyint(r) for
// every r, so the bits of round_half_even (which takes its own magic number below 2^22 and nearbyint above).
// kPow2: the step is a power of two whose inverse is a normal float, and r = v * inv instead of v / step: both
// are the same exact value v * 2^-e rounded once, so the same bits for every v (overflow, subnormals, NaN).
template <bool kPow2>
GAINCELL_SIMD_CLONES_512 void apply_quantizer(const Quantizer& q, float* out, float* code, const float* x, int64_t n,
                                              bool affine, float a, float b, float inv) {
  const V16 lo = V16{} + q.lo, hi = V16{} + q.hi, step = V16{} + q.step, two23 = V16{} + 8388608.0f;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    V16 v = load16(x + i);
    if (affine) v = a * v + b;
    v = v < lo ? lo : v;  // std::max(v, lo)
    v = hi < v ? hi : v;  // std::min(v, hi)
    const V16 r = kPow2 ? v * inv : v / step;
    I16 ri, ti;
    __builtin_memcpy(&ri, &r, sizeof r);
    ti = ri & 0x7fffffff;
    V16 t;
    __builtin_memcpy(&t, &ti, sizeof t);
    t = t < two23 ? (t + two23) - two23 : t;  // false for NaN
    __builtin_memcpy(&ti, &t, sizeof t);
    ti |= ri & int32_t(0x80000000u);  // std::copysign(t, r)
    V16 c;
    __builtin_memcpy(&c, &ti, sizeof c);
    if (out) store16(out + i, q.enabled ? step * c : v);
    if (code) store16(code + i, c);
  }
  for (; i < n; ++i) {
    const float v = q.clip(affine ? a * x[i] + b : x[i]);
    const float c = Quantizer::round_half_even(v / q.step);
    if (out) out[i] = q.enabled ? q.step * c : v;
    if (code) code[i] = c;
  }
}

}  // namespace

void Quantizer::apply(float* out, float* code, const float* x, int64_t n, bool affine, float a, float b) const {
  uint32_t u;
  __builtin_memcpy(&u, &step, sizeof u);
  const uint32_t e = u >> 23 & 0xff;  // biased exponent: step = 2^(e - 127) with no mantissa bits, positive
  const bool pow2 = (u & 0x807fffffu) == 0 && e >= 1 && e <= 253;  // step and 1 / step normal
  const float inv = pow2 ? 1.0f / step : 0.0f;
  pow2 ? apply_quantizer<true>(*this, out, code, x, n, affine, a, b, inv)
       : apply_quantizer<false>(*this, out, code, x, n, affine, a, b, inv);
}

}  // namespace gaincell
