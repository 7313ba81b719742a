// The evaluation tasks on top of log-likelihood scoring: LAMBADA (greedy exact match and target perplexity)
// and multiple choice in lm-evaluation-harness conventions (acc and length-normalised acc_norm).
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "eval/loglik.h"
#include "eval/task_data.h"
#include "model/engine.h"
#include "tokenizer/tokenizer.h"

namespace gaincell {

// on_progress(done, total) counts scored requests (one per LAMBADA item, one per choice).
using EvalProgress = std::function<void(int64_t, int64_t)>;

struct LambadaResult {
  int64_t items = 0, correct = 0;
  int64_t target_tokens = 0;
  double nll_sum = 0;           // nats, summed over all target tokens
  double accuracy = 0;          // correct / items
  double perplexity_token = 0;  // exp(nll_sum / target_tokens)
  double perplexity_word = 0;   // exp(nll_sum / items): lm-eval's lambada "perplexity"
  int64_t truncated = 0;        // items left-truncated to the window (loglik.h, truncate_left)
};

struct McResult {
  int64_t items = 0, correct = 0, correct_norm = 0;
  double acc = 0, acc_norm = 0;
  double acc_stderr = 0, acc_norm_stderr = 0;      // sample standard error of the mean, as lm-eval reports
  double chance = 0;                               // mean over items of 1 / choices
  int64_t requests = 0, truncated = 0;             // truncated: requests (choices) left-truncated to the window
  std::vector<int> predictions, predictions_norm;  // per item
};

// Picks argmax of logprob (acc) and of logprob / norm_length (acc_norm); the first maximum wins.
int mc_argmax(const std::vector<double>& logprobs);
int mc_argmax_norm(const std::vector<double>& logprobs, const std::vector<ScoredPair>& pairs);

// Each item must have the LAMBADA schema (one pair). Throws Error("eval", ...) naming the line otherwise.
LambadaResult evaluate_lambada(Gpt2Engine& engine, const Tokenizer& tok, const std::vector<TaskItem>& items,
                               const std::string& path, const BatchLimits& limits = {},
                               const EvalProgress& on_progress = {});

// Each item must have a multiple-choice schema (two or more pairs).
McResult evaluate_multiple_choice(Gpt2Engine& engine, const Tokenizer& tok, const std::vector<TaskItem>& items,
                                  const std::string& path, const BatchLimits& limits = {},
                                  const EvalProgress& on_progress = {});

}  // namespace gaincell
