#include "model/engine.h"

#include <cstring>

#include "core/error.h"
#include "kernels/ops.h"

namespace gaincell {

Gpt2Engine::Gpt2Engine(const Gpt2& model, Attention& attention) : model_(model), attention_(attention) {}

void Gpt2Engine::check_tokens(const int32_t* tokens, int64_t n) const {
  const int V = model_.config().vocab_size;
  for (int64_t i = 0; i < n; ++i)
    if (tokens[i] < 0 || tokens[i] >= V)
      fail_expected("model", "token ids in [0, " + std::to_string(V) + ")", std::to_string(tokens[i]),
                    "at index " + std::to_string(i));
}

void Gpt2Engine::reserve(int64_t N) {
  const int64_t C = model_.config().n_embd;
  x_.resize(N * C);
  ln_.resize(N * C);
  qkv_.resize(N * 3 * C);
  att_.resize(N * C);
  proj_.resize(N * C);
  fc_.resize(N * 4 * C);
}

// MLP half of block l on x_ [N, C], in place: x += c_proj(gelu(c_fc(ln_2(x)))).
void Gpt2Engine::block_mlp(int l, int64_t N) {
  const Gpt2Config& c = model_.config();
  const int64_t C = c.n_embd;
  const LayerWeights& w = model_.layer(l);
  layernorm_forward(ln_.data(), nullptr, nullptr, x_.data(), w.ln2_w, w.ln2_b, N, C, c.layer_norm_epsilon);
  matmul_forward(fc_.data(), ln_.data(), w.fc_w, w.fc_b, N, C, 4 * C);
  gelu_forward(fc_.data(), fc_.data(), N * 4 * C);
  matmul_forward(proj_.data(), fc_.data(), w.fcproj_w, w.fcproj_b, N, 4 * C, C);
  residual_forward(x_.data(), x_.data(), proj_.data(), N * C);
}

const float* Gpt2Engine::head(const int64_t* rows, int64_t n_rows) {
  const Gpt2Config& c = model_.config();
  const int64_t C = c.n_embd, V = c.vocab_size;
  last_.resize(n_rows * C);
  for (int64_t r = 0; r < n_rows; ++r) std::memcpy(last_.data() + r * C, x_.data() + rows[r] * C, C * sizeof(float));
  layernorm_forward(last_.data(), nullptr, nullptr, last_.data(), model_.lnf_w(), model_.lnf_b(), n_rows, C,
                    c.layer_norm_epsilon);
  logits_.resize(n_rows * V);
  matmul_transposed_forward(logits_.data(), last_.data(), model_.lm_head(), n_rows, C, V);
  return logits_.data();
}

const float* Gpt2Engine::forward(const int32_t* tokens, int B, int T, int last_n) {
  const Gpt2Config& c = model_.config();
  if (B <= 0 || T <= 0) fail_expected("model", "at least one token", std::to_string(B) + "x" + std::to_string(T));
  if (T > c.n_positions)
    fail_expected("model", "at most n_positions = " + std::to_string(c.n_positions) + " tokens",
                  std::to_string(T) + " tokens");
  check_tokens(tokens, int64_t{B} * T);
  const int64_t N = int64_t{B} * T, C = c.n_embd;
  reserve(N);
  embedding_forward(x_.data(), tokens, model_.wte(), model_.wpe(), B, T, C, 0);
  for (int l = 0; l < c.n_layer; ++l) {
    const LayerWeights& w = model_.layer(l);
    layernorm_forward(ln_.data(), nullptr, nullptr, x_.data(), w.ln1_w, w.ln1_b, N, C, c.layer_norm_epsilon);
    matmul_forward(qkv_.data(), ln_.data(), w.attn_w, w.attn_b, N, C, 3 * C);
    attention_.forward(att_.data(), qkv_.data(), B, T, l);
    matmul_forward(proj_.data(), att_.data(), w.proj_w, w.proj_b, N, C, C);
    residual_forward(x_.data(), x_.data(), proj_.data(), N * C);
    block_mlp(l, N);
  }
  if (last_n < 0 || last_n > T) last_n = T;
  rows_.clear();
  for (int b = 0; b < B; ++b)
    for (int t = T - last_n; t < T; ++t) rows_.push_back(int64_t{b} * T + t);
  return head(rows_.data(), static_cast<int64_t>(rows_.size()));
}

void Gpt2Engine::decode_begin(int B, int64_t max_tokens) {
  const Gpt2Config& c = model_.config();
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

const float* Gpt2Engine::decode_prefill(const int32_t* tokens, int T) {
  const Gpt2Config& c = model_.config();
  if (decode_B_ == 0) fail("model", "decoding used before decode_begin");
  if (T <= 0 || decode_pos_ + T > decode_max_)
    fail_expected("model", "at most " + std::to_string(decode_max_) + " tokens in total",
                  std::to_string(decode_pos_ + T));
  const int64_t B = decode_B_, C = c.n_embd, N = B * T;
  check_tokens(tokens, N);
  reserve(N);
  step_in_.resize(B * 3 * C);
  step_out_.resize(B * C);
  // Rows are ordered [B, T]; sequence b's token t sits at position decode_pos_ + t.
  for (int64_t b = 0; b < B; ++b)
    embedding_forward(x_.data() + b * T * C, tokens + b * T, model_.wte(), model_.wpe(), 1, T, C, decode_pos_);
  for (int l = 0; l < c.n_layer; ++l) {
    const LayerWeights& w = model_.layer(l);
    layernorm_forward(ln_.data(), nullptr, nullptr, x_.data(), w.ln1_w, w.ln1_b, N, C, c.layer_norm_epsilon);
    matmul_forward(qkv_.data(), ln_.data(), w.attn_w, w.attn_b, N, C, 3 * C);
    for (int t = 0; t < T; ++t) {  // the cache sees one token of every sequence per step
      for (int64_t b = 0; b < B; ++b)
        std::memcpy(step_in_.data() + b * 3 * C, qkv_.data() + (b * T + t) * 3 * C, 3 * C * sizeof(float));
      caches_[l]->step(step_out_.data(), step_in_.data());
      for (int64_t b = 0; b < B; ++b)
        std::memcpy(att_.data() + (b * T + t) * C, step_out_.data() + b * C, C * sizeof(float));
    }
    matmul_forward(proj_.data(), att_.data(), w.proj_w, w.proj_b, N, C, C);
    residual_forward(x_.data(), x_.data(), proj_.data(), N * C);
    block_mlp(l, N);
  }
  decode_pos_ += T;
  rows_.clear();
  for (int64_t b = 0; b < B; ++b) rows_.push_back(b * T + T - 1);
  return head(rows_.data(), B);
}

const float* Gpt2Engine::decode_step(const int32_t* tokens) {
  if (decode_B_ == 0) fail("model", "decoding used before decode_begin");
  if (decode_pos_ >= decode_max_)
    fail_expected("model", "at most " + std::to_string(decode_max_) + " tokens in total",
                  std::to_string(decode_pos_ + 1));
  check_tokens(tokens, decode_B_);
  const Gpt2Config& c = model_.config();
  const int64_t B = decode_B_, C = c.n_embd;
  reserve(B);
  embedding_forward(x_.data(), tokens, model_.wte(), model_.wpe(), B, 1, C, decode_pos_);
  for (int l = 0; l < c.n_layer; ++l) {
    const LayerWeights& w = model_.layer(l);
    layernorm_forward(ln_.data(), nullptr, nullptr, x_.data(), w.ln1_w, w.ln1_b, B, C, c.layer_norm_epsilon);
    matmul_forward(qkv_.data(), ln_.data(), w.attn_w, w.attn_b, B, C, 3 * C);
    caches_[l]->step(att_.data(), qkv_.data());
    matmul_forward(proj_.data(), att_.data(), w.proj_w, w.proj_b, B, C, C);
    residual_forward(x_.data(), x_.data(), proj_.data(), B * C);
    block_mlp(l, B);
  }
  ++decode_pos_;
  rows_.clear();
  for (int64_t b = 0; b < B; ++b) rows_.push_back(b);
  return head(rows_.data(), B);
}

}  // namespace gaincell
