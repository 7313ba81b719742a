#include "eval/loglik.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>

#include "core/dist.h"
#include "core/error.h"

namespace gaincell {

LoglikRequest encode_pair(const Tokenizer& tok, std::string context, std::string continuation,
                          const std::string& where) {
  LoglikRequest r;
  const size_t keep = context.find_last_not_of(" \t\n\r\v\f");
  const size_t n_spaces = keep == std::string::npos ? context.size() : context.size() - keep - 1;
  continuation = context.substr(context.size() - n_spaces) + continuation;
  context.resize(context.size() - n_spaces);
  if (context.empty()) {
    r.tokens = tok.encode(continuation);
    r.n_target = static_cast<int>(r.tokens.size());
    r.tokens.insert(r.tokens.begin(), tok.start_id());
  } else {
    r.tokens = tok.encode(context + continuation);
    const size_t n_context = tok.encode(context).size();
    r.n_target = static_cast<int>(r.tokens.size() - std::min(n_context, r.tokens.size()));
  }
  if (r.n_target < 1 || r.n_target >= static_cast<int>(r.tokens.size()))
    fail_expected("eval", "a continuation of at least one token after a context", "none", "in '" + where + "'");
  return r;
}

bool truncate_left(LoglikRequest& r, int n_positions) {
  GAINCELL_ASSERT(n_positions >= 1);
  const size_t max_tokens = static_cast<size_t>(n_positions) + 1;
  if (r.tokens.size() <= max_tokens) return false;
  r.tokens.erase(r.tokens.begin(), r.tokens.end() - max_tokens);
  r.n_target = std::min(r.n_target, n_positions);  // every input position predicts a remaining target
  return true;
}

double token_nll(const float* logits, int32_t vocab, int32_t target) {
  float mx = logits[0];
  for (int32_t i = 1; i < vocab; ++i) mx = std::max(mx, logits[i]);
  double sum = 0;
  for (int32_t i = 0; i < vocab; ++i) sum += std::exp(double(logits[i]) - mx);
  return std::log(sum) + mx - logits[target];
}

namespace {

bool is_argmax(const float* logits, int32_t vocab, int32_t target) {
  return std::max_element(logits, logits + vocab) - logits == target;
}

// Scores requests idx[0..n) that share the input length T in one forward.
void score_batch(Gpt2Engine& engine, const std::vector<LoglikRequest>& requests, const size_t* idx, int n, int T,
                 std::vector<LoglikResult>& out) {
  const int32_t V = engine.model().config().vocab_size;
  std::vector<int32_t> input(static_cast<size_t>(n) * T);
  int last_n = 1;
  for (int b = 0; b < n; ++b) {
    const LoglikRequest& r = requests[idx[b]];
    std::copy_n(r.tokens.begin(), T, input.begin() + int64_t{b} * T);
    last_n = std::max(last_n, r.n_target);
  }
  // logits: [n, last_n, V] for input positions [T - last_n, T); position p predicts token p + 1.
  const float* logits = engine.forward(input.data(), n, T, last_n);
  for (int b = 0; b < n; ++b) {
    const LoglikRequest& r = requests[idx[b]];
    LoglikResult& res = out[idx[b]];
    res.n_target = r.n_target;
    res.greedy = true;
    for (int j = 0; j < r.n_target; ++j) {
      const int pos = T - r.n_target + j;  // predicts r.tokens[pos + 1]
      const float* row = logits + (int64_t{b} * last_n + (pos - (T - last_n))) * V;
      const int32_t target = r.tokens[pos + 1];
      res.logprob -= token_nll(row, V, target);
      res.greedy = res.greedy && is_argmax(row, V, target);
    }
  }
}

}  // namespace

std::vector<LoglikResult> score_requests(Gpt2Engine& engine, const std::vector<LoglikRequest>& requests,
                                         const BatchLimits& limits, const std::function<void(int64_t)>& on_done) {
  const int n_positions = engine.model().config().n_positions;
  for (const LoglikRequest& r : requests)
    GAINCELL_ASSERT(r.n_target >= 1 && r.tokens.size() >= 2 && r.n_target < static_cast<int>(r.tokens.size()) &&
                    r.tokens.size() <= static_cast<size_t>(n_positions) + 1);
  std::vector<size_t> order(requests.size());
  std::iota(order.begin(), order.end(), size_t{0});
  auto input_len = [&](size_t i) { return static_cast<int64_t>(requests[i].tokens.size()) - 1; };
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return input_len(a) < input_len(b); });
  // The batches: runs of equal input length, cut by `limits`; they depend on the requests only.
  std::vector<std::pair<size_t, size_t>> batches;  // [begin, end) in `order`
  for (size_t i = 0; i < order.size();) {
    const int64_t T = input_len(order[i]);
    int64_t last_n = requests[order[i]].n_target;
    size_t j = i + 1;
    for (; j < order.size() && input_len(order[j]) == T; ++j) {
      const int64_t B = static_cast<int64_t>(j - i) + 1;
      const int64_t n = std::max<int64_t>(last_n, requests[order[j]].n_target);
      if (B * T > limits.max_tokens || B * n > limits.max_logit_rows) break;
      last_n = n;
    }
    batches.emplace_back(i, j);
    i = j;
  }
  // Under mpirun, rank k scores batches k, k + N, ...: each batch is the same forward as in one process (same
  // rows, same batch index of every sequence), so every result is the same bits for any N. Every rank then holds
  // every result (gathered to rank 0, then broadcast).
  const int ranks = dist_size(), rank = dist_rank();
  std::vector<LoglikResult> out(requests.size());
  int64_t done = 0;
  for (size_t b = size_t(rank); b < batches.size(); b += size_t(ranks)) {
    const auto [i, j] = batches[b];
    score_batch(engine, requests, order.data() + i, static_cast<int>(j - i), static_cast<int>(input_len(order[i])),
                out);
    done += static_cast<int64_t>(j - i);
    if (on_done) on_done(std::min<int64_t>(done * ranks, int64_t(order.size())));  // about, under mpirun
  }
  if (ranks > 1) {
    std::vector<double> mine;  // (request index, logprob, greedy, n_target) of this rank's requests
    for (size_t b = size_t(rank); b < batches.size(); b += size_t(ranks))
      for (size_t k = batches[b].first; k < batches[b].second; ++k) {
        const LoglikResult& r = out[order[k]];
        mine.insert(mine.end(), {double(order[k]), r.logprob, r.greedy ? 1.0 : 0.0, double(r.n_target)});
      }
    const std::vector<double> all = dist_gather(mine);
    std::vector<double> flat(requests.size() * 3);
    for (size_t k = 0; k + 4 <= all.size(); k += 4)
      std::copy(all.begin() + k + 1, all.begin() + k + 4, flat.begin() + size_t(all[k]) * 3);
    dist_broadcast(flat.data(), flat.size());
    for (size_t k = 0; k < requests.size(); ++k)
      out[k] = LoglikResult{flat[3 * k], flat[3 * k + 1] != 0.0, static_cast<int>(flat[3 * k + 2])};
    if (on_done) on_done(int64_t(order.size()));
  }
  return out;
}

}  // namespace gaincell
