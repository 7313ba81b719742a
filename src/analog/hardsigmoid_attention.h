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

}  // namespace gaincell
