// The budgets and profiles of `gaincell reproduce` (experiments/reproduce.h; docs/reproduce.md, "Profiles").
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "core/error.h"
#include "core/file.h"
#include "experiments/reproduce.h"

namespace gaincell {
namespace {

std::string profile_fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

}  // namespace

std::vector<std::string> ReproduceBudget::validate() const {
  std::vector<std::string> p;
  auto positive = [&](const char* name, int64_t v) {
    if (v < 1) p.push_back(std::string(name) + ": expected >= 1, got " + std::to_string(v));
  };
  positive("context_tokens", context_tokens);
  positive("eval_windows", eval_windows);
  positive("batch_sequences", batch_sequences);
  positive("calib_batch_sequences", calib_batch_sequences);
  positive("adapt_eval_batches", adapt_eval_batches);
  positive("lr_decay_steps", lr_decay_steps);
  if (linear_steps < 50)
    p.push_back("linear_steps: expected >= 50 (stage 1 records the targets), got " + std::to_string(linear_steps));
  if (calib_iterations < 1) p.push_back("calib_iterations: expected >= 1, got " + std::to_string(calib_iterations));
  if (finetune_steps < 0) p.push_back("finetune_steps: expected >= 0, got " + std::to_string(finetune_steps));
  if (gen_tokens < 0) p.push_back("gen_tokens: expected >= 0, got " + std::to_string(gen_tokens));
  if (!(lr > 0) || !(min_lr >= 0) || !(min_lr <= lr))
    p.push_back("lr, min_lr: expected 0 <= min_lr <= lr, lr > 0, got " + profile_fmt("%g", lr) + ", " +
                profile_fmt("%g", min_lr));
  if (!(temperature > 0) || !std::isfinite(temperature))
    p.push_back("temperature: expected > 0, got " + profile_fmt("%g", temperature));
  for (double s : cell_gain_sigmas)
    if (!(s >= 0) || !std::isfinite(s))
      p.push_back("cell_gain_sigmas: expected values >= 0, got " + profile_fmt("%g", s));
  for (double t : retention_s)
    if (!(t > 0) || !std::isfinite(t)) p.push_back("retention_s: expected values > 0, got " + profile_fmt("%g", t));
  return p;
}

ReproduceBudget full_budget() {
  return ReproduceBudget{};
}

ReproduceBudget quick_budget() {
  ReproduceBudget b;
  b.eval_windows = 8;
  b.batch_sequences = 4;
  b.linear_steps = 50;
  b.calib_iterations = 25;
  b.finetune_steps = 30;
  b.gen_tokens = 64;
  b.cell_gain_sigmas = {0.0, 0.2};
  b.retention_s = {5e-3, 1e-6};
  return b;
}

std::vector<std::string> ReproduceProfile::validate() const {
  std::vector<std::string> p = budget.validate();
  if (name.empty()) p.push_back("name: expected a profile name, got an empty one");
  if (text_path.empty()) p.push_back("text_path: expected a corpus file, got an empty path");
  if (model_dir.empty() && llama2c_checkpoint.empty())
    p.push_back("model_dir: expected a model folder or a llama2c checkpoint, got neither");
  if (!llama2c_checkpoint.empty() && llama2c_tokenizer.empty())
    p.push_back("llama2c_tokenizer: expected the checkpoint's tokenizer.bin, got an empty path");
  if (tokenization != "bytes" && tokenization != "model")
    p.push_back("tokenization: expected \"bytes\" or \"model\", got \"" + tokenization + "\"");
  if (text_bytes < 0) p.push_back("text_bytes: expected >= 0 (0: the whole corpus), got " + std::to_string(text_bytes));
  if (!(train_fraction > 0 && train_fraction < 1))
    p.push_back("train_fraction: expected a value in (0, 1), got " + profile_fmt("%g", train_fraction));
  else if (!(monitor_fraction >= 0 && train_fraction + monitor_fraction < 1))
    p.push_back("monitor_fraction: expected >= 0 with train_fraction + monitor_fraction < 1, got " +
                profile_fmt("%g", monitor_fraction));
  return p;
}

ReproduceProfile shakespeare_profile(bool quick) {
  ReproduceProfile p;
  p.name = "shakespeare-bytes";
  p.title = "a byte-level Shakespeare GPT-2";
  p.model_dir = data_dir() + "/../models/shakespeare-bytes";
  p.model_label = "byte-level GPT-2";
  p.text_path = data_dir() + "/tinyshakespeare.txt";
  p.data_label = "TinyShakespeare";
  p.prompt = "ROMEO:\n";
  p.budget = quick ? quick_budget() : full_budget();
  return p;
}

ReproduceProfile stories260k_profile(bool quick, const std::string& shared_dir) {
  ReproduceProfile p;
  p.name = "stories260k";
  p.title = "stories260K (llama2.c) on TinyStories";
  p.llama2c_checkpoint = shared_dir + "/data/DaveBben__esp32-llm/stories260K.bin";
  p.llama2c_tokenizer = shared_dir + "/data/DaveBben__esp32-llm/tok512.bin";
  p.model_label = "Llama (llama2.c stories260K, GQA 8/4 heads)";
  p.text_path = shared_dir + "/data/yuninxia__moe-routing-bench/tinystories_val.txt";
  p.data_label = "TinyStories (validation text)";
  p.tokenization = "model";
  p.prompt = "Once upon a time";
  p.prompt_bos = true;
  p.cost_presets = {"gpt2"};
  ReproduceBudget& b = p.budget;
  if (quick) {  // the e2e test's run: ~57 K tokens, short sequences, the smallest stage budgets
    p.text_bytes = 120000;
    p.train_fraction = 0.6;
    p.monitor_fraction = 0.1;
    b.context_tokens = 64;
    b.eval_windows = 8;
    b.batch_sequences = 4;
    b.linear_steps = 50;
    b.calib_iterations = 10;
    b.finetune_steps = 20;
    b.gen_tokens = 48;
    b.cell_gain_sigmas = {0.0, 0.2};
    b.retention_s = {5e-3, 1e-6};
  } else {  // the whole file (0.8 MB, ~0.38 M tokens): ~1 pass over the adaptation part per stage
    p.text_bytes = 0;
    p.train_fraction = 0.8;
    p.monitor_fraction = 0.05;
    b.context_tokens = 128;
    b.eval_windows = 32;
    b.batch_sequences = 8;
    b.linear_steps = 300;
    b.calib_iterations = 60;
    b.finetune_steps = 300;
    b.gen_tokens = 96;
  }
  return p;
}

const std::vector<std::string>& reproduce_profile_names() {
  static const std::vector<std::string> names{"shakespeare", "stories260k"};
  return names;
}

ReproduceProfile reproduce_profile(const std::string& name, bool quick, const std::string& shared_dir) {
  if (name == "shakespeare") return shakespeare_profile(quick);
  if (name == "stories260k") return stories260k_profile(quick, shared_dir);
  fail_expected("reproduce", "a profile name (shakespeare, stories260k)", "'" + name + "'");
}

std::string default_shared_dir() {
  const char* env = std::getenv("GAINCELL_SHARED_DIR");
  return env && *env ? env : data_dir() + "/../../shared";
}

}  // namespace gaincell
