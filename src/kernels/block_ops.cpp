#include "kernels/block_ops.h"

#include <algorithm>
#include <cmath>

#include "core/parallel.h"

namespace gaincell {
void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, int64_t N, int64_t C, float eps) {
  parallel_for(
      0, N,
      [&](int64_t n) {
        const float* x = inp + n * C;
        float* y = out + n * C;
        float ss = 0.0f;
        for (int64_t c = 0; c < C; ++c) ss += x[c] * x[c];
        const float s = 1.0f / std::sqrt(ss / static_cast<float>(C) + eps);
        for (int64_t c = 0; c < C; ++c) y[c] = weight[c] * (x[c] * s);
        if (rstd) rstd[n] = s;
      },
      N * C * 4);
}

void rmsnorm_reference(float* out, const float* inp, const float* weight, int64_t N, int64_t C, float eps) {
  for (int64_t n = 0; n < N; ++n) {
    double ss = 0.0;
    for (int64_t c = 0; c < C; ++c) ss += double(inp[n * C + c]) * inp[n * C + c];
    const double s = 1.0 / std::sqrt(ss / double(C) + double(eps));
    for (int64_t c = 0; c < C; ++c) out[n * C + c] = static_cast<float>(double(weight[c]) * inp[n * C + c] * s);
  }
}

void rope_tables(float* cos, float* sin, const int64_t* pos, int64_t N, int64_t D, double theta) {
  const int64_t half = D / 2;
  const float base = static_cast<float>(theta);
  parallel_for(
      0, N,
      [&](int64_t n) {
        for (int64_t i = 0; i < half; ++i) {
          const float inv_freq = 1.0f / std::pow(base, static_cast<float>(2 * i) / static_cast<float>(D));
          const float angle = static_cast<float>(pos[n]) * inv_freq;
          cos[n * half + i] = std::cos(angle);
          sin[n * half + i] = std::sin(angle);
        }
      },
      N * half * 40);
}

void rope_forward(float* x, int64_t row_stride, int64_t head_stride, int64_t n_heads, int64_t D, const float* cos,
                  const float* sin, int64_t N, bool half_split) {
  rope_rotate(x, row_stride, head_stride, n_heads, D, cos, sin, N, half_split, 1.0f);
}

// sin_sign is +-1: s * sin_sign is exact, so both directions keep the bits of their former separate loops.
void rope_rotate(float* x, int64_t row_stride, int64_t head_stride, int64_t n_heads, int64_t D, const float* cos,
                 const float* sin, int64_t N, bool half_split, float sin_sign) {
  const int64_t half = D / 2;
  const int64_t stride = half_split ? 1 : 2, partner = half_split ? half : 1;  // pair i: (i*stride, +partner)
  parallel_for(
      0, N,
      [&](int64_t n) {
        const float* c = cos + n * half;
        const float* s = sin + n * half;
        for (int64_t h = 0; h < n_heads; ++h) {
          float* v = x + n * row_stride + h * head_stride;
          for (int64_t i = 0; i < half; ++i) {
            float* a = v + i * stride;
            const float x0 = a[0], x1 = a[partner], si = s[i] * sin_sign;
            a[0] = x0 * c[i] - x1 * si;
            a[partner] = x1 * c[i] + x0 * si;
          }
        }
      },
      N * n_heads * D * 4);
}

void rope_reference(float* x, int64_t row_stride, int64_t head_stride, int64_t n_heads, int64_t D, const int64_t* pos,
                    int64_t N, double theta, bool half_split) {
  const int64_t half = D / 2;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t h = 0; h < n_heads; ++h) {
      float* v = x + n * row_stride + h * head_stride;
      for (int64_t i = 0; i < half; ++i) {
        const double angle = double(pos[n]) * std::pow(theta, -2.0 * double(i) / double(D));
        const int64_t i0 = half_split ? i : 2 * i, i1 = half_split ? i + half : 2 * i + 1;
        const double a = v[i0], b = v[i1];
        v[i0] = static_cast<float>(a * std::cos(angle) - b * std::sin(angle));
        v[i1] = static_cast<float>(b * std::cos(angle) + a * std::sin(angle));
      }
    }
}

void swiglu_forward(float* out, const float* gate, const float* up, int64_t n) {
  parallel_elementwise(n, [&](int64_t i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  });
}

void swiglu_reference(float* out, const float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double g = gate[i];
    out[i] = static_cast<float>(g / (1.0 + std::exp(-g)) * up[i]);
  }
}

void gelu_erf_forward(float* out, const float* inp, int64_t n) {
  const float inv_sqrt2 = 0.70710678118654752f;
  parallel_elementwise(n, [&](int64_t i) {
    const float x = inp[i];
    out[i] = 0.5f * x * (1.0f + std::erf(x * inv_sqrt2));
  });
}

void gelu_erf_reference(float* out, const float* inp, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double x = inp[i];
    out[i] = static_cast<float>(0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))));
  }
}

}  // namespace gaincell
