// "hardsigmoid": the software baseline clip(q.k / sqrt(D), 0, 1) . v over a sliding window (paper-spec
// §2.7 software baselines); no normaliser, no hardware effects. Window: --window, else n_positions.
#pragma once
#include <memory>

#include "model/attention.h"

namespace gaincell {

std::unique_ptr<Attention> make_hardsigmoid_attention(const AttentionContext& ctx);

// One head, training form: q, k, v [T] rows with stride `ld`; out rows [T] with stride `ld_out`; D wide.
void hardsigmoid_head(float* out, int64_t ld_out, const float* q, const float* k, const float* v, int64_t ld, int T,
                      int D, int window);

// Gradient of hardsigmoid_head (hardsigmoid_backward.cpp): writes dq, dk, dv (rows with stride ld) from dout
// (stride ld_out). Exact: the clip passes the gradient where 0 <= q.k/sqrt(D) <= 1 (inclusive, torch.clamp).
void hardsigmoid_head_backward(float* dq, float* dk, float* dv, const float* dout, int64_t ld_out, const float* q,
                               const float* k, const float* v, int64_t ld, int T, int D, int window);

}  // namespace gaincell
