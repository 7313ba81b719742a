// 8-float vectors for the GAINCELL_SIMD_CLONES kernels (core/simd.h). Only .cpp files compiled with
// -Wno-psabi include this header (src/CMakeLists.txt): GCC warns that a 32-byte vector argument's ABI differs
// without AVX, which concerns calls across objects built with different flags, never made here.
#pragma once
#include <cstdint>

#include "core/simd.h"

namespace gaincell {

// One AVX register in the AVX2 clone, two SSE registers in the baseline one; element-wise IEEE operations,
// so each lane rounds as scalar code does.
typedef float V8 __attribute__((vector_size(32)));
typedef int32_t I8 __attribute__((vector_size(32)));
typedef float V16 __attribute__((vector_size(64)));  // 16 floats: one AVX-512 register, or two AVX ones

template <typename V>
inline V load_vector(const float* p) {
  V v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}
template <typename V>
inline void store_vector(float* p, V v) {
  __builtin_memcpy(p, &v, sizeof v);
}
inline V8 load8(const float* p) {
  return load_vector<V8>(p);
}
inline void store8(float* p, V8 v) {
  store_vector(p, v);
}
inline V16 load16(const float* p) {
  return load_vector<V16>(p);
}
inline void store16(float* p, V16 v) {
  store_vector(p, v);
}

}  // namespace gaincell
