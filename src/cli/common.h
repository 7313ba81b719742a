// Shared pieces of the subcommands: option groups mapped onto library structs, model loading, and the
// progress bar. Each subcommand lives in its own cmd_<name>.cpp and registers itself in main.cpp.
#pragma once
#include <CLI/CLI.hpp>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "analog/hw_config.h"
#include "model/attention.h"
#include "model/gpt2.h"

namespace gaincell::cli {

// --threads on every command.
struct ThreadOptions {
  int threads = 0;  // 0 = all hardware threads
};
void add_thread_options(CLI::App* cmd, ThreadOptions& o);
void apply_thread_options(const ThreadOptions& o);
// --precision f32|bf16 on the commands that run a model's projections (docs/precision.md); apply sets the
// process-wide matmul precision (kernels/bf16.h).
void add_precision_option(CLI::App* cmd, std::string& precision);
void apply_precision_option(const std::string& precision);

// --model, --attention, --window, --hw, --seed on every command that runs a model.
struct ModelOptions {
  std::string model_dir;
  std::string attention = "softmax";
  int window = 0;       // 0 = backend default
  std::string hw_path;  // hardware TOML for analog backends
  uint64_t seed = 0;
  ThreadOptions threads;
  double retention_s = 0;         // --retention-s: leakage from the latency model's token period (0 = hardware's)
  double read_snr_db = 0;         // --read-snr-db: read noise of S and A at this SNR (0 = the hardware's)
  std::string report_path;        // --report: the run's activity counters and their cost as JSON
  std::string precision = "f32";  // --precision: f32 | bf16 projections
};
// `evaluation`: also --read-snr-db (evaluation-only read noise; training commands do not offer it).
void add_model_options(CLI::App* cmd, ModelOptions& o, bool with_seed = true, bool evaluation = true);

// Registers every attention backend (digital and analog) once.
void register_all_attention();

// A loaded model with its attention backend.
struct LoadedModel {
  std::unique_ptr<Gpt2> model;
  std::unique_ptr<Attention> attention;
};
// Under --precision bf16 the model holds its projection weights in bf16 (model/model.h WeightStorage).
LoadedModel load_model(const ModelOptions& o);
// The backend options of the model flags (--window, --hw, --seed, --retention-s with the token period of
// config c's latency model): the one place the CLI builds them.
AttentionOptions attention_options(const ModelOptions& o, const ModelConfig& c);
// Token period (s) of the latency model for a loaded config and the options' hardware (cmd_cost.cpp).
double model_token_period_s(const ModelOptions& o, const Gpt2Config& c);
// Writes --report FILE.json (atomically) when asked: the attention's activity counters and their energy and
// latency (cost/report.h); `run`, when not null, is stored under "run" (the command's own results). cmd_cost.cpp.
void write_report_if_requested(const ModelOptions& o, const Gpt2Config& c, const Attention& attention,
                               const nlohmann::ordered_json& run = nullptr);
inline void write_report_if_requested(const ModelOptions& o, const LoadedModel& m,
                                      const nlohmann::ordered_json& run = nullptr) {
  write_report_if_requested(o, m.model->config(), *m.attention, run);
}

// The hardware configuration the model flags resolve to: --hw (or the paper's), with --window, --retention-s
// (token period of config c's latency model) and --read-snr-db applied. cmd_cost.cpp.
HardwareConfig resolved_hardware(const ModelOptions& o, const ModelConfig& c);
// The "provenance" object (io/provenance.h) of a command run with the model flags: command line, version and
// commit, CPU, GEMM kernel, threads, seeds (--seed and the hardware's chip seed) and resolved_hardware.
nlohmann::ordered_json model_provenance(const ModelOptions& o, const ModelConfig& c);
// The same for a run without a model (cost): the given hardware configuration, no --seed.
nlohmann::ordered_json hardware_provenance(const HardwareConfig& hw);

// Parses "1,2,3" into ids; throws Error("cli", ...) on anything else.
std::vector<int32_t> parse_token_list(const std::string& s);

// Progress on stderr: a redrawn bar with rate and ETA when stderr is a terminal, else nothing until done.
class Progress {
 public:
  Progress(std::string label, int64_t total, std::string unit);
  void update(int64_t done, const std::string& extra = "");
  void finish(const std::string& extra = "");

 private:
  std::string label_, unit_;
  int64_t total_;
  double start_s_;
  double last_draw_s_ = -1;
  bool tty_;
};

double now_seconds();

}  // namespace gaincell::cli
