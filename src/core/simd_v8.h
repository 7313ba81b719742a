// 8- and 16-float vectors for the GAINCELL_SIMD_CLONES kernels (core/simd.h). Only .cpp files compiled with
// -Wno-psabi include this header (src/CMakeLists.txt): GCC warns that a vector argument's ABI differs without
// AVX; every function taking or returning one outside a clone is always inlined (GAINCELL_VECTOR_HELPER), so no
// call crosses targets with a vector.
#pragma once
#include <cstdint>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>
#endif

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
// The first `lanes` (<= the vector's width) floats of v to p: a whole vector in one store, a partial one lane by
// lane (the floats past them are not the caller's to write).
template <typename V>
GAINCELL_VECTOR_HELPER void store_lanes(float* p, V v, int64_t lanes) {
  constexpr int64_t kWidth = sizeof(V) / sizeof(float);
  if (lanes >= kWidth) return store_vector(p, v);
  float tmp[kWidth];
  __builtin_memcpy(tmp, &v, sizeof tmp);
  for (int64_t e = 0; e < lanes; ++e) p[e] = tmp[e];
}

// a * b + c rounded once, lane by lane (fmaf): one FMA instruction in the clones whose target has FMA (GCC turns
// the lane loop into one vector instruction), glibc's exact software fmaf elsewhere, so the same bits on every CPU.
GAINCELL_VECTOR_HELPER float fmadd(float a, float b, float c) {
  return __builtin_fmaf(a, b, c);
}
GAINCELL_VECTOR_HELPER V8 fmadd(V8 a, V8 b, V8 c) {
  V8 r;
  for (int i = 0; i < 8; ++i) r[i] = __builtin_fmaf(a[i], b[i], c[i]);
  return r;
}
GAINCELL_VECTOR_HELPER V8 fmadd(float a, V8 b, V8 c) {  // a broadcast
  V8 r;
  for (int i = 0; i < 8; ++i) r[i] = __builtin_fmaf(a, b[i], c[i]);
  return r;
}
// 16-float vectors fuse only in AVX-512 code (one vfmadd on a zmm register): elsewhere GCC splits them in halves
// before it could vectorize a lane loop. Plain inline, not always_inline: the kernels' always-inlined bodies are
// compiled for the default target first, where an always_inline AVX-512 callee would not be allowed; inlined
// into the AVX-512 functions that instantiate them, they inline these too. Call them only from AVX-512 code: an
// unoptimised build keeps them out of line, taking the vectors in zmm registers, where a caller compiled for
// another target would pass them in memory.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target("avx512f"))) inline V16 fmadd(V16 a, V16 b, V16 c) {
  return V16(_mm512_fmadd_ps(__m512(a), __m512(b), __m512(c)));
}
__attribute__((target("avx512f"))) inline V16 fmadd(float a, V16 b, V16 c) {
  return V16(_mm512_fmadd_ps(_mm512_set1_ps(a), __m512(b), __m512(c)));
}
#else
GAINCELL_VECTOR_HELPER V16 fmadd(V16 a, V16 b, V16 c) {
  V16 r;
  for (int i = 0; i < 16; ++i) r[i] = __builtin_fmaf(a[i], b[i], c[i]);
  return r;
}
GAINCELL_VECTOR_HELPER V16 fmadd(float a, V16 b, V16 c) {
  V16 r;
  for (int i = 0; i < 16; ++i) r[i] = __builtin_fmaf(a, b[i], c[i]);
  return r;
}
#endif

}  // namespace gaincell
