// The two model helpers of `gaincell reproduce`: loss on fixed validation windows and streamed sampling.
#include <algorithm>
#include <cmath>

#include "cli/reproduce.h"
#include "core/error.h"
#include "core/rng.h"

namespace gaincell::cli {

double windows_loss(Gpt2Engine& engine, const std::vector<int32_t>& ids, int T, int windows) {
  const auto n = static_cast<int64_t>(ids.size());
  if (windows < 1 || T < 1 || n < T + 1)
    fail_expected("reproduce", "at least " + std::to_string(T + 1) + " validation tokens", std::to_string(n));
  const int V = engine.model().config().vocab_size;
  std::vector<int32_t> x(static_cast<size_t>(windows) * T);
  std::vector<int64_t> starts(windows);
  for (int w = 0; w < windows; ++w) {
    starts[w] = windows == 1 ? 0 : (n - T - 1) * w / (windows - 1);
    std::copy(ids.begin() + starts[w], ids.begin() + starts[w] + T, x.begin() + int64_t{w} * T);
  }
  const float* logits = engine.forward(x.data(), windows, T);
  double nll = 0;
  for (int w = 0; w < windows; ++w) {
    for (int t = 0; t < T; ++t) {
      const float* row = logits + (int64_t{w} * T + t) * V;
      const float mx = *std::max_element(row, row + V);
      double sum = 0;
      for (int v = 0; v < V; ++v) sum += std::exp(double(row[v]) - mx);
      nll += std::log(sum) + mx - row[ids[starts[w] + t + 1]];
    }
  }
  return nll / (double(windows) * T);
}

std::string stream_generate(Gpt2Engine& engine, const Tokenizer& tok, const std::string& prompt, int n_new,
                            float temperature, uint64_t seed) {
  std::vector<int32_t> ids = tok.encode(prompt);
  if (ids.empty()) ids.push_back(tok.start_id());
  const int n_pos = engine.model().config().n_positions;
  n_new = std::max(0, std::min<int>(n_new, n_pos - static_cast<int>(ids.size())));
  const int V = engine.model().config().vocab_size;
  engine.decode_begin(1, static_cast<int64_t>(ids.size()) + n_new);
  const float* logits = engine.decode_prefill(ids.data(), static_cast<int>(ids.size()));
  Rng rng(seed);
  std::vector<int32_t> out;
  std::vector<double> p(V);
  for (int i = 0; i < n_new; ++i) {
    const float mx = *std::max_element(logits, logits + V);
    double sum = 0;
    for (int v = 0; v < V; ++v) sum += p[v] = std::exp((double(logits[v]) - mx) / temperature);
    double u = rng.uniform_double() * sum;
    int32_t next = V - 1;
    for (int v = 0; v < V; ++v) {
      if ((u -= p[v]) < 0) {
        next = v;
        break;
      }
    }
    out.push_back(next);
    if (i + 1 < n_new) logits = engine.decode_step(&next);
  }
  return tok.decode(out);
}

}  // namespace gaincell::cli
