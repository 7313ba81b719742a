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

// GELU'(x) = 0.5 (1 + t) + 0.5 x (1 - t^2) u'(x) with t = tanh(u). With s = 1 / (1 + exp(-2u)):
// 0.5 (1 + t) = s and 0.5 (1 - t^2) = 2 s (1 - s), so GELU'(x) = s + 2 x s (1 - s) u'(x) with s (1 - s) = e s^2, e =
// exp(-2u), u'(x) = sqrt(2/pi) (1 + 3 * 0.044715 x^2). No cancellation, and s saturates cleanly at 0 and 1.
inline __m256 gelu_grad8(__m256 x) {
  const __m256 c1 = _mm256_set1_ps(-1.5957691216057308f), c3 = _mm256_set1_ps(-0.0713548162726009f);
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 x2 = _mm256_mul_ps(x, x);
  __m256 t = _mm256_mul_ps(x, _mm256_fmadd_ps(c3, x2, c1));  // -2u
  t = _mm256_min_ps(_mm256_max_ps(t, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
  const __m256 e = avx2::exp8(t);
  const __m256 s = _mm256_div_ps(one, _mm256_add_ps(one, e));
  // 2 u'(x) = 2 sqrt(2/pi) + 6 * 0.044715 sqrt(2/pi) x^2
  const __m256 du2 = _mm256_fmadd_ps(_mm256_set1_ps(0.2140644488178027f), x2, _mm256_set1_ps(1.5957691216057308f));
  const __m256 s1s = _mm256_mul_ps(_mm256_mul_ps(e, s), s);  // s (1 - s) = e s^2, without cancelling 1 - s
  return _mm256_fmadd_ps(_mm256_mul_ps(x, s1s), du2, s);
}

}  // namespace

void gelu_backward_avx2(float* dinp, const float* inp, const float* dout, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(dinp + i, _mm256_mul_ps(gelu_grad8(_mm256_loadu_ps(inp + i)), _mm256_loadu_ps(dout + i)));
  if (i < n) {  // tail: the same vector code on a padded copy
    alignas(32) float x[8] = {}, d[8] = {};
    for (int64_t j = i; j < n; ++j) x[j - i] = inp[j], d[j - i] = dout[j];
    _mm256_store_ps(x, _mm256_mul_ps(gelu_grad8(_mm256_load_ps(x)), _mm256_load_ps(d)));
    for (int64_t j = i; j < n; ++j) dinp[j] = x[j - i];
  }
}

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
