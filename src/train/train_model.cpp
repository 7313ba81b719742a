#include "train/train_model.h"

#include <cmath>
#include <cstring>

#include "core/error.h"
#include "core/parallel.h"
#include "kernels/backward.h"
#include "kernels/block_ops.h"
#include "kernels/ops.h"
#include "model/block.h"

namespace gaincell {

namespace {

float* mut(const float* p) {
  return const_cast<float*>(p);
}  // a view into grads_, which the model owns

}  // namespace

TrainModel::TrainModel(const Gpt2& init, Attention& attention)
    : config_(init.config()), source_dir_(init.source_dir()), attention_(attention) {
  const AttentionShape& sh = attention.shape();
  if (sh.n_head != config_.n_head || sh.n_kv_head != config_.kv_heads() || sh.head_dim != config_.head_dim())
    fail_expected("train",
                  "an attention backend for " + std::to_string(config_.n_head) + " heads (" +
                      std::to_string(config_.kv_heads()) + " KV) of " + std::to_string(config_.head_dim()),
                  std::to_string(sh.n_head) + " heads (" + std::to_string(sh.n_kv_head) + " KV) of " +
                      std::to_string(sh.head_dim));
  int64_t offset = 0;
  for (const WeightSpec& s : weight_table(config_)) {
    tensors_.push_back({s.name, s.shape, offset, s.numel()});
    offset += s.numel();
  }
  params_.resize(static_cast<size_t>(offset));
  grads_.resize(static_cast<size_t>(offset));
  grads_.zero();
  for (const TensorSpan& t : tensors_)  // the initial weights, tensor by tensor, in table order
    std::memcpy(params_.data() + t.offset, init.tensor_data(t.name), static_cast<size_t>(t.numel) * sizeof(float));
  p_ = std::make_unique<Model>(Model::view(config_, params_.data(), source_dir_));
  g_ = std::make_unique<Model>(Model::view(config_, grads_.data(), source_dir_));
  attention_params_ = attention_.parameters();
  for (const auto& [name, shape] : init.extra_table()) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    const float* d = init.find_extra(name, n);
    extras_.push_back({name, std::vector<float>(d, d + n)});
    extra_shapes_.push_back({name, shape});
  }
  zero_grad();
}

Gpt2 TrainModel::snapshot() const {
  Gpt2 m = Gpt2::view(config_, params_.data(), source_dir_);
  for (size_t i = 0; i < extras_.size(); ++i)
    m.set_extra(extras_[i].first, extra_shapes_[i].second, extras_[i].second.data());
  for (const ParamView& p : attention_params_) m.set_extra(p.name, p.shape, p.value);
  for (const ParamView& b : attention_.buffers()) m.set_extra(b.name, b.shape, b.value);  // e.g. gain-cell targets
  return m;
}

void TrainModel::zero_grad() {
  grads_.zero();
  for (ParamView& p : attention_params_) {
    int64_t n = 1;
    for (int64_t d : p.shape) n *= d;
    std::memset(p.grad, 0, static_cast<size_t>(n) * sizeof(float));
  }
}

void TrainModel::reserve(int B, int T) {
  const ModelConfig& c = config_;
  const int64_t N = int64_t{B} * T, C = c.n_embd, V = c.vocab_size, L = c.n_layer;
  const int64_t W = c.qkv_dim(), Q = c.q_dim(), I = c.ffn_dim();
  const bool swiglu = c.mlp == MlpKind::kSwiGLU;
  B_ = B;
  T_ = T;
  n_rows_ = N;
  res_in_.resize((L + 1) * N * C);
  res_mid_.resize(L * N * C);
  ln1_.resize(L * N * C);
  ln1_mean_.resize(L * N);
  ln1_rstd_.resize(L * N);
  qkv_.resize(L * N * W);
  att_.resize(L * N * Q);
  ln2_.resize(L * N * C);
  ln2_mean_.resize(L * N);
  ln2_rstd_.resize(L * N);
  fch_.resize(L * N * I);
  if (swiglu) gate_.resize(L * N * I);
  fch_gelu_.resize(L * N * I);
  lnf_.resize(N * C);
  lnf_mean_.resize(N);
  lnf_rstd_.resize(N);
  logits_.resize(N * V);
  proj_.resize(N * C);
  dres_.resize(N * C);
  dln_.resize(N * C);
  dqkv_.resize(N * W);
  datt_.resize(N * Q);
  dfch_.resize(N * I);
  if (swiglu) dgate_.resize(N * I);
  losses_.resize(N);
  tokens_.resize(static_cast<size_t>(N));
  if (c.rotary()) {  // positions 0..T-1 of every sequence
    std::vector<int64_t> pos(static_cast<size_t>(N));
    for (int64_t r = 0; r < N; ++r) pos[r] = r % T;
    const int64_t half = c.head_dim() / 2;
    rope_cos_.resize(N * half);
    rope_sin_.resize(N * half);
    rope_tables(rope_cos_.data(), rope_sin_.data(), pos.data(), N, c.head_dim(), c.rope_theta);
  }
}

void TrainModel::check_tokens(const int32_t* ids, int64_t n, const char* what) const {
  for (int64_t i = 0; i < n; ++i)
    if (ids[i] < 0 || ids[i] >= config_.vocab_size)
      fail_expected("train", std::string(what) + " in [0, " + std::to_string(config_.vocab_size) + ")",
                    std::to_string(ids[i]), "at index " + std::to_string(i));
}

const float* TrainModel::forward(const int32_t* tokens, int B, int T) {
  const Gpt2Config& c = config_;
  if (B <= 0 || T <= 0 || T > c.n_positions)
    fail_expected("train", "batch >= 1 and 1 <= context <= n_positions = " + std::to_string(c.n_positions),
                  std::to_string(B) + " x " + std::to_string(T));
  const int64_t N = int64_t{B} * T, C = c.n_embd, V = c.vocab_size, W = c.qkv_dim(), Q = c.q_dim(), I = c.ffn_dim();
  check_tokens(tokens, N, "token ids");
  if (B != B_ || T != T_) reserve(B, T);
  std::memcpy(tokens_.data(), tokens, static_cast<size_t>(N) * sizeof(int32_t));
  embedding_forward(res_in_.data(), tokens, p_->wte(), p_->wpe(), B, T, C, 0);
  const bool layernorm = c.norm == NormKind::kLayerNorm;
  for (int l = 0; l < c.n_layer; ++l) {
    BlockBuffers b;
    b.x_in = act(res_in_, l, C);
    b.x_mid = act(res_mid_, l, C);
    b.x_out = act(res_in_, l + 1, C);
    b.ln1 = act(ln1_, l, C);
    b.ln1_mean = layernorm ? act(ln1_mean_, l, 1) : nullptr;
    b.ln1_rstd = act(ln1_rstd_, l, 1);
    b.qkv = act(qkv_, l, W);
    b.att = act(att_, l, Q);
    b.ln2 = act(ln2_, l, C);
    b.ln2_mean = layernorm ? act(ln2_mean_, l, 1) : nullptr;
    b.ln2_rstd = act(ln2_rstd_, l, 1);
    b.fc = act(fch_, l, I);
    b.fc_act = act(fch_gelu_, l, I);
    if (c.mlp == MlpKind::kSwiGLU) b.gate = act(gate_, l, I);
    b.proj = proj_.data();
    b.rope_cos = rope_cos_.data();
    b.rope_sin = rope_sin_.data();
    block_forward(c, p_->layer(l), b, N, [&](const float* qkv, float* att) { attention_.forward(att, qkv, B, T, l); });
  }
  model_norm(c, lnf_.data(), layernorm ? lnf_mean_.data() : nullptr, lnf_rstd_.data(), act(res_in_, c.n_layer, C),
             p_->lnf_w(), p_->lnf_b(), N);
  matmul_transposed_forward(logits_.data(), lnf_.data(), p_->lm_head(), N, C, V);
  return logits_.data();
}

double TrainModel::loss(const int32_t* targets) {
  const int64_t N = n_rows_, V = config_.vocab_size;
  check_tokens(targets, N, "target ids");
  crossentropy_forward(losses_.data(), logits_.data(), targets, N, V);
  double sum = 0.0;
  for (int64_t i = 0; i < N; ++i) sum += losses_[i];
  return sum / static_cast<double>(N);
}

double TrainModel::backward(const int32_t* targets, const float* teacher_logits, float distill, float grad_scale) {
  const int64_t N = n_rows_, C = config_.n_embd, V = config_.vocab_size;
  if (distill < 0.0f || distill > 1.0f)
    fail_expected("train", "a distillation weight in [0, 1]", std::to_string(distill));
  if (distill > 0.0f && !teacher_logits) fail("train", "distillation needs teacher logits");
  check_tokens(targets, N, "target ids");
  double mse = 0.0;
  float* dlogits = logits_.data();
  if (distill > 0.0f) {  // the MSE term needs the logits after the softmax overwrote them: keep a copy
    dlogits_.resize(N * V);
    std::memcpy(dlogits_.data(), logits_.data(), static_cast<size_t>(N * V) * sizeof(float));
    dlogits = dlogits_.data();
  }
  crossentropy_fused(losses_.data(), dlogits, targets, (1.0f - distill) * grad_scale / static_cast<float>(N), N, V);
  double ce = 0.0;
  for (int64_t i = 0; i < N; ++i) ce += losses_[i];
  ce /= static_cast<double>(N);
  if (distill > 0.0f) {
    const float k = distill * grad_scale * 2.0f / static_cast<float>(N * V);
    parallel_for(
        0, N,
        [&](int64_t n) {
          const float* s = logits_.data() + n * V;
          const float* t = teacher_logits + n * V;
          float* d = dlogits + n * V;
          double acc = 0.0;
          for (int64_t v = 0; v < V; ++v) {
            const float diff = s[v] - t[v];
            acc += double(diff) * diff;
            d[v] += k * diff;
          }
          losses_[n] = static_cast<float>(acc);
        },
        N * V * 4);
    for (int64_t i = 0; i < N; ++i) mse += losses_[i];
    mse /= static_cast<double>(N * V);
  }
  // The lm_head's gradient goes to wte when tied (the grads view's lm_head() is its wte()).
  matmul_transposed_backward(dln_.data(), mut(g_->lm_head()), dlogits, lnf_.data(), p_->lm_head(), N, C, V);
  dres_.zero();
  norm_backward(dres_.data(), p_->lnf_w(), mut(g_->lnf_w()), mut(g_->lnf_b()), dln_.data(),
                act(res_in_, config_.n_layer, C), lnf_mean_.data(), lnf_rstd_.data());
  for (int l = config_.n_layer - 1; l >= 0; --l) backward_layer(l);
  embedding_backward(mut(g_->wte()), mut(g_->wpe()), dres_.data(), tokens_.data(), B_, T_, C, V);
  return (1.0 - distill) * ce + distill * mse;
}

// The family's norm: LayerNorm (weight, bias, saved mean and rstd) or RMSNorm (weight, saved rstd). dinp +=.
void TrainModel::norm_backward(float* dinp, const float* w, float* dw, float* db, const float* dout, const float* inp,
                               const float* mean, const float* rstd) {
  const int64_t N = n_rows_, C = config_.n_embd;
  if (config_.norm == NormKind::kLayerNorm)
    layernorm_backward(dinp, dw, db, dout, inp, w, mean, rstd, N, C);
  else
    rmsnorm_backward(dinp, dw, dout, inp, w, rstd, N, C);
}

// dres_ holds dL/d(output of layer l) on entry and dL/d(input of layer l) on exit. Mirrors block_forward.
void TrainModel::backward_layer(int l) {
  const ModelConfig& c = config_;
  const int64_t N = n_rows_, C = c.n_embd, W = c.qkv_dim(), Q = c.q_dim(), KV = c.kv_dim(), I = c.ffn_dim();
  const int D = c.head_dim();
  const LayerWeights& w = p_->layer(l);
  const LayerWeights& g = g_->layer(l);
  const bool oi = w.out_in;
  // MLP: x_out = x_mid + down(act(...)); dres_ flows to x_mid unchanged (residual) plus the norm's part.
  linear_backward(dfch_.data(), mut(g.fcproj_w), mut(g.fcproj_b), dres_.data(), C, act(fch_gelu_, l, I), w.fcproj_w, N,
                  I, C, oi, false);
  if (c.mlp == MlpKind::kSwiGLU) {
    swiglu_backward(dgate_.data(), dfch_.data(), dfch_.data(), act(gate_, l, I), act(fch_, l, I), N * I);
    linear_backward(dln_.data(), mut(g.fc_w), mut(g.fc_b), dfch_.data(), I, act(ln2_, l, C), w.fc_w, N, C, I, oi,
                    false);
    linear_backward(dln_.data(), mut(g.gate_w), mut(g.gate_b), dgate_.data(), I, act(ln2_, l, C), w.gate_w, N, C, I, oi,
                    true);
  } else {
    if (c.mlp == MlpKind::kGeluErf)
      gelu_erf_backward(dfch_.data(), act(fch_, l, I), dfch_.data(), N * I);
    else
      gelu_backward(dfch_.data(), act(fch_, l, I), dfch_.data(), N * I);
    linear_backward(dln_.data(), mut(g.fc_w), mut(g.fc_b), dfch_.data(), I, act(ln2_, l, C), w.fc_w, N, C, I, oi,
                    false);
  }
  norm_backward(dres_.data(), w.ln2_w, mut(g.ln2_w), mut(g.ln2_b), dln_.data(), act(res_mid_, l, C),
                act(ln2_mean_, l, 1), act(ln2_rstd_, l, 1));
  // Attention: x_mid = x_in + o(attention(rope(q, k), v)).
  linear_backward(datt_.data(), mut(g.proj_w), mut(g.proj_b), dres_.data(), C, act(att_, l, Q), w.proj_w, N, Q, C, oi,
                  false);
  attention_.backward(dqkv_.data(), datt_.data(), act(qkv_, l, W), B_, T_, l);
  if (c.rotary()) {
    const bool half = c.rope_pairs == RopePairs::kHalfSplit;
    rope_backward(dqkv_.data(), W, D, c.n_head, D, rope_cos_.data(), rope_sin_.data(), N, half);
    rope_backward(dqkv_.data() + Q, W, D, c.kv_heads(), D, rope_cos_.data(), rope_sin_.data(), N, half);
  }
  if (w.attn_w) {
    matmul_backward(dln_.data(), mut(g.attn_w), mut(g.attn_b), dqkv_.data(), act(ln1_, l, C), w.attn_w, N, C, 3 * C);
  } else {
    const float* x = act(ln1_, l, C);
    linear_backward(dln_.data(), mut(g.q_w), mut(g.q_b), dqkv_.data(), W, x, w.q_w, N, C, Q, oi, false);
    linear_backward(dln_.data(), mut(g.k_w), mut(g.k_b), dqkv_.data() + Q, W, x, w.k_w, N, C, KV, oi, true);
    linear_backward(dln_.data(), mut(g.v_w), mut(g.v_b), dqkv_.data() + Q + KV, W, x, w.v_w, N, C, KV, oi, true);
  }
  norm_backward(dres_.data(), w.ln1_w, mut(g.ln1_w), mut(g.ln1_b), dln_.data(), act(res_in_, l, C),
                act(ln1_mean_, l, 1), act(ln1_rstd_, l, 1));
}

}  // namespace gaincell
