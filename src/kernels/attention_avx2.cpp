// AVX2+FMA inner loops of decode-time attention (one head, rows of D floats) and the softmax of one row,
// reached only through the dispatch table after a CPUID check. Every loop has a tail for sizes that are not
// a multiple of the vector width.
#if GAINCELL_HAVE_AVX2_KERNELS  // the file is empty when configured with -DGAINCELL_AVX2=OFF
#include <cmath>

#include "kernels/dispatch.h"
#include "kernels/simd_avx2.h"

namespace gaincell {

void attention_scores_avx2(float* s, const float* q, const float* k, int64_t n, int64_t D, float scale) {
  for (int64_t j = 0; j < n; ++j) {
    const float* kj = k + j * D;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int64_t d = 0;
    for (; d + 16 <= D; d += 16) {
      a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), _mm256_loadu_ps(kj + d), a0);
      a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d + 8), _mm256_loadu_ps(kj + d + 8), a1);
    }
    for (; d + 8 <= D; d += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), _mm256_loadu_ps(kj + d), a0);
    float acc = avx2::hsum8(_mm256_add_ps(a0, a1));
    for (; d < D; ++d) acc += q[d] * kj[d];
    s[j] = acc * scale;
  }
}

void attention_mix_avx2(float* out, const float* p, const float* v, int64_t n, int64_t D) {
  int64_t d = 0;
  for (; d + 32 <= D; d += 32) {  // 4 independent accumulators per column block
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t j = 0; j < n; ++j) {
      const __m256 w = _mm256_broadcast_ss(p + j);
      const float* vj = v + j * D + d;
      a0 = _mm256_fmadd_ps(w, _mm256_loadu_ps(vj), a0);
      a1 = _mm256_fmadd_ps(w, _mm256_loadu_ps(vj + 8), a1);
      a2 = _mm256_fmadd_ps(w, _mm256_loadu_ps(vj + 16), a2);
      a3 = _mm256_fmadd_ps(w, _mm256_loadu_ps(vj + 24), a3);
    }
    _mm256_storeu_ps(out + d, a0);
    _mm256_storeu_ps(out + d + 8, a1);
    _mm256_storeu_ps(out + d + 16, a2);
    _mm256_storeu_ps(out + d + 24, a3);
  }
  for (; d + 8 <= D; d += 8) {
    __m256 a = _mm256_setzero_ps();
    for (int64_t j = 0; j < n; ++j) a = _mm256_fmadd_ps(_mm256_broadcast_ss(p + j), _mm256_loadu_ps(v + j * D + d), a);
    _mm256_storeu_ps(out + d, a);
  }
  for (; d < D; ++d) {
    float a = 0;
    for (int64_t j = 0; j < n; ++j) a += p[j] * v[j * D + d];
    out[d] = a;
  }
}

void softmax_row_avx2(float* x, int64_t n) {
  if (n <= 0) return;
  int64_t i = 0;
  __m256 vmax = _mm256_set1_ps(-INFINITY);
  for (; i + 8 <= n; i += 8) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(x + i));
  float mx = avx2::hmax8(vmax);
  for (; i < n; ++i) mx = mx > x[i] ? mx : x[i];
  // exp(x - max) with x - max clamped at -87 (exp < 2e-38, nothing next to the max's 1).
  const __m256 vm = _mm256_set1_ps(mx), lo = _mm256_set1_ps(-87.0f);
  __m256 vsum = _mm256_setzero_ps();
  for (i = 0; i + 8 <= n; i += 8) {
    const __m256 e = avx2::exp8(_mm256_max_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm), lo));
    _mm256_storeu_ps(x + i, e);
    vsum = _mm256_add_ps(vsum, e);
  }
  float sum = avx2::hsum8(vsum);
  if (i < n) {  // tail through the same vector exp on a padded copy
    alignas(32) float buf[8];
    for (int64_t j = 0; j < 8; ++j) buf[j] = i + j < n ? x[i + j] - mx : -87.0f;
    _mm256_store_ps(buf, avx2::exp8(_mm256_max_ps(_mm256_load_ps(buf), lo)));
    for (int64_t j = i; j < n; ++j) sum += (x[j] = buf[j - i]);
  }
  const float inv = 1.0f / sum;
  const __m256 vinv = _mm256_set1_ps(inv);
  for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), vinv));
  for (; i < n; ++i) x[i] *= inv;
}

}  // namespace gaincell

#endif  // GAINCELL_HAVE_AVX2_KERNELS
