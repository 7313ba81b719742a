// Forward kernels of the GPT-2 block on row-major float32 buffers (llm.c argument order: outputs, inputs,
// sizes). N = rows (batch x tokens), C = channels. Callers validate shapes; kernels assume valid input.
#pragma once
#include <cstdint>

namespace gaincell {

// out[N, M] = inp[N, K] @ w[K, M] (+ bias[M] if non-null). w is stored [in, out] (HF Conv1D layout).
// Every matmul here goes through gemm_deterministic (kernels/gemm.h): BLAS when built with it, the same bits
// at any thread count; one row (decoding) is a matrix-vector product, memory bound on w. linear_forward,
// matmul_forward and matmul_transposed_forward (the projections) run in the matmul precision (kernels/bf16.h:
// float32, or bf16 operands with float32 accumulation); matmul_nt / matmul_nn (attention) always in float32.
void matmul_forward(float* out, const float* inp, const float* w, const float* bias, int64_t N, int64_t K, int64_t M);
// out rows [N] of width M, row stride ldo: out = inp[N, K] @ W (+ bias[M]) with W stored [K, M] (HF Conv1D)
// or, out_in, [M, K] (HF nn.Linear, used in place through a transposed GEMM). matmul_forward is the case
// !out_in, ldo = M, and runs the same code.
void linear_forward(float* out, int64_t ldo, const float* inp, const float* w, const float* bias, int64_t N, int64_t K,
                    int64_t M, bool out_in);
// out[N, V] = inp[N, C] @ wt[V, C]^T (the tied lm_head: wt is wte).
void matmul_transposed_forward(float* out, const float* inp, const float* wt, int64_t N, int64_t C, int64_t V);
// The same two projections with a weight held in bf16 (uint16_t bits; a Model loaded with bf16 projection
// weights): the activations rounded to bf16 per call and multiplied with float32 accumulation
// (gemm_projection_bf16_weights, kernels/bf16.h), the weight read in 16 bits; bf16 whatever the matmul precision.
void linear_forward_bf16(float* out, int64_t ldo, const float* inp, const uint16_t* w, const float* bias, int64_t N,
                         int64_t K, int64_t M, bool out_in);
void matmul_transposed_forward_bf16(float* out, const float* inp, const uint16_t* wt, int64_t N, int64_t C, int64_t V);
// One projection of the same input for linear_forward_parts: out rows [N] of width M (row stride ldo) from w
// (float32), or from w16 when non-null (bf16, as linear_forward_bf16), plus bias when non-null.
struct LinearPart {
  float* out;
  int64_t ldo;
  const float* w;
  const uint16_t* w16;
  const float* bias;
  int64_t M;
};
// The projections parts[i] of inp[N, K], each with the bits of its own linear_forward / linear_forward_bf16 call.
// A decoding row (N == 1) against out_in weights, all bias-free and held in one precision, runs them in one
// parallel region (gemm_row_products): the q, k and v, or gate and up, projections of a Llama block.
void linear_forward_parts(const LinearPart* parts, int n_parts, const float* inp, int64_t N, int64_t K, bool out_in);
// Strided GEMMs of attention heads (row-major; ld* are row strides in floats):
// c[M, N] = alpha * a[M, K] b[N, K]^T, and c[M, N] = a[M, K] b[K, N].
void matmul_nt(float* c, int64_t ldc, const float* a, int64_t lda, const float* b, int64_t ldb, int64_t M, int64_t N,
               int64_t K, float alpha);
void matmul_nn(float* c, int64_t ldc, const float* a, int64_t lda, const float* b, int64_t ldb, int64_t M, int64_t N,
               int64_t K);
// Naive reference of matmul_forward (style R8): plain loops, double accumulation.
void matmul_reference(float* out, const float* inp, const float* w, const float* bias, int64_t N, int64_t K, int64_t M);

// out[N, C] = (inp - mean) * rstd * weight + bias per row; mean and rstd [N] saved when non-null.
void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias,
                       int64_t N, int64_t C, float eps);

// GELU, tanh form (GPT-2 "gelu_new"), elementwise over n values.
void gelu_forward(float* out, const float* inp, int64_t n);

// out[N, C] = a + b (residual add).
void residual_forward(float* out, const float* a, const float* b, int64_t n);

// x[N, C] = wte[token] + wpe[pos0 + t] for tokens [B, T] (pos0 is the position of the first token); wpe may be
// nullptr (rotary positions): x = wte[token].
void embedding_forward(float* out, const int32_t* tokens, const float* wte, const float* wpe, int64_t B, int64_t T,
                       int64_t C, int64_t pos0);

// Numerically stable in-place softmax of one row of n values, accumulated in float.
void softmax_row(float* x, int64_t n);

// Inner loops of one attention head at decode time (rows of D floats, row stride D):
// s[j] = scale * dot(q, k[j, :]) for j < n, and out[d] = sum_j p[j] v[j, d].
void attention_scores(float* s, const float* q, const float* k, int64_t n, int64_t D, float scale);
void attention_mix(float* out, const float* p, const float* v, int64_t n, int64_t D);

}  // namespace gaincell
