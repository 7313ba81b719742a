// Log-likelihood scoring of target tokens after a context, the primitive behind LAMBADA and multiple-choice
// evaluation (lm-evaluation-harness `loglikelihood` requests). Requests of equal input length share one
// batched forward; contexts longer than the model's window are left-truncated.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model/engine.h"
#include "tokenizer/tokenizer.h"

namespace gaincell {

// tokens = context tokens followed by n_target target tokens; the targets are scored, each given everything
// before it. Needs tokens.size() >= 2 and 1 <= n_target < tokens.size().
struct LoglikRequest {
  std::vector<int32_t> tokens;
  int n_target = 0;
};

struct LoglikResult {
  double logprob = 0;   // sum over the targets of log p(target | everything before it), natural log
  bool greedy = false;  // every target token is the argmax of its logits (ties go to the lower id)
  int n_target = 0;
};

// lm-eval's pair encoding: trailing spaces of the context move to the continuation, the target tokens are
// those of encode(context + continuation) after the first |encode(context)| ones, and an empty context is
// the end-of-text token. Throws Error("eval", ...) naming `where` when no target token is left.
LoglikRequest encode_pair(const Tokenizer& tok, std::string context, std::string continuation,
                          const std::string& where);

// Keeps the last n_positions + 1 tokens (the input is all but the last token), as lm-eval does; returns whether
// it cut any. When the targets alone are longer than the window, their first ones go with the context and the
// last n_positions targets are scored (lm-eval's `(context + continuation)[-(max_length + 1):]`).
bool truncate_left(LoglikRequest& r, int n_positions);

// -log softmax(logits)[target] in double over a row of `vocab` logits.
double token_nll(const float* logits, int32_t vocab, int32_t target);

// Bounds on one batched forward: B * T input tokens and B * last_n logit rows (each row is vocab floats).
struct BatchLimits {
  int64_t max_tokens = 2048;
  int64_t max_logit_rows = 128;
};

// Scores every request (already truncated to the model's window). Requests are sorted by input length and
// those of equal length run as one forward, within `limits`. on_done(n) is called with the number of
// requests finished so far. Results come back in the order of `requests`.
std::vector<LoglikResult> score_requests(Gpt2Engine& engine, const std::vector<LoglikRequest>& requests,
                                         const BatchLimits& limits = {},
                                         const std::function<void(int64_t)>& on_done = {});

}  // namespace gaincell
