// AVX2+FMA GELU (tanh form), compiled with -mavx2 -mfma (src/CMakeLists.txt) and reached only through the
// dispatch table after a CPUID check.
//
// 0.5 x (1 + tanh(u)) == x / (1 + exp(-2u)), u = sqrt(2/pi) (x + 0.044715 x^3). The right-hand form has no
// cancellation for negative x (where 1 + tanh(u) loses digits), so it is at least as accurate as the scalar
// reference.

#if GAINCELL_HAVE_AVX2_KERNELS  // the file is empty when configured with -DGAINCELL_AVX2=OFF
#include "kernels/dispatch.h"
#include "kernels/simd_avx2.h"

namespace gaincell {
namespace {

inline __m256 gelu8(__m256 x) {
  // -2u = x (c1 + c3 x^2), c1 = -2 sqrt(2/pi), c3 = c1 * 0.044715.
  const __m256 c1 = _mm256_set1_ps(-1.5957691216057308f), c3 = _mm256_set1_ps(-0.0713548162726009f);
  __m256 t = _mm256_mul_ps(x, _mm256_fmadd_ps(c3, _mm256_mul_ps(x, x), c1));
  // Beyond +88 (x below about -9.4, or x^3 overflowing) the result is below 1e-37 |x|: flush to (signed) zero
  // as the tanh form does, instead of x / 1.6e38.
  const __m256 underflow = _mm256_cmp_ps(t, _mm256_set1_ps(88.0f), _CMP_GE_OQ);
  t = _mm256_min_ps(_mm256_max_ps(t, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
  const __m256 y = _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), avx2::exp8(t)));
  return _mm256_blendv_ps(y, _mm256_mul_ps(x, _mm256_setzero_ps()), underflow);
}

}  // namespace

void gelu_avx2(float* out, const float* inp, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, gelu8(_mm256_loadu_ps(inp + i)));
  if (i < n) {  // tail: the same vector code on a padded copy, so results never depend on position
    alignas(32) float buf[8] = {};
    for (int64_t j = i; j < n; ++j) buf[j - i] = inp[j];
    _mm256_store_ps(buf, gelu8(_mm256_load_ps(buf)));
    for (int64_t j = i; j < n; ++j) out[j] = buf[j - i];
  }
}

}  // namespace gaincell

#endif  // GAINCELL_HAVE_AVX2_KERNELS
