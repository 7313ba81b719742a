#include "model/block.h"

#include "kernels/block_ops.h"
#include "kernels/ops.h"

namespace gaincell {

void model_norm(const ModelConfig& c, float* out, float* mean, float* rstd, const float* inp, const float* w,
                const float* b, int64_t N) {
  if (c.norm == NormKind::kLayerNorm)
    layernorm_forward(out, mean, rstd, inp, w, b, N, c.n_embd, c.layer_norm_epsilon);
  else
    rmsnorm_forward(out, rstd, inp, w, N, c.n_embd, c.layer_norm_epsilon);
}

namespace {

// A projection of the block by the weight it holds: float32 (in the matmul precision) or bf16.
void project(float* out, int64_t ldo, const float* inp, const float* w, const uint16_t* w16, const float* bias,
             int64_t N, int64_t K, int64_t M, bool out_in) {
  if (w16)
    linear_forward_bf16(out, ldo, inp, w16, bias, N, K, M, out_in);
  else
    linear_forward(out, ldo, inp, w, bias, N, K, M, out_in);
}

}  // namespace

void block_forward(const ModelConfig& c, const LayerWeights& w, const BlockBuffers& buf, int64_t N,
                   const AttendFn& attend) {
  const int64_t C = c.n_embd, Q = c.q_dim(), KV = c.kv_dim(), W = c.qkv_dim(), I = c.ffn_dim();
  const int D = c.head_dim();
  model_norm(c, buf.ln1, buf.ln1_mean, buf.ln1_rstd, buf.x_in, w.ln1_w, w.ln1_b, N);
  if (w.attn_w || w.attn_w16) {  // GPT-2's fused c_attn: rows [3C] = q | k | v
    project(buf.qkv, 3 * C, buf.ln1, w.attn_w, w.attn_w16, w.attn_b, N, C, 3 * C, false);
  } else {
    const LinearPart qkv[3] = {{buf.qkv, W, w.q_w, w.q_w16, w.q_b, Q},
                               {buf.qkv + Q, W, w.k_w, w.k_w16, w.k_b, KV},
                               {buf.qkv + Q + KV, W, w.v_w, w.v_w16, w.v_b, KV}};
    linear_forward_parts(qkv, 3, buf.ln1, N, C, w.out_in);
  }
  if (c.rotary()) {
    const bool half = c.rope_pairs == RopePairs::kHalfSplit;
    rope_forward(buf.qkv, W, D, c.n_head, D, buf.rope_cos, buf.rope_sin, N, half);
    rope_forward(buf.qkv + Q, W, D, c.kv_heads(), D, buf.rope_cos, buf.rope_sin, N, half);
  }
  attend(buf.qkv, buf.att);
  project(buf.proj, C, buf.att, w.proj_w, w.proj_w16, w.proj_b, N, Q, C, w.out_in);
  residual_forward(buf.x_mid, buf.x_in, buf.proj, N * C);

  model_norm(c, buf.ln2, buf.ln2_mean, buf.ln2_rstd, buf.x_mid, w.ln2_w, w.ln2_b, N);
  if (c.mlp == MlpKind::kSwiGLU) {
    const LinearPart up_gate[2] = {{buf.fc, I, w.fc_w, w.fc_w16, w.fc_b, I},
                                   {buf.gate, I, w.gate_w, w.gate_w16, w.gate_b, I}};
    linear_forward_parts(up_gate, 2, buf.ln2, N, C, w.out_in);
    swiglu_forward(buf.fc_act, buf.gate, buf.fc, N * I);
  } else if (c.mlp == MlpKind::kGeluErf) {
    project(buf.fc, I, buf.ln2, w.fc_w, w.fc_w16, w.fc_b, N, C, I, w.out_in);
    gelu_erf_forward(buf.fc_act, buf.fc, N * I);
  } else {
    project(buf.fc, I, buf.ln2, w.fc_w, w.fc_w16, w.fc_b, N, C, I, w.out_in);
    gelu_forward(buf.fc_act, buf.fc, N * I);
  }
  project(buf.proj, C, buf.fc_act, w.fcproj_w, w.fcproj_w16, w.fcproj_b, N, I, C, w.out_in);
  residual_forward(buf.x_out, buf.x_mid, buf.proj, N * C);
}

}  // namespace gaincell
