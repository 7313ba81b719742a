#include "train/train_model.h"

#include <cmath>
#include <cstring>

#include "core/error.h"
#include "core/parallel.h"
#include "kernels/backward.h"
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
  if (!config_.is_gpt2())
    fail_expected("train", "a GPT-2 model (training the Llama family is not supported yet)",
                  "a " + config_.family + " model");
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
  const int64_t N = int64_t{B} * T, C = config_.n_embd, V = config_.vocab_size, L = config_.n_layer;
  B_ = B;
  T_ = T;
  n_rows_ = N;
  res_in_.resize((L + 1) * N * C);
  res_mid_.resize(L * N * C);
  ln1_.resize(L * N * C);
  ln1_mean_.resize(L * N);
  ln1_rstd_.resize(L * N);
  qkv_.resize(L * N * 3 * C);
  att_.resize(L * N * C);
  ln2_.resize(L * N * C);
  ln2_mean_.resize(L * N);
  ln2_rstd_.resize(L * N);
  fch_.resize(L * N * 4 * C);
  fch_gelu_.resize(L * N * 4 * C);
  lnf_.resize(N * C);
  lnf_mean_.resize(N);
  lnf_rstd_.resize(N);
  logits_.resize(N * V);
  proj_.resize(N * C);
  dres_.resize(N * C);
  dln_.resize(N * C);
  dqkv_.resize(N * 3 * C);
  datt_.resize(N * C);
  dfch_.resize(N * 4 * C);
  losses_.resize(N);
  tokens_.resize(static_cast<size_t>(N));
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
  const int64_t N = int64_t{B} * T, C = c.n_embd, V = c.vocab_size;
  check_tokens(tokens, N, "token ids");
  reserve(B, T);
  std::memcpy(tokens_.data(), tokens, static_cast<size_t>(N) * sizeof(int32_t));
  embedding_forward(res_in_.data(), tokens, p_->wte(), p_->wpe(), B, T, C, 0);
  for (int l = 0; l < c.n_layer; ++l) {
    BlockBuffers b;
    b.x_in = act(res_in_, l, C);
    b.x_mid = act(res_mid_, l, C);
    b.x_out = act(res_in_, l + 1, C);
    b.ln1 = act(ln1_, l, C);
    b.ln1_mean = act(ln1_mean_, l, 1);
    b.ln1_rstd = act(ln1_rstd_, l, 1);
    b.qkv = act(qkv_, l, 3 * C);
    b.att = act(att_, l, C);
    b.ln2 = act(ln2_, l, C);
    b.ln2_mean = act(ln2_mean_, l, 1);
    b.ln2_rstd = act(ln2_rstd_, l, 1);
    b.fc = act(fch_, l, 4 * C);
    b.fc_act = act(fch_gelu_, l, 4 * C);
    b.proj = proj_.data();
    block_forward(c, p_->layer(l), b, N, [&](const float* qkv, float* att) { attention_.forward(att, qkv, B, T, l); });
  }
  model_norm(c, lnf_.data(), lnf_mean_.data(), lnf_rstd_.data(), act(res_in_, c.n_layer, C), p_->lnf_w(), p_->lnf_b(),
             N);
  matmul_transposed_forward(logits_.data(), lnf_.data(), p_->wte(), N, C, V);
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
  matmul_transposed_backward(dln_.data(), mut(g_->wte()), dlogits, lnf_.data(), p_->wte(), N, C, V);
  dres_.zero();
  layernorm_backward(dres_.data(), mut(g_->lnf_w()), mut(g_->lnf_b()), dln_.data(), act(res_in_, config_.n_layer, C),
                     p_->lnf_w(), lnf_mean_.data(), lnf_rstd_.data(), N, C);
  for (int l = config_.n_layer - 1; l >= 0; --l) backward_layer(l);
  embedding_backward(mut(g_->wte()), mut(g_->wpe()), dres_.data(), tokens_.data(), B_, T_, C, V);
  return (1.0 - distill) * ce + distill * mse;
}

// dres_ holds dL/d(output of layer l) on entry and dL/d(input of layer l) on exit.
void TrainModel::backward_layer(int l) {
  const int64_t N = n_rows_, C = config_.n_embd;
  const LayerWeights& w = p_->layer(l);
  const LayerWeights& g = g_->layer(l);
  matmul_backward(dfch_.data(), mut(g.fcproj_w), mut(g.fcproj_b), dres_.data(), act(fch_gelu_, l, 4 * C), w.fcproj_w, N,
                  4 * C, C);
  gelu_backward(dfch_.data(), act(fch_, l, 4 * C), dfch_.data(), N * 4 * C);
  matmul_backward(dln_.data(), mut(g.fc_w), mut(g.fc_b), dfch_.data(), act(ln2_, l, C), w.fc_w, N, C, 4 * C);
  layernorm_backward(dres_.data(), mut(g.ln2_w), mut(g.ln2_b), dln_.data(), act(res_mid_, l, C), w.ln2_w,
                     act(ln2_mean_, l, 1), act(ln2_rstd_, l, 1), N, C);
  matmul_backward(datt_.data(), mut(g.proj_w), mut(g.proj_b), dres_.data(), act(att_, l, C), w.proj_w, N, C, C);
  attention_.backward(dqkv_.data(), datt_.data(), act(qkv_, l, 3 * C), B_, T_, l);
  matmul_backward(dln_.data(), mut(g.attn_w), mut(g.attn_b), dqkv_.data(), act(ln1_, l, C), w.attn_w, N, C, 3 * C);
  layernorm_backward(dres_.data(), mut(g.ln1_w), mut(g.ln1_b), dln_.data(), act(res_in_, l, C), w.ln1_w,
                     act(ln1_mean_, l, 1), act(ln1_rstd_, l, 1), N, C);
}

}  // namespace gaincell
