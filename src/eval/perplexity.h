// Strided sliding-window perplexity of a token stream (Hugging Face's "perplexity of fixed-length models"):
// windows of at most `context` tokens whose ends advance by `stride`; each window scores only the tokens the
// previous ones did not, so every token after the first is scored exactly once.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "model/engine.h"

namespace gaincell {

struct PerplexityOptions {
  int context = 0;  // window length in tokens; 0 = n_positions
  int stride = 0;   // tokens advanced per window; 0 = context / 2
};

struct PerplexityResult {
  int context = 0, stride = 0;  // as resolved
  int64_t tokens = 0;           // length of the stream
  int64_t scored_tokens = 0;    // tokens - 1: the first has no context
  double nll_sum = 0;           // natural log
  double mean_nll = 0;
  double perplexity = 0;  // exp(mean_nll)
};

// Throws Error("eval", ...) for a stream of fewer than 2 tokens, a context over n_positions, or a stride
// over the context. A stride equal to the context runs as context - 1, so that every scored token has at
// least one token of context. on_progress(done) reports tokens [0, done) as scored. Under mpirun (core/dist.h)
// the windows are spread over the ranks (window w on rank w mod N) and rank 0 adds every token's NLL in token
// order, as one process does: every rank returns the one-process result, the same bits, for a backend whose
// output does not depend on the windows run before (an analog backend's cycle-to-cycle noise draws do: the same
// N then gives the same bits, another N other draws). on_progress is called once, at the end, then.
PerplexityResult strided_perplexity(Gpt2Engine& engine, const std::vector<int32_t>& ids,
                                    const PerplexityOptions& options,
                                    const std::function<void(int64_t, double)>& on_progress = {});

// Mean next-token cross-entropy (nats) over `windows` windows of context + 1 tokens spread evenly through `ids`
// (the first at the start, the last at the end), scored in one batched forward: every position of a window
// predicts its next token. The same windows for every model of a stream, so their losses compare (`gaincell
// reproduce`). Throws Error("eval", ...) when ids holds fewer than context + 1 tokens or a size is < 1.
double fixed_windows_nll(Gpt2Engine& engine, const std::vector<int32_t>& ids, int context, int windows);

// Bits per byte of a text of n_bytes bytes whose tokens have a total NLL of nll_sum nats.
double bits_per_byte(double nll_sum, int64_t n_bytes);

}  // namespace gaincell
