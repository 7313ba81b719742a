// Backward kernels of the Llama-family block (kernels/backward.h): RMSNorm, rotary embedding, SwiGLU, exact
// GELU. Reductions over rows run in a fixed order (rows in sequence per column block), as in backward.cpp.
#include <algorithm>
#include <cmath>

#include "core/parallel.h"
#include "kernels/backward.h"
#include "kernels/block_ops.h"

namespace gaincell {
// y_c = w_c x_c s, s = (mean(x^2) + eps)^(-1/2), ds/dx_c = -s^3 x_c / C:
//   dx_c = s w_c g_c - x_c s^3 / C * sum_j w_j g_j x_j,   dw_c = sum_n g_c x_c s.
void rmsnorm_backward(float* dinp, float* dweight, const float* dout, const float* inp, const float* weight,
                      const float* rstd, int64_t N, int64_t C) {
  parallel_for(
      0, N,
      [&](int64_t n) {
        const float* g = dout + n * C;
        const float* x = inp + n * C;
        const float s = rstd[n];
        float dot = 0.0f;
        for (int64_t c = 0; c < C; ++c) dot += weight[c] * g[c] * x[c];
        const float k = dot * s * s * s / static_cast<float>(C);
        float* d = dinp + n * C;
        for (int64_t c = 0; c < C; ++c) d[c] += s * weight[c] * g[c] - x[c] * k;
      },
      N * C * 6);
  constexpr int64_t kBlock = 64;
  parallel_for(
      0, (C + kBlock - 1) / kBlock,
      [&](int64_t blk) {
        const int64_t b = blk * kBlock, e = std::min(C, b + kBlock);
        float aw[kBlock] = {};
        for (int64_t n = 0; n < N; ++n) {
          const float* g = dout + n * C;
          const float* x = inp + n * C;
          const float s = rstd[n];
          for (int64_t c = b; c < e; ++c) aw[c - b] += x[c] * s * g[c];
        }
        for (int64_t c = b; c < e; ++c) dweight[c] += aw[c - b];
      },
      N * C * 3);
}

// Forward (a, b) -> (a c - b s, b c + a s) is a rotation R; its gradient is R^T: (ga, gb) -> (ga c + gb s,
// gb c - ga s).
void rope_backward(float* dx, int64_t row_stride, int64_t head_stride, int64_t n_heads, int64_t D, const float* cos,
                   const float* sin, int64_t N, bool half_split) {
  rope_rotate(dx, row_stride, head_stride, n_heads, D, cos, sin, N, half_split, -1.0f);  // the inverse rotation
}

// silu(g) = g sig(g), silu'(g) = sig(g) (1 + g (1 - sig(g))).
void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up, int64_t n) {
  parallel_elementwise(n, [&](int64_t i) {
    const float g = gate[i], u = up[i], d = dout[i];
    const float sig = 1.0f / (1.0f + std::exp(-g));
    dgate[i] = d * u * sig * (1.0f + g * (1.0f - sig));
    dup[i] = d * g * sig;
  });
}

// d/dx 0.5 x (1 + erf(x / sqrt 2)) = 0.5 (1 + erf(x / sqrt 2)) + x exp(-x^2 / 2) / sqrt(2 pi).
void gelu_erf_backward(float* dinp, const float* inp, const float* dout, int64_t n) {
  const float inv_sqrt2 = 0.70710678118654752f, inv_sqrt_2pi = 0.39894228040143268f;
  parallel_elementwise(n, [&](int64_t i) {
    const float x = inp[i];
    const float cdf = 0.5f * (1.0f + std::erf(x * inv_sqrt2));
    dinp[i] = dout[i] * (cdf + x * inv_sqrt_2pi * std::exp(-0.5f * x * x));
  });
}

}  // namespace gaincell
