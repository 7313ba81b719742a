// Backward kernels of the GPT-2 block (the gradients of kernels/ops.h), llm.c argument order: outputs
// (gradients), then inputs, then sizes. N = rows (batch x tokens), C = channels.
//
// Accumulation rules: parameter gradients (dweight, dbias, dwte, dwpe) are ACCUMULATED (+=) so that
// gradient accumulation over micro-batches needs no extra pass; activation gradients are WRITTEN (=) by
// matmul, gelu and cross-entropy, and ACCUMULATED by layernorm and residual (they feed the residual stream).
//
// Determinism (style R9): every reduction runs in an order fixed by the shapes alone. Reductions over rows
// (dbias, dweight of layernorm, dwpe, dwte) are parallelised over the reduced-to index, each summing its rows
// sequentially, so results are bit-identical at any thread count. GEMMs go through BLAS, which partitions
// only the output, in fixed panels (gemm_deterministic).
#pragma once
#include <cstdint>

namespace gaincell {

// Gradients of out[N, M] = inp[N, K] @ w[K, M] + bias[M]:
//   dinp[N, K] = dout @ w^T (written; skipped when dinp is null), dweight[K, M] += inp^T @ dout,
//   dbias[M] += sum_n dout (skipped when dbias is null).
void matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp, const float* w,
                     int64_t N, int64_t K, int64_t M);
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

// Gradients of embedding_forward (pos0 = 0): dwte[token] += dout row, dwpe[t] += dout row. Rows with the same
// token id are summed in increasing row order (a stable counting sort, no atomics).
void embedding_backward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens, int64_t B, int64_t T,
                        int64_t C, int64_t V);

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
