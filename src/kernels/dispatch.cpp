#include "kernels/dispatch.h"

#include <cmath>

namespace gaincell {

void gelu_scalar(float* out, const float* inp, int64_t n) {
  const float k = std::sqrt(2.0f / 3.14159265358979f);
  for (int64_t i = 0; i < n; ++i) {
    float x = inp[i];
    out[i] = 0.5f * x * (1.0f + std::tanh(k * (x + 0.044715f * x * x * x)));
  }
}

const KernelTable& scalar_kernel_table() {
  static const KernelTable t{"scalar", gelu_scalar};
  return t;
}

namespace {

KernelTable choose_table() {
#if GAINCELL_HAVE_AVX2_KERNELS
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return KernelTable{"avx2+fma", gelu_avx2};
#endif
  return scalar_kernel_table();
}

}  // namespace

const KernelTable& kernel_table() {
  static const KernelTable t = choose_table();
  return t;
}

}  // namespace gaincell
