// bfloat16 <-> float32: the upper 16 bits of a float32 (8 exponent bits, 7 stored mantissa bits). One definition
// for the whole tree: the safetensors BF16 reader and writer (io/half_float.cpp) and the bf16 projections
// (kernels/bf16.h, docs/precision.md).
#pragma once
#include <cstdint>
#include <cstring>

namespace gaincell {

// float32 -> bf16 bits, rounded to nearest, ties to even. NaN stays NaN (quiet, sign kept, never rounded into
// Inf); +-Inf stays +-Inf; finite values beyond the largest bf16 (about 3.39e38) round to +-Inf, as IEEE does.
// Branch-free (the NaN case is a select), so that loops over arrays of it vectorize (kernels/bf16.cpp,
// kernels/gemm_bf16.cpp).
inline uint16_t to_bf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  const uint32_t quiet_nan = (u >> 16) | 0x0040u;  // NaN: set the quiet bit (never rounded into Inf)
  return static_cast<uint16_t>((u & 0x7fffffffu) > 0x7f800000u ? quiet_nan : rounded);
}

inline float from_bf16(uint16_t h) {
  const uint32_t u = uint32_t{h} << 16;
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

// x rounded to the nearest bf16 value, as a float (exact: every bf16 is a float32).
inline float round_to_bf16(float x) {
  return from_bf16(to_bf16(x));
}

}  // namespace gaincell
