#include "analog/quantize.h"

#include <cstdint>

#include "core/simd_v8.h"

namespace gaincell {
namespace {

// Quantizer::apply, L elements at a time (vectors V of floats, I of int32); the tail through the scalar functions.
// Rounding: t = |r| below 2^23 goes to (t + 2^23) - 2^23, an integer rounded half to even (the sum's ulp is 1 and 2^23
// is even); t at or above 2^23 is an integer already, or inf or NaN, and stays; the sign of r is put back. That is
// nearbyint(r) for every r, so the bits of round_half_even (which takes its own magic number below 2^22 and nearbyint
// above). kPow2: the step is a power of two whose inverse is a normal float, and r = v * inv instead of v / step: both
// are the same exact value v * 2^-e rounded once, so the same bits for every v (overflow, subnormals, NaN).
template <bool kPow2, typename V, typename I, int L>
GAINCELL_VECTOR_HELPER void quantize_all(const Quantizer& q, float* out, float* code, const float* x, int64_t n,
                                         bool affine, float a, float b, float inv) {
  const V lo = V{} + q.lo, hi = V{} + q.hi, step = V{} + q.step, two23 = V{} + 8388608.0f;
  int64_t i = 0;
  for (; i + L <= n; i += L) {
    V v = load_vector<V>(x + i);
    if (affine) v = a * v + b;
    v = v < lo ? lo : v;  // std::max(v, lo)
    v = hi < v ? hi : v;  // std::min(v, hi)
    const V r = kPow2 ? v * inv : v / step;
    I ri, ti;
    __builtin_memcpy(&ri, &r, sizeof r);
    ti = ri & 0x7fffffff;
    V t;
    __builtin_memcpy(&t, &ti, sizeof t);
    t = t < two23 ? (t + two23) - two23 : t;  // false for NaN
    __builtin_memcpy(&ti, &t, sizeof t);
    ti |= ri & int32_t(0x80000000u);  // std::copysign(t, r)
    V c;
    __builtin_memcpy(&c, &ti, sizeof c);
    if (out) store_vector(out + i, q.enabled ? step * c : v);
    if (code) store_vector(code + i, c);
  }
  for (; i < n; ++i) {
    const float v = q.clip(affine ? a * x[i] + b : x[i]);
    const float c = Quantizer::round_half_even(v / q.step);
    if (out) out[i] = q.enabled ? q.step * c : v;
    if (code) code[i] = c;
  }
}

// 16-float vectors where the CPU has AVX-512 (compiled for it, picked at run time), 8-float ones in the AVX2 and
// baseline clones (16-float vectors there would take two registers each and spill).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
template <bool kPow2>
__attribute__((target("avx512f"))) void apply_avx512(const Quantizer& q, float* out, float* code, const float* x,
                                                     int64_t n, bool affine, float a, float b, float inv) {
  quantize_all<kPow2, V16, I16, 16>(q, out, code, x, n, affine, a, b, inv);
}
#endif

template <bool kPow2>
GAINCELL_SIMD_CLONES void apply_v8(const Quantizer& q, float* out, float* code, const float* x, int64_t n, bool affine,
                                   float a, float b, float inv) {
  quantize_all<kPow2, V8, I8, 8>(q, out, code, x, n, affine, a, b, inv);
}

template <bool kPow2>
void apply_quantizer(const Quantizer& q, float* out, float* code, const float* x, int64_t n, bool affine, float a,
                     float b, float inv) {
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
  if (avx512_kernels()) return apply_avx512<kPow2>(q, out, code, x, n, affine, a, b, inv);
#endif
  apply_v8<kPow2>(q, out, code, x, n, affine, a, b, inv);
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
