#include "kernels/backward.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "core/parallel.h"
#include "kernels/bf16.h"
#include "kernels/dispatch.h"
#include "kernels/gemm.h"

namespace gaincell {
namespace {

// dbias[m] += sum_n dout[n * ld + m], columns in parallel blocks, rows summed in order.
void bias_backward(float* dbias, const float* dout, int64_t ld, int64_t N, int64_t M) {
  constexpr int64_t kBlock = 64;
  parallel_for(
      0, (M + kBlock - 1) / kBlock,
      [&](int64_t blk) {
        const int64_t b = blk * kBlock, e = std::min(M, b + kBlock);
        float acc[kBlock] = {};
        for (int64_t n = 0; n < N; ++n) {
          const float* row = dout + n * ld;
          for (int64_t m = b; m < e; ++m) acc[m - b] += row[m];
        }
        for (int64_t m = b; m < e; ++m) dbias[m] += acc[m - b];
      },
      N * M);
}

}  // namespace

void matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp, const float* w,
                     int64_t N, int64_t K, int64_t M) {
  linear_backward(dinp, dweight, dbias, dout, M, inp, w, N, K, M, false, false);
}

void linear_backward(float* dinp, float* dweight, float* dbias, const float* dout, int64_t ldd, const float* inp,
                     const float* w, int64_t N, int64_t K, int64_t M, bool out_in, bool accumulate_dinp) {
  const float beta = accumulate_dinp ? 1.0f : 0.0f;
  if (out_in) {  // w [M, K]: dinp = dout @ w, dweight += dout^T @ inp
    if (dinp) gemm_projection(false, false, N, K, M, 1.0f, dout, ldd, w, K, beta, dinp, K);
    gemm_projection(true, false, M, K, N, 1.0f, dout, ldd, inp, K, 1.0f, dweight, K);
  } else {  // w [K, M]: dinp = dout @ w^T, dweight += inp^T @ dout
    if (dinp) gemm_projection(false, true, N, K, M, 1.0f, dout, ldd, w, M, beta, dinp, K);
    gemm_projection(true, false, K, M, N, 1.0f, inp, K, dout, ldd, 1.0f, dweight, M);
  }
  if (dbias) bias_backward(dbias, dout, ldd, N, M);
}

void matmul_transposed_backward(float* dinp, float* dwt, const float* dout, const float* inp, const float* wt,
                                int64_t N, int64_t C, int64_t V) {
  gemm_projection(false, false, N, C, V, 1.0f, dout, V, wt, C, 0.0f, dinp, C);
  gemm_projection(true, false, V, C, N, 1.0f, dout, V, inp, C, 1.0f, dwt, C);
}

void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, int64_t N, int64_t C) {
  parallel_for(
      0, N,
      [&](int64_t n) {
        const float* g = dout + n * C;
        const float* x = inp + n * C;
        const float m = mean[n], s = rstd[n];
        float sum_d = 0.0f, sum_dx = 0.0f;  // mean of dnorm and of dnorm * xhat
        for (int64_t c = 0; c < C; ++c) {
          const float dnorm = weight[c] * g[c];
          sum_d += dnorm;
          sum_dx += dnorm * (x[c] - m) * s;
        }
        sum_d /= static_cast<float>(C);
        sum_dx /= static_cast<float>(C);
        float* d = dinp + n * C;
        for (int64_t c = 0; c < C; ++c) {
          const float xhat = (x[c] - m) * s;
          d[c] += (weight[c] * g[c] - sum_d - xhat * sum_dx) * s;
        }
      },
      N * C * 10);
  constexpr int64_t kBlock = 64;
  parallel_for(
      0, (C + kBlock - 1) / kBlock,
      [&](int64_t blk) {
        const int64_t b = blk * kBlock, e = std::min(C, b + kBlock);
        float aw[kBlock] = {}, ab[kBlock] = {};
        for (int64_t n = 0; n < N; ++n) {
          const float* g = dout + n * C;
          const float* x = inp + n * C;
          const float m = mean[n], s = rstd[n];
          for (int64_t c = b; c < e; ++c) {
            aw[c - b] += (x[c] - m) * s * g[c];
            ab[c - b] += g[c];
          }
        }
        for (int64_t c = b; c < e; ++c) {
          dweight[c] += aw[c - b];
          dbias[c] += ab[c - b];
        }
      },
      N * C * 4);
}

void gelu_backward(float* dinp, const float* inp, const float* dout, int64_t n) {
  const auto kernel = kernel_table().gelu_backward;
  parallel_for(
      0, (n + 4095) / 4096,
      [&](int64_t blk) {
        const int64_t b = blk * 4096, e = std::min<int64_t>(n, b + 4096);
        kernel(dinp + b, inp + b, dout + b, e - b);
      },
      n * 25);
}

void residual_backward(float* da, float* db, const float* dout, int64_t n) {
  parallel_for(
      0, (n + 4095) / 4096,
      [&](int64_t blk) {
        const int64_t s = blk * 4096, e = std::min<int64_t>(n, s + 4096);
        for (int64_t i = s; i < e; ++i) {
          da[i] += dout[i];
          db[i] += dout[i];
        }
      },
      n);
}

void embedding_backward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens, int64_t B, int64_t T,
                        int64_t C, int64_t V) {
  const int64_t N = B * T;
  if (dwpe)
    parallel_for(
        0, T,
        [&](int64_t t) {  // dwpe[t]: sum over b in order
          float* dp = dwpe + t * C;
          for (int64_t b = 0; b < B; ++b) {
            const float* g = dout + (b * T + t) * C;
            for (int64_t c = 0; c < C; ++c) dp[c] += g[c];
          }
        },
        N * C);
  // Stable counting sort of rows by token id, then one task per distinct id summing its rows in order.
  std::vector<int64_t> start(static_cast<size_t>(V) + 1, 0), order(static_cast<size_t>(N));
  for (int64_t i = 0; i < N; ++i) ++start[tokens[i] + 1];
  for (int64_t v = 0; v < V; ++v) start[v + 1] += start[v];
  std::vector<int64_t> fill(start.begin(), start.end() - 1);
  for (int64_t i = 0; i < N; ++i) order[fill[tokens[i]]++] = i;
  std::vector<int32_t> ids;
  for (int64_t v = 0; v < V; ++v)
    if (start[v + 1] > start[v]) ids.push_back(static_cast<int32_t>(v));
  parallel_for(
      0, static_cast<int64_t>(ids.size()),
      [&](int64_t k) {
        const int32_t id = ids[k];
        float* dw = dwte + int64_t{id} * C;
        for (int64_t j = start[id]; j < start[id + 1]; ++j) {
          const float* g = dout + order[j] * C;
          for (int64_t c = 0; c < C; ++c) dw[c] += g[c];
        }
      },
      N * C);
}

void crossentropy_forward(float* losses, float* logits_to_probs, const int32_t* targets, int64_t N, int64_t V) {
  parallel_for(
      0, N,
      [&](int64_t n) {
        float* x = logits_to_probs + n * V;
        float mx = -INFINITY;
        for (int64_t v = 0; v < V; ++v) mx = std::max(mx, x[v]);
        double sum = 0.0;
        const float target_logit = x[targets[n]];
        for (int64_t v = 0; v < V; ++v) {
          x[v] = std::exp(x[v] - mx);
          sum += x[v];
        }
        const float inv = static_cast<float>(1.0 / sum);
        for (int64_t v = 0; v < V; ++v) x[v] *= inv;
        losses[n] = static_cast<float>(std::log(sum) + mx - target_logit);
      },
      N * V * 8);
}

void crossentropy_softmax_backward(float* dlogits, const float* probs, const int32_t* targets, float scale, int64_t N,
                                   int64_t V) {
  parallel_for(
      0, N,
      [&](int64_t n) {
        const float* p = probs + n * V;
        float* d = dlogits + n * V;
        for (int64_t v = 0; v < V; ++v) d[v] = scale * p[v];
        d[targets[n]] -= scale;
      },
      N * V);
}

void crossentropy_fused(float* losses, float* logits_to_dlogits, const int32_t* targets, float scale, int64_t N,
                        int64_t V) {
  parallel_for(
      0, N,
      [&](int64_t n) {
        float* x = logits_to_dlogits + n * V;
        float mx[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
        int64_t v = 0;
        for (; v + 4 <= V; v += 4)
          for (int l = 0; l < 4; ++l) mx[l] = std::max(mx[l], x[v + l]);
        for (; v < V; ++v) mx[0] = std::max(mx[0], x[v]);
        const float m = std::max(std::max(mx[0], mx[1]), std::max(mx[2], mx[3]));
        const float target_logit = x[targets[n]];
        double sum[4] = {0.0, 0.0, 0.0, 0.0};  // four lanes, combined in a fixed order
        for (v = 0; v + 4 <= V; v += 4)
          for (int l = 0; l < 4; ++l) sum[l] += (x[v + l] = std::exp(x[v + l] - m));
        for (; v < V; ++v) sum[0] += (x[v] = std::exp(x[v] - m));
        const double total = (sum[0] + sum[1]) + (sum[2] + sum[3]);
        const float k = static_cast<float>(scale / total);
        for (v = 0; v < V; ++v) x[v] *= k;
        x[targets[n]] -= scale;
        losses[n] = static_cast<float>(std::log(total) + m - target_logit);
      },
      N * V * 8);
}

}  // namespace gaincell
