// The AVX-512 FMA peak kernel, compiled with -mavx512f -mfma (bench/CMakeLists.txt) and called after a CPUID check:
// on AVX-512 CPUs the float32 peak that oneDNN's brgemm and OpenBLAS's SkylakeX kernels reach is twice the AVX2
// one, so prompts and GEMMs are compared against it there (bench_util.cpp fma_peak_gflops).
#include <immintrin.h>

#include "bench_util.h"

namespace gaincell::bench::avx512 {

float fma_chains(int64_t iters, float seed) {
  // Two 512-bit FMA pipes with 4 cycles of latency need 8 chains; 12 leave margin (as the AVX2 kernel).
  const __m512 m = _mm512_set1_ps(0.999f), c = _mm512_set1_ps(1e-3f);
  __m512 a[12];
  for (int k = 0; k < 12; ++k) a[k] = _mm512_set1_ps(seed + static_cast<float>(k));
  for (int64_t i = 0; i < iters; ++i)
    for (int k = 0; k < 12; ++k) a[k] = _mm512_fmadd_ps(a[k], m, c);
  __m512 s = a[0];
  for (int k = 1; k < 12; ++k) s = _mm512_add_ps(s, a[k]);
  alignas(64) float out[16];  // (not _mm512_reduce_add_ps: GCC 12's header warns -Wuninitialized in it)
  _mm512_store_ps(out, s);
  float sum = 0.0f;
  for (float x : out) sum += x;
  return sum;
}

}  // namespace gaincell::bench::avx512
