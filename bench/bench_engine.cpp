// GPT-2 124M and SmolLM-135M (the gpt2 and smollm-135m presets, random weights, softmax attention) through the
// Engine: prompt processing (ms/token and x_peak = achieved FLOP rate / the FMA peak measured in this run) and
// decoding (ms/token next to the decode memory bound = bytes read per token / measured bandwidth).
// Arg "model": 0 = gpt2, 1 = smollm-135m.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "bench_util.h"
#include "kernels/bf16.h"
#include "model/engine.h"

namespace gaincell::bench {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

const char* const kPresets[] = {"gpt2", "smollm-135m"};

struct EngineSetup {
  Model model;
  std::unique_ptr<Attention> attention;
  std::unique_ptr<Engine> engine;
  std::vector<int32_t> tokens;  // n_positions deterministic ids

  explicit EngineSetup(const std::string& preset) : model(Model::random(config_preset(preset), 1)) {
    // GAINCELL_BENCH_PRECISION=bf16 (bench_main.cpp): the projection weights held in bf16, as the CLI does.
    if (matmul_precision() == MatmulPrecision::kBf16) model.hold_projections_in_bf16();
    register_digital_attention();
    const ModelConfig& c = model.config();
    attention = create_attention("softmax", model, AttentionOptions{});
    engine = std::make_unique<Engine>(model, *attention);
    for (int i = 0; i < c.n_positions; ++i) tokens.push_back(static_cast<int32_t>((i * 7919 + 13) % c.vocab_size));
  }
};
// One model in memory at a time (SmolLM-135M and GPT-2 are ~0.5 GiB of float32 each).
EngineSetup& setup(int which) {
  static std::unique_ptr<EngineSetup> s;
  static int current = -1;
  if (current != which) {
    s.reset();
    s = std::make_unique<EngineSetup>(kPresets[which]);
    current = which;
  }
  return *s;
}

// FLOPs of a T-token prompt forward that returns the last position's logits: 2 per weight of every block
// linear layer and token, the causal attention products (2 x 2 H D per query-key pair, T (T + 1) / 2 pairs),
// and the lm_head of one row.
double prompt_flops(const ModelConfig& c, int T) {
  const double C = c.n_embd, I = c.ffn_dim();
  const double mlp = (c.mlp == MlpKind::kSwiGLU ? 3.0 : 2.0) * C * I;
  const double linear = C * double(c.qkv_dim()) + double(c.q_dim()) * C + mlp;
  const double attn = 4.0 * double(c.q_dim()) * T * (T + 1) / 2.0;
  return c.n_layer * (2.0 * linear * T + attn) + 2.0 * C * c.vocab_size;
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
  // bf16 projections: the two paths' float32 summation orders differ, which moves a few activations across a
  // bf16 rounding boundary (one bf16 ulp of one input of the next layer; tests/unit/bf16_weights_test.cpp).
  const double tolerance = matmul_precision() == MatmulPrecision::kBf16 ? 5e-3 : 1e-5;
  if (scale == 0 || worst > tolerance * (1 + scale))
    return what + ": worst diff " + std::to_string(worst) + " at " + std::to_string(at) + " (scale " +
           std::to_string(scale) + ")";
  return "";
}

// Validation (once per length, R23): full forward of T tokens == decode_prefill of the same T tokens.
std::string check_prompt(int which, int T) {
  static std::set<std::pair<int, int>> done;
  if (!done.insert({which, T}).second) return "";
  EngineSetup& s = setup(which);
  const int V = s.model.config().vocab_size;
  const float* full = s.engine->forward(s.tokens.data(), 1, T, 1);
  std::vector<float> want(full, full + V);
  s.engine->decode_begin(1, T);
  return compare_logits(want, s.engine->decode_prefill(s.tokens.data(), T), "forward vs decode_prefill");
}

// Validation (once per context): prefill ctx tokens then one decode_step == full forward of ctx + 1 tokens.
std::string check_decode(int which, int ctx) {
  static std::set<std::pair<int, int>> done;
  if (!done.insert({which, ctx}).second) return "";
  EngineSetup& s = setup(which);
  const int V = s.model.config().vocab_size;
  const float* full = s.engine->forward(s.tokens.data(), 1, ctx + 1, 1);
  std::vector<float> want(full, full + V);
  s.engine->decode_begin(1, ctx + 1);
  s.engine->decode_prefill(s.tokens.data(), ctx);
  return compare_logits(want, s.engine->decode_step(s.tokens.data() + ctx), "forward vs decode_step");
}

void BM_Prompt(benchmark::State& state) {
  const int which = static_cast<int>(state.range(0));
  const int T = static_cast<int>(state.range(1)), threads = static_cast<int>(state.range(2));
  use_threads(state, threads);
  if (validation_failed(state, check_prompt(which, T))) return;
  EngineSetup& s = setup(which);
  s.engine->forward(s.tokens.data(), 1, T, 1);  // warm-up
  const auto t0 = Clock::now();
  for (auto _ : state) benchmark::DoNotOptimize(s.engine->forward(s.tokens.data(), 1, T, 1));
  const double per_iter_s = seconds_since(t0) / static_cast<double>(state.iterations());
  state.SetItemsProcessed(state.iterations() * T);
  state.counters["ms/token"] = per_iter_s * 1e3 / T;
  state.counters["x_peak"] = prompt_flops(s.model.config(), T) / per_iter_s / (fma_peak_gflops(threads) * 1e9);
  state.SetLabel(kPresets[which]);
}

// One repetition: prefill `ctx` tokens (untimed), then kSteps timed decode steps, so every timed step sees
// between ctx and ctx + kSteps - 1 cached tokens.
constexpr int kSteps = 16;

void BM_Decode(benchmark::State& state) {
  const int which = static_cast<int>(state.range(0));
  const int ctx = static_cast<int>(state.range(1)), threads = static_cast<int>(state.range(2));
  use_threads(state, threads);
  if (validation_failed(state, check_decode(which, ctx))) return;
  EngineSetup& s = setup(which);
  const ModelConfig& c = s.model.config();
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
  const double kv_bytes = 2.0 * c.n_layer * (ctx + kSteps / 2) * double(c.kv_dim()) * 4;
  const double bound_s = w_bytes / (triad_gbs(threads) * 1e9);
  state.counters["ms/token"] = per_token_s * 1e3;
  state.counters["bound_ms"] = bound_s * 1e3;
  state.counters["x_bound"] = per_token_s / bound_s;
  state.counters["x_bound_kv"] = per_token_s / ((w_bytes + kv_bytes) / (triad_gbs(threads) * 1e9));
  state.counters["x_bound_read"] = per_token_s / (w_bytes / (read_gbs(threads) * 1e9));
  state.SetLabel(kPresets[which]);
}

BENCHMARK(BM_Prompt)
    ->ArgNames({"model", "T", "threads"})
    ->ArgsProduct({{0, 1}, {64, 256}, {1, 2}})
    ->UseRealTime()  // rates from wall-clock time, not the main thread's CPU time
    ->MinTime(1.0)
    ->Repetitions(5)
    ->ReportAggregatesOnly(true)
    ->Unit(benchmark::kMillisecond)
    ->Apply(add_min_statistic);

// Contexts 128 and 1008: the latter fills GPT-2's 1024-position limit over the 16 timed steps.
BENCHMARK(BM_Decode)
    ->ArgNames({"model", "ctx", "threads"})
    ->ArgsProduct({{0, 1}, {128, 1024 - kSteps}, {1, 2}})
    ->UseRealTime()
    ->Iterations(kSteps - 1)
    ->Repetitions(5)
    ->ReportAggregatesOnly(true)
    ->Unit(benchmark::kMillisecond)
    ->Apply(add_min_statistic);

}  // namespace
}  // namespace gaincell::bench
