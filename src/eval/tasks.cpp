#include "eval/tasks.h"

#include <cmath>

#include "core/error.h"

namespace gaincell {
namespace {

// Encodes and left-truncates every pair of every item, in order; counts the truncated ones.
std::vector<LoglikRequest> build_requests(const Tokenizer& tok, const std::vector<TaskItem>& items,
                                          const std::string& path, int n_positions, int64_t* truncated) {
  std::vector<LoglikRequest> requests;
  for (const TaskItem& item : items) {
    const std::string where = path + ":" + std::to_string(item.line);
    for (const ScoredPair& p : item.pairs) {
      LoglikRequest r = encode_pair(tok, p.context, p.continuation, where);
      *truncated += truncate_left(r, n_positions);
      requests.push_back(std::move(r));
    }
  }
  return requests;
}

std::vector<LoglikResult> score(Gpt2Engine& engine, const std::vector<LoglikRequest>& requests,
                                const BatchLimits& limits, const EvalProgress& on_progress) {
  const int64_t total = static_cast<int64_t>(requests.size());
  return score_requests(engine, requests, limits, [&](int64_t done) {
    if (on_progress) on_progress(done, total);
  });
}

double stderr_of_mean(double p, int64_t n) {
  return n > 1 ? std::sqrt(p * (1 - p) / double(n - 1)) : 0.0;
}

}  // namespace

int mc_argmax(const std::vector<double>& logprobs) {
  int best = 0;
  for (size_t i = 1; i < logprobs.size(); ++i)
    if (logprobs[i] > logprobs[best]) best = static_cast<int>(i);
  return best;
}

int mc_argmax_norm(const std::vector<double>& logprobs, const std::vector<ScoredPair>& pairs) {
  std::vector<double> normed(logprobs.size());
  for (size_t i = 0; i < logprobs.size(); ++i)
    normed[i] = logprobs[i] / static_cast<double>(std::max<int64_t>(1, pairs[i].norm_length));
  return mc_argmax(normed);
}

LambadaResult evaluate_lambada(Gpt2Engine& engine, const Tokenizer& tok, const std::vector<TaskItem>& items,
                               const std::string& path, const BatchLimits& limits, const EvalProgress& on_progress) {
  if (items.empty()) fail_expected("eval", "at least one item", "none", "in '" + path + "'");
  for (const TaskItem& item : items)
    if (item.schema != TaskSchema::kLambada)
      fail_expected("eval", "LAMBADA items {context, continuation} for --task lambada",
                    std::string("a ") + task_schema_name(item.schema) + " item",
                    "in '" + path + ":" + std::to_string(item.line) + "'");
  LambadaResult r;
  const auto requests = build_requests(tok, items, path, engine.model().config().n_positions, &r.truncated);
  const auto results = score(engine, requests, limits, on_progress);
  for (const LoglikResult& res : results) {
    r.correct += res.greedy;
    r.target_tokens += res.n_target;
    r.nll_sum -= res.logprob;
  }
  r.items = static_cast<int64_t>(items.size());
  r.accuracy = double(r.correct) / double(r.items);
  r.perplexity_token = std::exp(r.nll_sum / double(r.target_tokens));
  r.perplexity_word = std::exp(r.nll_sum / double(r.items));
  return r;
}

McResult evaluate_multiple_choice(Gpt2Engine& engine, const Tokenizer& tok, const std::vector<TaskItem>& items,
                                  const std::string& path, const BatchLimits& limits, const EvalProgress& on_progress) {
  if (items.empty()) fail_expected("eval", "at least one item", "none", "in '" + path + "'");
  for (const TaskItem& item : items)
    if (item.schema == TaskSchema::kLambada || item.pairs.size() < 2)
      fail_expected("eval", "multiple-choice items for --task mc",
                    std::string("a ") + task_schema_name(item.schema) + " item",
                    "in '" + path + ":" + std::to_string(item.line) + "'");
  McResult r;
  const auto requests = build_requests(tok, items, path, engine.model().config().n_positions, &r.truncated);
  const auto results = score(engine, requests, limits, on_progress);
  size_t k = 0;
  for (const TaskItem& item : items) {
    std::vector<double> lls;
    for (size_t c = 0; c < item.pairs.size(); ++c) lls.push_back(results[k++].logprob);
    r.predictions.push_back(mc_argmax(lls));
    r.predictions_norm.push_back(mc_argmax_norm(lls, item.pairs));
    r.correct += r.predictions.back() == item.gold;
    r.correct_norm += r.predictions_norm.back() == item.gold;
    r.chance += 1.0 / double(item.pairs.size());
  }
  r.items = static_cast<int64_t>(items.size());
  r.requests = static_cast<int64_t>(requests.size());
  r.acc = double(r.correct) / double(r.items);
  r.acc_norm = double(r.correct_norm) / double(r.items);
  r.acc_stderr = stderr_of_mean(r.acc, r.items);
  r.acc_norm_stderr = stderr_of_mean(r.acc_norm, r.items);
  r.chance /= double(r.items);
  return r;
}

}  // namespace gaincell
