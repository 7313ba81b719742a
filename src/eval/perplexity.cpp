#include "eval/perplexity.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/dist.h"
#include "core/error.h"
#include "eval/loglik.h"

namespace gaincell {
namespace {
constexpr int64_t kLogitRowsPerPiece = 64;  // 64 x 50257 floats = 13 MB for GPT-2
}  // namespace

PerplexityResult strided_perplexity(Gpt2Engine& engine, const std::vector<int32_t>& ids,
                                    const PerplexityOptions& options,
                                    const std::function<void(int64_t, double)>& on_progress) {
  const Gpt2Config& c = engine.model().config();
  PerplexityResult r;
  r.context = options.context ? options.context : c.n_positions;
  if (r.context < 2 || r.context > c.n_positions)
    fail_expected("eval", "a context of 2 to n_positions = " + std::to_string(c.n_positions) + " tokens",
                  std::to_string(r.context));
  r.stride = options.stride ? options.stride : std::max(1, r.context / 2);
  if (r.stride < 1 || r.stride > r.context)
    fail_expected("eval", "a stride of 1 to the context (" + std::to_string(r.context) + ")", std::to_string(r.stride));
  r.tokens = static_cast<int64_t>(ids.size());
  if (r.tokens < 2) fail_expected("eval", "a text of at least 2 tokens", std::to_string(r.tokens) + " tokens");
  const int64_t L = r.context, step = std::min(r.stride, r.context - 1);
  struct Window {
    int64_t begin, end;
    int first;
  };
  std::vector<Window> windows;
  for (int64_t scored_to = 1; scored_to < r.tokens;) {  // tokens [1, scored_to) are scored
    const int64_t end = std::min(r.tokens, scored_to == 1 ? L : scored_to + step);
    const int64_t begin = std::max<int64_t>(0, end - L);
    windows.push_back({begin, end, static_cast<int>(scored_to - begin)});  // first >= 1: its token has context
    scored_to = end;
  }
  // The token NLLs of window w, appended to `out` (logits of position t - 1 predict token t).
  auto score = [&](const Window& w, auto&& add) {
    const int T = static_cast<int>(w.end - w.begin);
    // Piece by piece, so the logits never take a window x V buffer.
    engine.forward_each(ids.data() + w.begin, 1, T, T - w.first + 1, kLogitRowsPerPiece,
                        [&](int64_t row0, int64_t n, const float* logits) {
                          for (int64_t i = 0; i < n; ++i) {
                            const int64_t t = w.first + row0 + i;
                            if (t < T) add(token_nll(logits + i * c.vocab_size, c.vocab_size, ids[w.begin + t]));
                          }
                        });
  };
  const int ranks = dist_size(), rank = dist_rank();
  if (ranks == 1) {
    for (const Window& w : windows) {
      score(w, [&](double nll) { r.nll_sum += nll; });
      if (on_progress) on_progress(w.end, r.nll_sum / static_cast<double>(w.end - 1));
    }
  } else {
    // Under mpirun: rank k scores windows k, k + N, ...; rank 0 receives every token's NLL and adds them in token
    // order, as one process does, so the sum is the same bits for any N (with a deterministic backend).
    std::vector<double> mine;
    for (size_t w = size_t(rank); w < windows.size(); w += size_t(ranks))
      score(windows[w], [&](double nll) { mine.push_back(nll); });
    const std::vector<double> all = dist_gather(mine);  // rank 0: rank 0's windows, then rank 1's, ...
    if (rank == 0) {
      std::vector<size_t> at(size_t(ranks), 0);  // where each rank's values start in `all`
      for (int k = 1; k < ranks; ++k) {
        at[size_t(k)] = at[size_t(k - 1)];
        for (size_t w = size_t(k - 1); w < windows.size(); w += size_t(ranks))
          at[size_t(k)] += size_t(windows[w].end - windows[w].begin - windows[w].first);
      }
      for (size_t w = 0; w < windows.size(); ++w) {
        size_t& i = at[w % size_t(ranks)];
        for (int64_t t = windows[w].first; t < windows[w].end - windows[w].begin; ++t) r.nll_sum += all[i++];
      }
    }
    dist_broadcast(&r.nll_sum, 1);
    if (on_progress) on_progress(r.tokens, r.nll_sum / static_cast<double>(r.tokens - 1));
  }
  r.scored_tokens = r.tokens - 1;
  r.mean_nll = r.nll_sum / static_cast<double>(r.scored_tokens);
  r.perplexity = std::exp(r.mean_nll);
  return r;
}

double fixed_windows_nll(Gpt2Engine& engine, const std::vector<int32_t>& ids, int context, int windows) {
  const auto n = static_cast<int64_t>(ids.size());
  const int T = context;
  if (windows < 1 || T < 1 || n < T + 1)
    fail_expected("eval",
                  "at least " + std::to_string(int64_t{T} + 1) + " tokens for windows of " + std::to_string(T) +
                      " (and windows >= 1)",
                  std::to_string(n) + " tokens, " + std::to_string(windows) + " windows");
  const int V = engine.model().config().vocab_size;
  std::vector<int32_t> x(static_cast<size_t>(windows) * T);  // [windows, T]
  std::vector<int64_t> starts(windows);
  for (int w = 0; w < windows; ++w) {
    starts[w] = windows == 1 ? 0 : (n - T - 1) * w / (windows - 1);
    std::copy(ids.begin() + starts[w], ids.begin() + starts[w] + T, x.begin() + int64_t{w} * T);
  }
  const float* logits = engine.forward(x.data(), windows, T);  // [windows, T, V]
  double nll = 0;
  for (int w = 0; w < windows; ++w)
    for (int t = 0; t < T; ++t) nll += token_nll(logits + (int64_t{w} * T + t) * V, V, ids[starts[w] + t + 1]);
  return nll / (double(windows) * T);
}

double bits_per_byte(double nll_sum, int64_t n_bytes) {
  return n_bytes > 0 ? nll_sum / std::log(2.0) / static_cast<double>(n_bytes) : 0.0;
}

}  // namespace gaincell
