#include "analog/quantize.h"

#include "core/simd_v8.h"

namespace gaincell {
namespace {

// Quantizer::apply, 8 elements at a time; the tail through the scalar functions. Rounding: t = |r| below 2^23
// goes to (t + 2^23) - 2^23, an integer rounded half to even (the sum's ulp is 1 and 2^23 is even); t at or above
// 2^23 is an integer already, or inf or NaN, and stays; the sign of r is put back. That is nearbyint(r) for
// every r, so the bits of round_half_even (which takes its own magic number below 2^22 and nearbyint above).
GAINCELL_SIMD_CLONES void apply_quantizer(const Quantizer& q, float* out, float* code, const float* x, int64_t n,
                                          bool affine, float a, float b) {
  const V8 lo = V8{} + q.lo, hi = V8{} + q.hi, step = V8{} + q.step, two23 = V8{} + 8388608.0f;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    V8 v = load8(x + i);
    if (affine) v = a * v + b;
    v = v < lo ? lo : v;  // std::max(v, lo)
    v = hi < v ? hi : v;  // std::min(v, hi)
    const V8 r = v / step;
    I8 ri, ti;
    __builtin_memcpy(&ri, &r, sizeof r);
    ti = ri & 0x7fffffff;
    V8 t;
    __builtin_memcpy(&t, &ti, sizeof t);
    t = t < two23 ? (t + two23) - two23 : t;  // false for NaN
    __builtin_memcpy(&ti, &t, sizeof t);
    ti |= ri & int32_t(0x80000000u);  // std::copysign(t, r)
    V8 c;
    __builtin_memcpy(&c, &ti, sizeof c);
    if (out) store8(out + i, q.enabled ? step * c : v);
    if (code) store8(code + i, c);
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
  apply_quantizer(*this, out, code, x, n, affine, a, b);
}

}  // namespace gaincell
