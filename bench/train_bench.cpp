// Training steps (forward, backward, clipping, AdamW) of the native trainer: ms/step and tokens/s at batch 4 x
// context 64 for the gpt2 preset (124M), the Llama-family smollm-135m preset and a small model (the tiny preset: 2
// layers, 128 dims, full GPT-2 vocabulary), softmax attention, random weights. Validation: the first step's loss is
// within 0.5 of ln(vocab), the loss of a random model, and finite.
#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <vector>

#include "analog/register.h"
#include "bench_util.h"
#include "train/trainer.h"

namespace gaincell::bench {
namespace {

constexpr int kBatch = 4, kContext = 64;

struct TrainSetup {
  Gpt2 init;
  std::unique_ptr<Attention> attention;
  std::unique_ptr<TrainModel> model;
  std::unique_ptr<Trainer> trainer;
  std::vector<int32_t> inputs, targets;
  double first_loss = 0;

  explicit TrainSetup(const std::string& preset, const std::string& kind = "softmax")
      : init(Gpt2::random(config_preset(preset), 1)) {
    register_digital_attention();
    register_analog_attention();
    const Gpt2Config& c = init.config();
    AttentionContext ctx = attention_context(c);
    if (kind != "softmax") ctx.window = kContext;
    attention = attention_registry().create(kind, ctx);
    model = std::make_unique<TrainModel>(init, *attention);
    TrainOptions o;
    o.batch = kBatch;
    o.context = kContext;
    o.steps = 1 << 30;
    o.warmup = 10;
    trainer = std::make_unique<Trainer>(*model, o, nullptr);
    for (int i = 0; i < kBatch * (kContext + 1); ++i) {
      const int32_t id = static_cast<int32_t>((int64_t{i} * 7919 + 13) % c.vocab_size);
      if (i % (kContext + 1) != kContext) inputs.push_back(id);
      if (i % (kContext + 1) != 0) targets.push_back(id);
    }
    first_loss = trainer->step_on(inputs.data(), targets.data()).loss;  // also touches every buffer once
  }
};

TrainSetup& setup(const std::string& preset, const std::string& kind = "softmax") {
  static std::map<std::string, std::unique_ptr<TrainSetup>> cache;
  auto& s = cache[preset + "/" + kind];
  if (!s) s = std::make_unique<TrainSetup>(preset, kind);
  return *s;
}

void BM_TrainStep(benchmark::State& state) {
  const std::string preset = state.range(0) == 0 ? "gpt2" : state.range(0) == 1 ? "tiny" : "smollm-135m";
  const int threads = static_cast<int>(state.range(1));
  use_threads(state, threads);
  TrainSetup& s = setup(preset);
  const double expect = std::log(static_cast<double>(s.init.config().vocab_size));
  if (!std::isfinite(s.first_loss) || std::fabs(s.first_loss - expect) > 0.5) {
    state.SkipWithError(
        ("first loss " + std::to_string(s.first_loss) + ", expected ~" + std::to_string(expect)).c_str());
    return;
  }
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) benchmark::DoNotOptimize(s.trainer->step_on(s.inputs.data(), s.targets.data()).loss);
  const double per_step = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() /
                          static_cast<double>(state.iterations());
  state.SetLabel(preset);
  state.counters["ms/step"] = per_step * 1e3;
  state.counters["tokens/s"] = kBatch * kContext / per_step;
}

// Arg 0: 0 = gpt2 preset, 1 = tiny preset, 2 = smollm-135m (Llama family; bench/pytorch_train_step.py has its
// twin).
BENCHMARK(BM_TrainStep)
    ->ArgNames({"model", "threads"})
    ->ArgsProduct({{0, 1, 2}, {1, 2}})
    ->Iterations(5)
    ->Repetitions(3)
    ->ReportAggregatesOnly(true)
    ->Unit(benchmark::kMillisecond)
    ->Apply(add_min_statistic);

// The same step with gain-cell attention (window = context), beside the authors' PyTorch training step
// (bench/gaincell_peer_attention.py). Arg 0: 0 = `gaincell` (cubic cell, surrogate gradients), 1 =
// `gaincell-linear`.
void BM_TrainStepGainCell(benchmark::State& state) {
  const std::string kind = state.range(0) == 0 ? "gaincell" : "gaincell-linear";
  use_threads(state, static_cast<int>(state.range(1)));
  TrainSetup& s = setup("gpt2", kind);
  if (!std::isfinite(s.first_loss)) {
    state.SkipWithError(("first loss " + std::to_string(s.first_loss)).c_str());
    return;
  }
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) benchmark::DoNotOptimize(s.trainer->step_on(s.inputs.data(), s.targets.data()).loss);
  const double per_step = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() /
                          static_cast<double>(state.iterations());
  state.SetLabel(kind);
  state.counters["ms/step"] = per_step * 1e3;
}

BENCHMARK(BM_TrainStepGainCell)
    ->ArgNames({"kind", "threads"})
    ->ArgsProduct({{0, 1}, {1, 2}})
    ->Iterations(3)
    ->Repetitions(3)
    ->ReportAggregatesOnly(true)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace gaincell::bench
