// Runs a Model of any family with a chosen attention backend: full-sequence forward over a batch (prompt
// processing) and incremental decoding, all three through one block routine. Activation buffers are
// allocated on first use and reused across calls, so repeated forwards and decode steps never touch fresh
// memory.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "core/buffer.h"
#include "model/attention.h"
#include "model/model.h"

namespace gaincell {

class Engine {
 public:
  // The model and attention must outlive the engine.
  Engine(const Model& model, Attention& attention);

  // tokens: [B, T] row-major. Returns the logits of the last `last_n` positions of each sequence,
  // [B, last_n, V] (last_n < 0 or > T: all T). Token ids outside [0, vocab) and T > n_positions throw Error
  // naming the offending value.
  const float* forward(const int32_t* tokens, int B, int T, int last_n = -1);
  // The same forward, but the logits come in pieces of at most max_rows rows (and never a single row unless
  // there is only one): fn(first, n, logits [n, V]) for the rows [first, first + n) of [B, last_n]. The logits
  // buffer then holds max_rows x V floats instead of B last_n V (for GPT-2 at 1024 positions 13 MB instead of
  // 206 MB). Row values may differ from forward()'s in the last bits (the lm_head GEMM has another M).
  void forward_each(const int32_t* tokens, int B, int T, int last_n, int64_t max_rows,
                    const std::function<void(int64_t, int64_t, const float*)>& fn);

  // Starts decoding B sequences of at most max_tokens tokens in total (prompt included; at most n_positions,
  // which for rotary models is max_position_embeddings).
  void decode_begin(int B, int64_t max_tokens);
  // Feeds T tokens per sequence ([B, T]) through the decode caches at once (GEMMs over all B*T rows, the
  // attention caches stepped token by token) and returns the logits [B, V] after the last one.
  const float* decode_prefill(const int32_t* tokens, int T);
  // Feeds one token per sequence ([B]) and returns the next-token logits [B, V].
  const float* decode_step(const int32_t* tokens);
  int64_t decode_position() const { return decode_pos_; }

  const Model& model() const { return model_; }
  Attention& attention() { return attention_; }

 private:
  enum class Mode { kForward, kDecode };
  void check_tokens(const int32_t* tokens, int64_t n) const;
  void reserve(int64_t N);
  // Embeds tokens [B, T] (sequence b's token t at position pos0 + t) into x_ and sets the rows' positions.
  void embed(const int32_t* tokens, int64_t B, int64_t T, int64_t pos0);
  // Block l (block_forward, model/block.h) on x_ [B T, C], rows ordered [B, T], in place; the attention is
  // the backend's forward, or its decode caches token by token.
  void block(int l, int64_t B, int64_t T, Mode mode);
  void attention_decode(int l, int64_t B, int64_t T);
  // Final norm and lm_head on `rows` rows of x_ starting at the given row indices.
  const float* head(const int64_t* rows, int64_t n_rows);
  // Checks, embeds and runs every block of a [B, T] forward; sets rows_ to the last last_n rows of each sequence.
  void forward_body(const int32_t* tokens, int B, int T, int last_n);

  const Model& model_;
  Attention& attention_;
  AlignedBuffer<float> x_, ln_, qkv_, att_, proj_, fc_, gate_, logits_, last_, step_out_, cos_, sin_;
  std::vector<int64_t> rows_, pos_;
  std::vector<std::unique_ptr<AttentionCache>> caches_;
  int decode_B_ = 0;
  int64_t decode_max_ = 0;
  int64_t decode_pos_ = 0;
};
using Gpt2Engine = Engine;  // transition alias

}  // namespace gaincell
