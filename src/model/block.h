// The transformer block of every family, one routine for inference (Engine: forward, prefill, decode step)
// and the training forward (TrainModel, whose backward sits beside it in train/): norm -> q/k/v projections
// (+ biases) -> rotary embedding on q and k -> attention -> output projection -> residual -> norm -> MLP (GELU
// variants or SwiGLU) -> residual. What differs between callers is only where rows are kept, so the caller
// names the buffers and supplies the attention step.
#pragma once
#include <cstdint>
#include <functional>

#include "model/config.h"
#include "model/model.h"

namespace gaincell {

// Where one block reads and writes its N rows. Inference passes one residual buffer (x_in = x_mid = x_out),
// fc_act = fc and no statistics; training passes buffers it keeps for the backward.
struct BlockBuffers {
  float* x_in = nullptr;      // [N, C] residual stream into the block
  float* x_mid = nullptr;     // [N, C] after the attention residual (may alias x_in)
  float* x_out = nullptr;     // [N, C] block output (may alias x_mid)
  float* ln1 = nullptr;       // [N, C] attention norm output
  float* ln1_mean = nullptr;  // [N] LayerNorm statistics (nullptr: not kept)
  float* ln1_rstd = nullptr;  // [N]
  float* qkv = nullptr;       // [N, qkv_dim] fused q | k | v rows, rotary applied
  float* att = nullptr;       // [N, q_dim] attention output
  float* ln2 = nullptr;       // [N, C] MLP norm output
  float* ln2_mean = nullptr;
  float* ln2_rstd = nullptr;
  float* fc = nullptr;              // [N, I] MLP pre-activation (SwiGLU: up)
  float* fc_act = nullptr;          // [N, I] after the activation (may alias fc)
  float* gate = nullptr;            // [N, I] SwiGLU gate
  float* proj = nullptr;            // [N, C] scratch of the output projections
  const float* rope_cos = nullptr;  // [N, D/2] rotary tables of the rows (rotary models)
  const float* rope_sin = nullptr;
};

// The attention of the block: reads qkv rows, writes att rows.
using AttendFn = std::function<void(const float* qkv, float* att)>;

void block_forward(const ModelConfig& c, const LayerWeights& w, const BlockBuffers& buf, int64_t N,
                   const AttendFn& attend);

// The family's norm (LayerNorm with bias, or RMSNorm) over N rows of C; statistics saved when non-null
// (RMSNorm has no mean).
void model_norm(const ModelConfig& c, float* out, float* mean, float* rstd, const float* inp, const float* w,
                const float* b, int64_t N);

}  // namespace gaincell
