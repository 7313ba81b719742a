#include "kernels/ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/parallel.h"
#include "kernels/bf16.h"
#include "kernels/dispatch.h"
#include "kernels/gemm.h"
#include "kernels/gemm_bf16.h"

namespace gaincell {

void matmul_reference(float* out, const float* inp, const float* w, const float* bias, int64_t N, int64_t K,
                      int64_t M) {
  parallel_for(
      0, N,
      [&](int64_t n) {
        for (int64_t m = 0; m < M; ++m) {
          double acc = bias ? bias[m] : 0.0;
          for (int64_t k = 0; k < K; ++k) acc += double(inp[n * K + k]) * w[k * M + m];
          out[n * M + m] = static_cast<float>(acc);
        }
      },
      N * K * M);
}

void linear_forward(float* out, int64_t ldo, const float* inp, const float* w, const float* bias, int64_t N, int64_t K,
                    int64_t M, bool out_in) {
  if (bias)
    parallel_for(
        0, N, [&](int64_t n) { std::memcpy(out + n * ldo, bias, M * sizeof(float)); }, N * M);
  gemm_projection(false, out_in, N, M, K, 1.0f, inp, K, w, out_in ? K : M, bias ? 1.0f : 0.0f, out, ldo);
}

void matmul_forward(float* out, const float* inp, const float* w, const float* bias, int64_t N, int64_t K, int64_t M) {
  linear_forward(out, M, inp, w, bias, N, K, M, false);
}

void matmul_transposed_forward(float* out, const float* inp, const float* wt, int64_t N, int64_t C, int64_t V) {
  gemm_projection(false, true, N, V, C, 1.0f, inp, C, wt, C, 0.0f, out, V);
}

void linear_forward_bf16(float* out, int64_t ldo, const float* inp, const uint16_t* w, const float* bias, int64_t N,
                         int64_t K, int64_t M, bool out_in) {
  if (bias)
    parallel_for(
        0, N, [&](int64_t n) { std::memcpy(out + n * ldo, bias, M * sizeof(float)); }, N * M);
  gemm_projection_bf16_weights(out_in, N, M, K, 1.0f, inp, K, w, out_in ? K : M, bias ? 1.0f : 0.0f, out, ldo);
}

void linear_forward_parts(const LinearPart* parts, int n_parts, const float* inp, int64_t N, int64_t K, bool out_in) {
  bool grouped = N == 1 && out_in && n_parts > 1 && n_parts <= 8, all16 = true, all32 = true;
  for (int i = 0; i < n_parts; ++i) {
    grouped &= parts[i].bias == nullptr;
    all16 &= parts[i].w16 != nullptr;
    all32 &= parts[i].w16 == nullptr;
  }
  if (grouped && all32 && matmul_precision() == MatmulPrecision::kF32) {
    RowProduct<float> rows[8];
    for (int i = 0; i < n_parts; ++i) rows[i] = {parts[i].M, parts[i].w, K, parts[i].out};
    gemm_row_products(inp, K, rows, n_parts);
    return;
  }
  if (grouped && all16) {  // the row rounded to bf16 once, as each linear_forward_bf16 call would
    thread_local std::vector<uint16_t> a16;
    if (a16.size() < static_cast<size_t>(K)) a16.resize(K);
    to_bf16_matrix(a16.data(), inp, 1, K, K);
    RowProduct<uint16_t> rows[8];
    for (int i = 0; i < n_parts; ++i) rows[i] = {parts[i].M, parts[i].w16, K, parts[i].out};
    gemm_bf16_row_products(a16.data(), K, rows, n_parts);
    return;
  }
  for (int i = 0; i < n_parts; ++i) {
    const LinearPart& p = parts[i];
    if (p.w16)
      linear_forward_bf16(p.out, p.ldo, inp, p.w16, p.bias, N, K, p.M, out_in);
    else
      linear_forward(p.out, p.ldo, inp, p.w, p.bias, N, K, p.M, out_in);
  }
}

void matmul_transposed_forward_bf16(float* out, const float* inp, const uint16_t* wt, int64_t N, int64_t C, int64_t V) {
  gemm_projection_bf16_weights(true, N, V, C, 1.0f, inp, C, wt, C, 0.0f, out, V);
}

void matmul_nt(float* c, int64_t ldc, const float* a, int64_t lda, const float* b, int64_t ldb, int64_t M, int64_t N,
               int64_t K, float alpha) {
  gemm_deterministic(false, true, M, N, K, alpha, a, lda, b, ldb, 0.0f, c, ldc);
}

void matmul_nn(float* c, int64_t ldc, const float* a, int64_t lda, const float* b, int64_t ldb, int64_t M, int64_t N,
               int64_t K) {
  gemm_deterministic(false, false, M, N, K, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
}

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias,
                       int64_t N, int64_t C, float eps) {
  parallel_for(
      0, N,
      [&](int64_t n) {
        const float* x = inp + n * C;
        float* y = out + n * C;
        float m = 0.0f;
        for (int64_t c = 0; c < C; ++c) m += x[c];
        m /= static_cast<float>(C);
        float v = 0.0f;
        for (int64_t c = 0; c < C; ++c) {
          float d = x[c] - m;
          v += d * d;
        }
        v /= static_cast<float>(C);
        float s = 1.0f / std::sqrt(v + eps);
        for (int64_t c = 0; c < C; ++c) y[c] = (x[c] - m) * s * weight[c] + bias[c];
        if (mean) mean[n] = m;
        if (rstd) rstd[n] = s;
      },
      N * C * 8);
}

void gelu_forward(float* out, const float* inp, int64_t n) {
  const auto gelu = kernel_table().gelu;
  parallel_for(
      0, (n + 4095) / 4096,
      [&](int64_t blk) {
        const int64_t b = blk * 4096;
        gelu(out + b, inp + b, std::min<int64_t>(4096, n - b));
      },
      n * 20);
}

void residual_forward(float* out, const float* a, const float* b, int64_t n) {
  parallel_for(
      0, (n + 4095) / 4096,
      [&](int64_t blk) {
        int64_t s = blk * 4096, e = std::min<int64_t>(n, s + 4096);
        for (int64_t i = s; i < e; ++i) out[i] = a[i] + b[i];
      },
      n);
}

void embedding_forward(float* out, const int32_t* tokens, const float* wte, const float* wpe, int64_t B, int64_t T,
                       int64_t C, int64_t pos0) {
  parallel_for(
      0, B * T,
      [&](int64_t bt) {
        const float* e = wte + int64_t{tokens[bt]} * C;
        float* o = out + bt * C;
        if (!wpe) {  // rotary positions: the token rows alone
          for (int64_t c = 0; c < C; ++c) o[c] = e[c];
          return;
        }
        const float* p = wpe + (pos0 + bt % T) * C;
        for (int64_t c = 0; c < C; ++c) o[c] = e[c] + p[c];
      },
      B * T * C);
}

void softmax_row(float* x, int64_t n) {
  kernel_table().softmax_row(x, n);
}

void attention_scores(float* s, const float* q, const float* k, int64_t n, int64_t D, float scale) {
  kernel_table().attention_scores(s, q, k, n, D, scale);
}

void attention_mix(float* out, const float* p, const float* v, int64_t n, int64_t D) {
  kernel_table().attention_mix(out, p, v, n, D);
}

}  // namespace gaincell
