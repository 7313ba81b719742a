// IEEE binary16 and bfloat16 <-> float32, bit-exact, round-to-nearest-even (ties to even) on narrowing.
// Narrowing keeps NaNs quiet NaNs (sign and top payload bits kept), maps F16 overflow to +-Inf and produces
// F16 subnormals where the value is below the smallest normal (2^-14). Declared in io/safetensors.h.
#include <cstdint>
#include <cstring>

#include "core/bf16.h"
#include "io/safetensors.h"

namespace gaincell {
namespace {

uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

float bits_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// value >> shift, rounded to nearest, ties to even (shift in 1..31).
uint32_t shift_round_even(uint32_t value, int shift) {
  uint32_t result = value >> shift;
  uint32_t rem = value & ((1u << shift) - 1u);
  uint32_t half = 1u << (shift - 1);
  if (rem > half || (rem == half && (result & 1u))) ++result;
  return result;
}

}  // namespace

float f16_to_f32(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0) {  // zero or subnormal: mant * 2^-24, exact in float32
    float v = static_cast<float>(mant) * 5.9604644775390625e-8f;
    return bits_float(float_bits(v) | sign);
  }
  if (exp == 31) return bits_float(sign | 0x7f800000u | (mant << 13));  // Inf or NaN (payload kept)
  return bits_float(sign | ((exp + 112u) << 23) | (mant << 13));
}

uint16_t f32_to_f16(float f) {
  uint32_t x = float_bits(f);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t exp = (x >> 23) & 0xffu;
  uint32_t mant = x & 0x7fffffu;
  if (exp == 0xff) return static_cast<uint16_t>(sign | (mant ? 0x7e00u | (mant >> 13) : 0x7c00u));
  int e = static_cast<int>(exp) - 127 + 15;  // biased F16 exponent
  if (e >= 31) return static_cast<uint16_t>(sign | 0x7c00u);
  if (e <= 0) {                                       // F16 subnormal (or zero): value / 2^-24 rounded
    if (e < -10) return static_cast<uint16_t>(sign);  // below half the smallest subnormal
    uint32_t full = mant | 0x800000u;                 // 24-bit significand
    return static_cast<uint16_t>(sign | shift_round_even(full, 14 - e));
  }
  // A rounding carry out of the mantissa bumps the exponent, and from 30 to 31 gives Inf: both correct.
  uint32_t rounded = (static_cast<uint32_t>(e) << 10 | (mant >> 13));
  uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (rounded & 1u))) ++rounded;
  return static_cast<uint16_t>(sign | rounded);
}

float bf16_to_f32(uint16_t h) {
  return from_bf16(h);
}

uint16_t f32_to_bf16(float f) {
  return to_bf16(f);
}

}  // namespace gaincell
