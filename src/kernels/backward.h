// Backward kernels of the transformer block of every family (the gradients of kernels/ops.h and
// kernels/block_ops.h), llm.c argument order: outputs (gradients), then inputs, then sizes. N = rows (batch x
// tokens), C = channels.
//
// Accumulation rules: parameter gradients (dweight, dbias, dwte, dwpe) are ACCUMULATED (+=) so that
// gradient accumulation over micro-batches needs no extra pass; activation gradients are WRITTEN (=) by
// matmul, gelu, swiglu and cross-entropy, and ACCUMULATED by layernorm, rmsnorm and residual (they feed the
// residual stream).
//
// Determinism (style R9): every reduction runs in an order fixed by the shapes alone. Reductions over rows
// (dbias, dweight of layernorm and rmsnorm, dwpe, dwte) are parallelised over the reduced-to index, each summing its
// rows sequentially, so results are bit-identical at any thread count. GEMMs go through BLAS, which partitions only the
// output, in fixed panels (gemm_deterministic).
#pragma once
#include <cstdint>

namespace gaincell {

// Gradients of out[N, M] = inp[N, K] @ w[K, M] + bias[M]:
//   dinp[N, K] = dout @ w^T (written; skipped when dinp is null), dweight[K, M] += inp^T @ dout,
//   dbias[M] += sum_n dout (skipped when dbias is null).
void matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp, const float* w,
                     int64_t N, int64_t K, int64_t M);
// The same for linear_forward (kernels/ops.h): dout rows of width M at row stride ldd, w stored [K, M] or,
// out_in, [M, K]. dinp [N, K] is written, or accumulated (+=) when accumulate_dinp (several projections of one
// input, e.g. q, k and v); dweight and dbias (skipped when null) accumulate.
void linear_backward(float* dinp, float* dweight, float* dbias, const float* dout, int64_t ldd, const float* inp,
                     const float* w, int64_t N, int64_t K, int64_t M, bool out_in, bool accumulate_dinp);
// Gradients of out[N, V] = inp[N, C] @ wt[V, C]^T (tied lm_head):
//   dinp[N, C] = dout @ wt (written), dwt[V, C] += dout^T @ inp.
void matmul_transposed_backward(float* dinp, float* dwt, const float* dout, const float* inp, const float* wt,
                                int64_t N, int64_t C, int64_t V);

// Gradients of layernorm_forward given its saved mean and rstd [N]: dinp += ..., dweight += ..., dbias += ...
void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, int64_t N, int64_t C);

// dinp[i] = gelu'(inp[i]) * dout[i] (tanh form), written; dinp may alias dout.
void gelu_backward(float* dinp, const float* inp, const float* dout, int64_t n);

// out = a + b: da += dout, db += dout.
void residual_backward(float* da, float* db, const float* dout, int64_t n);

// Gradients of embedding_forward (pos0 = 0): dwte[token] += dout row, dwpe[t] += dout row (skipped when dwpe
// is null: rotary positions). Rows with the same
// token id are summed in increasing row order (a stable counting sort, no atomics).
void embedding_backward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens, int64_t B, int64_t T,
                        int64_t C, int64_t V);

// Llama-family block (kernels/block_ops.h), src/kernels/block_backward.cpp:
// Gradients of rmsnorm_forward given its saved rstd [N]: dinp += ..., dweight += ... (rows summed in order).
void rmsnorm_backward(float* dinp, float* dweight, const float* dout, const float* inp, const float* weight,
                      const float* rstd, int64_t N, int64_t C);
// Gradient of rope_forward, in place: x holds dL/d(rotated) on entry and dL/d(input) on exit (the inverse
// rotation, pair i turned by -angle i); same layout and tables as rope_forward.
void rope_backward(float* dx, int64_t row_stride, int64_t head_stride, int64_t n_heads, int64_t D, const float* cos,
                   const float* sin, int64_t N, bool half_split);
// Gradients of swiglu_forward: dgate = dout * up * silu'(gate), dup = dout * silu(gate) (written; either may
// alias dout, not each other).
void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up, int64_t n);
// dinp = gelu_erf'(inp) * dout (exact GELU), written; dinp may alias dout.
void gelu_erf_backward(float* dinp, const float* inp, const float* dout, int64_t n);

// Cross-entropy of softmax(logits) against targets, per row. Turns logits [N, V] into probabilities in place
// and writes losses[N] = -log p[target] (computed as logsumexp - logit, in double).
void crossentropy_forward(float* losses, float* logits_to_probs, const int32_t* targets, int64_t N, int64_t V);
// dlogits[n, v] = scale * (probs[n, v] - [v == target[n]]) (written; may alias probs). scale is dL/dloss_n,
// for example 1 / (rows x micro-batches) for a mean.
void crossentropy_softmax_backward(float* dlogits, const float* probs, const int32_t* targets, float scale, int64_t N,
                                   int64_t V);

// The two above fused for training, three passes over each row instead of five: losses[n] as
// crossentropy_forward, and logits_to_dlogits[n, v] = scale * (softmax - onehot) in place.
void crossentropy_fused(float* losses, float* logits_to_dlogits, const int32_t* targets, float scale, int64_t N,
                        int64_t V);

}  // namespace gaincell
