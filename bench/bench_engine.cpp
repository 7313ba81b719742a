// GPT-2 124M (random weights, softmax attention) through Gpt2Engine: prompt processing (tokens/s) and
// decoding (ms/token) next to the decode memory bound = bytes read per token / measured bandwidth.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "bench_util.h"
#include "model/engine.h"

namespace gaincell::bench {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

struct EngineSetup {
  Gpt2 model;
  std::unique_ptr<Attention> attention;
  std::unique_ptr<Gpt2Engine> engine;
  std::vector<int32_t> tokens;  // 1024 deterministic ids

  EngineSetup() : model(Gpt2::random(config_preset("gpt2"), 1)) {
    register_digital_attention();
    const Gpt2Config& c = model.config();
    AttentionContext ctx = attention_context(c);
    attention = attention_registry().create("softmax", ctx);
    engine = std::make_unique<Gpt2Engine>(model, *attention);
    for (int i = 0; i < c.n_positions; ++i) tokens.push_back(static_cast<int32_t>((i * 7919 + 13) % c.vocab_size));
  }
};
EngineSetup& setup() {
  static EngineSetup s;
  return s;
}

// Compares next-token logits of two paths; tolerance relative to the logits' scale.
std::string compare_logits(const std::vector<float>& a, const float* b, const std::string& what) {
  double scale = 0, worst = 0;
  int64_t at = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i]) || !std::isfinite(b[i])) return what + ": non-finite logit at " + std::to_string(i);
    scale = std::max(scale, double(std::fabs(a[i])));
    if (std::fabs(a[i] - b[i]) > worst) worst = std::fabs(a[i] - b[i]), at = static_cast<int64_t>(i);
  }
  if (scale == 0 || worst > 1e-5 * (1 + scale))
    return what + ": worst diff " + std::to_string(worst) + " at " + std::to_string(at) + " (scale " +
           std::to_string(scale) + ")";
  return "";
}

// Validation (once per length, R23): full forward of T tokens == decode_prefill of the same T tokens.
std::string check_prompt(int T) {
  static std::set<int> done;
  if (!done.insert(T).second) return "";
  EngineSetup& s = setup();
  const int V = s.model.config().vocab_size;
  const float* full = s.engine->forward(s.tokens.data(), 1, T, 1);
  std::vector<float> want(full, full + V);
  s.engine->decode_begin(1, T);
  return compare_logits(want, s.engine->decode_prefill(s.tokens.data(), T), "forward vs decode_prefill");
}

// Validation (once per context): prefill ctx tokens then one decode_step == full forward of ctx + 1 tokens.
std::string check_decode(int ctx) {
  static std::set<int> done;
  if (!done.insert(ctx).second) return "";
  EngineSetup& s = setup();
  const int V = s.model.config().vocab_size;
  const float* full = s.engine->forward(s.tokens.data(), 1, ctx + 1, 1);
  std::vector<float> want(full, full + V);
  s.engine->decode_begin(1, ctx + 1);
  s.engine->decode_prefill(s.tokens.data(), ctx);
  return compare_logits(want, s.engine->decode_step(s.tokens.data() + ctx), "forward vs decode_step");
}

void BM_Prompt(benchmark::State& state) {
  const int T = static_cast<int>(state.range(0)), threads = static_cast<int>(state.range(1));
  use_threads(state, threads);
  if (validation_failed(state, check_prompt(T))) return;
  EngineSetup& s = setup();
  s.engine->forward(s.tokens.data(), 1, T, 1);  // warm-up
  const auto t0 = Clock::now();
  for (auto _ : state) benchmark::DoNotOptimize(s.engine->forward(s.tokens.data(), 1, T, 1));
  const double per_iter_s = seconds_since(t0) / static_cast<double>(state.iterations());
  state.SetItemsProcessed(state.iterations() * T);
  state.counters["ms/token"] = per_iter_s * 1e3 / T;
}

// One repetition: prefill `ctx` tokens (untimed), then kSteps timed decode steps, so every timed step sees
// between ctx and ctx + kSteps - 1 cached tokens.
constexpr int kSteps = 16;

void BM_Decode(benchmark::State& state) {
  const int ctx = static_cast<int>(state.range(0)), threads = static_cast<int>(state.range(1));
  use_threads(state, threads);
  if (validation_failed(state, check_decode(ctx))) return;
  EngineSetup& s = setup();
  const Gpt2Config& c = s.model.config();
  s.engine->decode_begin(1, ctx + kSteps);
  s.engine->decode_prefill(s.tokens.data(), ctx);
  s.engine->decode_step(s.tokens.data() + ctx);  // warm-up step (the weights pass through the caches once)
  const auto t0 = Clock::now();
  for (auto _ : state) {
    const int64_t p = s.engine->decode_position();
    benchmark::DoNotOptimize(s.engine->decode_step(s.tokens.data() + std::min<int64_t>(p, c.n_positions - 1)));
  }
  const double per_token_s = seconds_since(t0) / static_cast<double>(state.iterations());
  // Bytes read per token: the weights (lm_head included, wpe excluded), plus K and V of every layer.
  const double w_bytes = static_cast<double>(s.model.weight_bytes());
  const double kv_bytes = 2.0 * c.n_layer * (ctx + kSteps / 2) * c.n_embd * 4;
  const double bound_s = w_bytes / (triad_gbs(threads) * 1e9);
  state.counters["ms/token"] = per_token_s * 1e3;
  state.counters["bound_ms"] = bound_s * 1e3;
  state.counters["x_bound"] = per_token_s / bound_s;
  state.counters["x_bound_kv"] = per_token_s / ((w_bytes + kv_bytes) / (triad_gbs(threads) * 1e9));
  state.counters["x_bound_read"] = per_token_s / (w_bytes / (read_gbs(threads) * 1e9));
}

BENCHMARK(BM_Prompt)
    ->ArgNames({"T", "threads"})
    ->ArgsProduct({{64, 256}, {1, 2}})
    ->UseRealTime()  // rates from wall-clock time, not the main thread's CPU time
    ->MinTime(1.0)
    ->Repetitions(5)
    ->ReportAggregatesOnly(true)
    ->Unit(benchmark::kMillisecond)
    ->Apply(add_min_statistic);

// Contexts 128 and 1008: the latter fills the 1024-position limit over the 16 timed steps.
BENCHMARK(BM_Decode)
    ->ArgNames({"ctx", "threads"})
    ->ArgsProduct({{128, 1024 - kSteps}, {1, 2}})
    ->UseRealTime()
    ->Iterations(kSteps - 1)
    ->Repetitions(5)
    ->ReportAggregatesOnly(true)
    ->Unit(benchmark::kMillisecond)
    ->Apply(add_min_statistic);

}  // namespace
}  // namespace gaincell::bench
