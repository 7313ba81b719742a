#include "model/engine.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "kernels/block_ops.h"
#include "kernels/ops.h"
#include "model/block.h"

namespace gaincell {

Engine::Engine(const Model& model, Attention& attention) : model_(model), attention_(attention) {
  const ModelConfig& c = model.config();
  const AttentionShape& s = attention.shape();
  if (s.n_head != c.n_head || s.n_kv_head != c.kv_heads() || s.head_dim != c.head_dim())
    fail_expected(
        "model",
        "an attention backend for " + std::to_string(c.n_head) + " heads (" + std::to_string(c.kv_heads()) +
            " KV) of " + std::to_string(c.head_dim()),
        std::to_string(s.n_head) + " heads (" + std::to_string(s.n_kv_head) + " KV) of " + std::to_string(s.head_dim));
}

void Engine::check_tokens(const int32_t* tokens, int64_t n) const {
  const int V = model_.config().vocab_size;
  for (int64_t i = 0; i < n; ++i)
    if (tokens[i] < 0 || tokens[i] >= V)
      fail_expected("model", "token ids in [0, " + std::to_string(V) + ")", std::to_string(tokens[i]),
                    "at index " + std::to_string(i));
}

void Engine::reserve(int64_t N) {
  const ModelConfig& c = model_.config();
  const int64_t C = c.n_embd, I = c.ffn_dim();
  x_.resize(N * C);
  ln_.resize(N * C);
  qkv_.resize(N * c.qkv_dim());
  att_.resize(N * c.q_dim());
  proj_.resize(N * C);
  fc_.resize(N * I);
  if (c.mlp == MlpKind::kSwiGLU) gate_.resize(N * I);
}

void Engine::embed(const int32_t* tokens, int64_t B, int64_t T, int64_t pos0) {
  const ModelConfig& c = model_.config();
  const int64_t C = c.n_embd;
  for (int64_t b = 0; b < B; ++b)
    embedding_forward(x_.data() + b * T * C, tokens + b * T, model_.wte(), model_.wpe(), 1, T, C, pos0);
  if (!c.rotary()) return;
  pos_.resize(static_cast<size_t>(B * T));
  for (int64_t r = 0; r < B * T; ++r) pos_[r] = pos0 + r % T;
  const int64_t half = c.head_dim() / 2;
  cos_.resize(B * T * half);
  sin_.resize(B * T * half);
  rope_tables(cos_.data(), sin_.data(), pos_.data(), B * T, c.head_dim(), c.rope_theta);
}

void Engine::block(int l, int64_t B, int64_t T, Mode mode) {
  BlockBuffers b;
  b.x_in = b.x_mid = b.x_out = x_.data();
  b.ln1 = b.ln2 = ln_.data();
  b.qkv = qkv_.data();
  b.att = att_.data();
  b.fc = b.fc_act = fc_.data();
  b.gate = gate_.data();
  b.proj = proj_.data();
  b.rope_cos = cos_.data();
  b.rope_sin = sin_.data();
  block_forward(model_.config(), model_.layer(l), b, B * T, [&](const float* qkv, float* att) {
    if (mode == Mode::kForward)
      attention_.forward(att, qkv, int(B), int(T), l);
    else
      attention_decode(l, B, T);
  });
}

// The cache sees one token of every sequence per step: step t views rows b * T + t of qkv_ in place.
void Engine::attention_decode(int l, int64_t B, int64_t T) {
  const int64_t Q = model_.config().q_dim();
  const QkvView all = fused_qkv(qkv_.data(), attention_.shape());
  if (T == 1) {
    caches_[l]->step(att_.data(), all);
    return;
  }
  step_out_.resize(B * Q);
  for (int64_t t = 0; t < T; ++t) {
    caches_[l]->step(step_out_.data(), all.rows(t, T));
    for (int64_t b = 0; b < B; ++b)
      std::memcpy(att_.data() + (b * T + t) * Q, step_out_.data() + b * Q, Q * sizeof(float));
  }
}

const float* Engine::head(const int64_t* rows, int64_t n_rows) {
  const ModelConfig& c = model_.config();
  const int64_t C = c.n_embd, V = c.vocab_size;
  last_.resize(n_rows * C);
  for (int64_t r = 0; r < n_rows; ++r) std::memcpy(last_.data() + r * C, x_.data() + rows[r] * C, C * sizeof(float));
  model_norm(c, last_.data(), nullptr, nullptr, last_.data(), model_.lnf_w(), model_.lnf_b(), n_rows);
  logits_.resize(n_rows * V);
  if (model_.lm_head_bf16())
    matmul_transposed_forward_bf16(logits_.data(), last_.data(), model_.lm_head_bf16(), n_rows, C, V);
  else
    matmul_transposed_forward(logits_.data(), last_.data(), model_.lm_head(), n_rows, C, V);
  return logits_.data();
}

void Engine::forward_body(const int32_t* tokens, int B, int T, int last_n) {
  const ModelConfig& c = model_.config();
  if (B <= 0 || T <= 0) fail_expected("model", "at least one token", std::to_string(B) + "x" + std::to_string(T));
  if (T > c.n_positions)
    fail_expected("model", "at most n_positions = " + std::to_string(c.n_positions) + " tokens",
                  std::to_string(T) + " tokens");
  check_tokens(tokens, int64_t{B} * T);
  reserve(int64_t{B} * T);
  embed(tokens, B, T, 0);
  for (int l = 0; l < c.n_layer; ++l) block(l, B, T, Mode::kForward);
  if (last_n < 0 || last_n > T) last_n = T;
  rows_.clear();
  for (int b = 0; b < B; ++b)
    for (int t = T - last_n; t < T; ++t) rows_.push_back(int64_t{b} * T + t);
}

const float* Engine::forward(const int32_t* tokens, int B, int T, int last_n) {
  forward_body(tokens, B, T, last_n);
  return head(rows_.data(), static_cast<int64_t>(rows_.size()));
}

void Engine::forward_each(const int32_t* tokens, int B, int T, int last_n, int64_t max_rows,
                          const std::function<void(int64_t, int64_t, const float*)>& fn) {
  if (max_rows < 2) fail_expected("model", "pieces of at least 2 logit rows", std::to_string(max_rows));
  forward_body(tokens, B, T, last_n);
  const int64_t n = static_cast<int64_t>(rows_.size());
  for (int64_t first = 0; first < n;) {
    int64_t m = std::min(max_rows, n - first);
    if (n - first - m == 1) --m;  // leave two rows for the last piece, never one (another GEMM path)
    fn(first, m, head(rows_.data() + first, m));
    first += m;
  }
}

void Engine::decode_begin(int B, int64_t max_tokens) {
  const ModelConfig& c = model_.config();
  if (B <= 0) fail_expected("model", "a batch of at least 1", std::to_string(B));
  if (max_tokens <= 0 || max_tokens > c.n_positions)
    fail_expected("model", "between 1 and n_positions = " + std::to_string(c.n_positions) + " tokens in total",
                  std::to_string(max_tokens));
  decode_B_ = B;
  decode_max_ = max_tokens;
  decode_pos_ = 0;
  caches_.clear();
  for (int l = 0; l < c.n_layer; ++l) caches_.push_back(attention_.make_cache(l, B, max_tokens));
}

const float* Engine::decode_prefill(const int32_t* tokens, int T) {
  const ModelConfig& c = model_.config();
  if (decode_B_ == 0) fail("model", "decoding used before decode_begin");
  if (T <= 0 || decode_pos_ + T > decode_max_)
    fail_expected("model", "at most " + std::to_string(decode_max_) + " tokens in total",
                  std::to_string(decode_pos_ + T));
  const int64_t B = decode_B_;
  check_tokens(tokens, B * T);
  reserve(B * T);
  embed(tokens, B, T, decode_pos_);  // sequence b's token t sits at position decode_pos_ + t
  for (int l = 0; l < c.n_layer; ++l) block(l, B, T, Mode::kDecode);
  decode_pos_ += T;
  rows_.clear();
  for (int64_t b = 0; b < B; ++b) rows_.push_back(b * T + T - 1);
  return head(rows_.data(), B);
}

const float* Engine::decode_step(const int32_t* tokens) {
  if (decode_B_ == 0) fail("model", "decoding used before decode_begin");
  if (decode_pos_ >= decode_max_)
    fail_expected("model", "at most " + std::to_string(decode_max_) + " tokens in total",
                  std::to_string(decode_pos_ + 1));
  return decode_prefill(tokens, 1);
}

}  // namespace gaincell
