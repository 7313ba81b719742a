#include "cli/common.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "analog/register.h"
#include "core/error.h"
#include "kernels/bf16.h"
#include "kernels/threads.h"

namespace gaincell::cli {

void add_thread_options(CLI::App* cmd, ThreadOptions& o) {
  cmd->add_option("--threads", o.threads, "Worker threads (0 = all cores)")->check(CLI::Range(0, 1024));
}

void apply_thread_options(const ThreadOptions& o) {
  set_compute_threads(o.threads);
}

void add_precision_option(CLI::App* cmd, std::string& precision) {
  cmd->add_option("--precision", precision,
                  "Projections (linear layers, lm_head): f32, or bf16 weights and activations with f32 "
                  "accumulation (attention, norms, gain-cell simulation stay f32; docs/precision.md)")
      ->capture_default_str();
}

void apply_precision_option(const std::string& precision) {
  set_matmul_precision(parse_matmul_precision(precision));
}

void add_model_options(CLI::App* cmd, ModelOptions& o, bool with_seed, bool evaluation) {
  cmd->add_option("--model", o.model_dir, "Model folder (config.json, model.safetensors, tokenizer)")->required();
  cmd->add_option("--attention", o.attention, "Attention backend: softmax|sliding (+ analog kinds)");
  cmd->add_option("--window", o.window, "Window W of windowed backends (tokens)")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--hw", o.hw_path, "Hardware TOML for the gain-cell backends")->check(CLI::ExistingFile);
  if (with_seed) cmd->add_option("--seed", o.seed, "Random seed");
  cmd->add_option("--retention-s", o.retention_s, "Cell retention time (s): leakage = token period / retention")
      ->check(CLI::PositiveNumber);
  if (evaluation)
    cmd->add_option("--read-snr-db", o.read_snr_db,
                    "Gain-cell read noise on S and A at this signal-to-noise ratio (dB; evaluation only, "
                    "noise.read_snr_*_db)")
        ->check(CLI::PositiveNumber);
  cmd->add_option("--report", o.report_path, "Write the run's activity counters and energy/latency as JSON");
  add_thread_options(cmd, o.threads);
  add_precision_option(cmd, o.precision);
}

void register_all_attention() {
  static bool done = false;
  if (done) return;
  register_digital_attention();
  register_analog_attention();
  done = true;
}

LoadedModel load_model(const ModelOptions& o) {
  apply_thread_options(o.threads);
  apply_precision_option(o.precision);
  register_all_attention();
  LoadedModel m;
  // bf16 inference holds the projection weights in bf16 only (half the bytes per decoded token).
  const WeightStorage storage =
      matmul_precision() == MatmulPrecision::kBf16 ? WeightStorage::kBf16Projections : WeightStorage::kF32;
  m.model = std::make_unique<Gpt2>(Gpt2::load(o.model_dir, storage));
  m.attention = create_attention(o.attention, *m.model, attention_options(o, m.model->config()));
  return m;
}

AttentionOptions attention_options(const ModelOptions& o, const ModelConfig& c) {
  AttentionOptions a;
  a.window = o.window;
  a.hw_path = o.hw_path;
  a.seed = o.seed;
  a.read_snr_db = o.read_snr_db;
  a.converter_histograms = !o.report_path.empty();
  if (o.retention_s > 0) {
    a.retention_tau_s = o.retention_s;
    a.token_period_s = model_token_period_s(o, c);
  }
  return a;
}

std::vector<int32_t> parse_token_list(const std::string& s) {
  std::vector<int32_t> ids;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = s.find(',', i);
    if (j == std::string::npos) j = s.size();
    std::string item = s.substr(i, j - i);
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    char* end = nullptr;
    errno = 0;
    long long v = item.empty() ? 0 : std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || errno != 0 || v < 0 || v > INT32_MAX)
      fail_expected("cli", "comma-separated non-negative token ids for --tokens", "'" + item + "'");
    ids.push_back(static_cast<int32_t>(v));
    i = j + 1;
  }
  if (ids.empty()) fail_expected("cli", "at least one token id in --tokens", "an empty list");
  return ids;
}

double now_seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

Progress::Progress(std::string label, int64_t total, std::string unit)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      total_(total),
      start_s_(now_seconds()),
      tty_(::isatty(STDERR_FILENO)) {}

void Progress::update(int64_t done, const std::string& extra) {
  if (!tty_) return;
  double t = now_seconds();
  if (done < total_ && t - last_draw_s_ < 0.1) return;
  last_draw_s_ = t;
  double el = t - start_s_, rate = el > 0 ? done / el : 0;
  double eta = rate > 0 ? (total_ - done) / rate : 0;
  int width = 30, filled = total_ > 0 ? static_cast<int>(width * done / total_) : width;
  std::string bar(filled, '#');
  bar += std::string(width - filled, '.');
  std::fprintf(stderr, "\r%s [%s] %lld/%lld %.1f %s/s ETA %.0fs %s\033[K", label_.c_str(), bar.c_str(),
               static_cast<long long>(done), static_cast<long long>(total_), rate, unit_.c_str(), eta, extra.c_str());
  std::fflush(stderr);
}

void Progress::finish(const std::string& extra) {
  double el = now_seconds() - start_s_;
  if (tty_) std::fprintf(stderr, "\r\033[K");
  std::fprintf(stderr, "%s: %lld %s in %.2f s (%.1f %s/s) %s\n", label_.c_str(), static_cast<long long>(total_),
               unit_.c_str(), el, el > 0 ? total_ / el : 0.0, unit_.c_str(), extra.c_str());
}

}  // namespace gaincell::cli
