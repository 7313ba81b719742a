#include "kernels/dispatch.h"

#include <algorithm>
#include <cmath>

namespace gaincell {

void gelu_scalar(float* out, const float* inp, int64_t n) {
  const float k = std::sqrt(2.0f / 3.14159265358979f);
  for (int64_t i = 0; i < n; ++i) {
    float x = inp[i];
    out[i] = 0.5f * x * (1.0f + std::tanh(k * (x + 0.044715f * x * x * x)));
  }
}

void gelu_backward_scalar(float* dinp, const float* inp, const float* dout, int64_t n) {
  const float k = std::sqrt(2.0f / 3.14159265358979f);
  for (int64_t i = 0; i < n; ++i) {
    const float x = inp[i];
    const float t = std::tanh(k * (x + 0.044715f * x * x * x));
    const float local = 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * k * (1.0f + 3.0f * 0.044715f * x * x);
    dinp[i] = local * dout[i];
  }
}

void softmax_row_scalar(float* x, int64_t n) {
  float mx = -INFINITY;
  for (int64_t i = 0; i < n; ++i) mx = std::max(mx, x[i]);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  float inv = 1.0f / sum;
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void attention_scores_scalar(float* s, const float* q, const float* k, int64_t n, int64_t D, float scale) {
  for (int64_t j = 0; j < n; ++j) {
    float a = 0;
    for (int64_t d = 0; d < D; ++d) a += q[d] * k[j * D + d];
    s[j] = a * scale;
  }
}

void attention_mix_scalar(float* out, const float* p, const float* v, int64_t n, int64_t D) {
  for (int64_t d = 0; d < D; ++d) out[d] = 0;
  for (int64_t j = 0; j < n; ++j)
    for (int64_t d = 0; d < D; ++d) out[d] += p[j] * v[j * D + d];
}

const KernelTable& scalar_kernel_table() {
  static const KernelTable t{
      "scalar", gelu_scalar, gelu_backward_scalar, softmax_row_scalar, attention_scores_scalar, attention_mix_scalar};
  return t;
}

namespace {

KernelTable choose_table() {
#if GAINCELL_HAVE_AVX2_KERNELS
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return KernelTable{"avx2+fma",        gelu_avx2, gelu_backward_avx2, softmax_row_avx2, attention_scores_avx2,
                       attention_mix_avx2};
#endif
  return scalar_kernel_table();
}

}  // namespace

const KernelTable& kernel_table() {
  static const KernelTable t = choose_table();
  return t;
}

}  // namespace gaincell
