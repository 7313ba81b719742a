// Kernels of the Llama-family block (and GPT-2's exact-erf GELU) on row-major float32 buffers, llm.c argument
// order (outputs, inputs, sizes). Each has a naive reference (double precision, plain loops) for tests.
#pragma once
#include <cstdint>

namespace gaincell {

// out[N, C] = inp / sqrt(mean(inp^2) + eps) * weight per row (HF LlamaRMSNorm); rstd [N] saved when non-null.
void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, int64_t N, int64_t C, float eps);
void rmsnorm_reference(float* out, const float* inp, const float* weight, int64_t N, int64_t C, float eps);

// Rotary embedding tables of N rows at positions pos[N]: cos, sin [N, D/2], angle pos * theta^(-2i/D) computed
// as HF does in float32 (inv_freq = 1 / theta^(2i/D), then pos * inv_freq).
void rope_tables(float* cos, float* sin, const int64_t* pos, int64_t N, int64_t D, double theta);
// Rotates, in place, n_heads heads of D values of N rows of x (row r, head h at x + r * row_stride +
// h * head_stride) with the tables of rope_tables. Pairs: half_split (HF rotate_half: (i, i + D/2)) or
// interleaved (Meta: (2i, 2i + 1)); pair i turns by angle i: (a, b) -> (a cos - b sin, b cos + a sin).
void rope_forward(float* x, int64_t row_stride, int64_t head_stride, int64_t n_heads, int64_t D, const float* cos,
                  const float* sin, int64_t N, bool half_split);
// The rotation of rope_forward with sin scaled by sin_sign: +1 turns pair i by angle i (rope_forward), -1 by
// -angle i (rope_backward, kernels/backward.h).
void rope_rotate(float* x, int64_t row_stride, int64_t head_stride, int64_t n_heads, int64_t D, const float* cos,
                 const float* sin, int64_t N, bool half_split, float sin_sign);
// The same from the equations in double precision, positions pos[N].
void rope_reference(float* x, int64_t row_stride, int64_t head_stride, int64_t n_heads, int64_t D, const int64_t* pos,
                    int64_t N, double theta, bool half_split);

// SwiGLU: out[n] = silu(gate) * up with silu(x) = x / (1 + exp(-x)); out may alias gate or up.
void swiglu_forward(float* out, const float* gate, const float* up, int64_t n);
void swiglu_reference(float* out, const float* gate, const float* up, int64_t n);

// Exact GELU, 0.5 x (1 + erf(x / sqrt 2)) (HF "gelu"), elementwise; out may alias inp.
void gelu_erf_forward(float* out, const float* inp, int64_t n);
void gelu_erf_reference(float* out, const float* inp, int64_t n);

}  // namespace gaincell
