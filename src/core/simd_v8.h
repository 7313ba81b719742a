// 8- and 16-float vectors for the GAINCELL_SIMD_CLONES kernels (core/simd.h). Only .cpp files compiled with
// -Wno-psabi include this header (src/CMakeLists.txt): GCC warns that a vector argument's ABI differs without
// AVX; every function taking or returning one outside a clone is always inlined (GAINCELL_VECTOR_HELPER), so no
// call crosses targets with a vector.
#pragma once
#include <cstdint>

#include "core/simd.h"

namespace gaincell {

// One AVX register in the AVX2 clone, two SSE registers in the baseline one; element-wise IEEE operations,
// so each lane rounds as scalar code does.
typedef float V8 __attribute__((vector_size(32)));
typedef int32_t I8 __attribute__((vector_size(32)));
typedef float V16 __attribute__((vector_size(64)));  // 16 floats: one AVX-512 register, or two AVX ones
typedef int32_t I16 __attribute__((vector_size(64)));

// Always inlined: called from the clones of another target, an out-of-line copy compiled for baseline x86-64
// would pass the vectors in memory where the caller passes them in AVX registers (the -Wpsabi warning; the ASan
// build, which inlines less, crashed on it).
#define GAINCELL_VECTOR_HELPER inline __attribute__((always_inline))

template <typename V>
GAINCELL_VECTOR_HELPER V load_vector(const float* p) {
  V v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}
template <typename V>
GAINCELL_VECTOR_HELPER void store_vector(float* p, V v) {
  __builtin_memcpy(p, &v, sizeof v);
}
GAINCELL_VECTOR_HELPER V8 load8(const float* p) {
  return load_vector<V8>(p);
}
GAINCELL_VECTOR_HELPER void store8(float* p, V8 v) {
  store_vector(p, v);
}
GAINCELL_VECTOR_HELPER V16 load16(const float* p) {
  return load_vector<V16>(p);
}
GAINCELL_VECTOR_HELPER void store16(float* p, V16 v) {
  store_vector(p, v);
}

}  // namespace gaincell
