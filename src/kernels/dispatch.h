// The one dispatch point of the vector kernels (style R9): a table of function pointers chosen once, at first
// use, from a CPUID check. The scalar versions always build and are the fallback; ops.cpp calls through the
// table. Tests call both variants directly to compare them.
#pragma once
#include <cstdint>

namespace gaincell {

struct KernelTable {
  const char* isa;                                        // "avx2+fma" or "scalar"
  void (*gelu)(float* out, const float* inp, int64_t n);  // GELU tanh form, elementwise
  // dinp[i] = GELU'(inp[i]) * dout[i] (dinp may alias dout).
  void (*gelu_backward)(float* dinp, const float* inp, const float* dout, int64_t n);
  void (*softmax_row)(float* x, int64_t n);  // in place, one row
  // s[j] = scale * dot(q, k[j, :]) for j < n; k is [n, D].
  void (*attention_scores)(float* s, const float* q, const float* k, int64_t n, int64_t D, float scale);
  // out[d] = sum_j p[j] v[j, d]; v is [n, D].
  void (*attention_mix)(float* out, const float* p, const float* v, int64_t n, int64_t D);
};

// The table for this CPU (AVX2+FMA kernels when the build has them and the CPU supports them).
const KernelTable& kernel_table();
// The portable table, whatever the CPU.
const KernelTable& scalar_kernel_table();

// Scalar reference GELU: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) with libm tanhf.
void gelu_scalar(float* out, const float* inp, int64_t n);
// Scalar reference of the GELU derivative: 0.5 (1 + t) + 0.5 x (1 - t^2) u'(x), t = tanh(u), libm tanhf.
void gelu_backward_scalar(float* dinp, const float* inp, const float* dout, int64_t n);
// Scalar references of the other entries: plain loops accumulating in float, libm expf.
void softmax_row_scalar(float* x, int64_t n);
void attention_scores_scalar(float* s, const float* q, const float* k, int64_t n, int64_t D, float scale);
void attention_mix_scalar(float* out, const float* p, const float* v, int64_t n, int64_t D);

#if GAINCELL_HAVE_AVX2_KERNELS
// AVX2+FMA GELU (kernels/gelu_avx2.cpp); call only on a CPU with AVX2 and FMA.
void gelu_avx2(float* out, const float* inp, int64_t n);
void gelu_backward_avx2(float* dinp, const float* inp, const float* dout, int64_t n);
// kernels/attention_avx2.cpp
void softmax_row_avx2(float* x, int64_t n);
void attention_scores_avx2(float* s, const float* q, const float* k, int64_t n, int64_t D, float scale);
void attention_mix_avx2(float* out, const float* p, const float* v, int64_t n, int64_t D);
#endif

}  // namespace gaincell
