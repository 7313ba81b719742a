// Subcommands of the cost model: cost (one configuration against GPUs) and sweep (a design-space grid to
// CSV + SVG); plus the --report and --retention-s plumbing of the model commands.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>

#include "analog/gaincell_attention.h"
#include "analog/hw_toml.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "core/dist.h"
#include "core/error.h"
#include "core/file.h"
#include "core/parallel.h"
#include "cost/report.h"
#include "cost/sweep.h"
#include "experiments/hw_sweep.h"
#include "io/provenance.h"
#include "kernels/threads.h"
#include "model/config.h"

namespace gaincell::cli {
namespace {

struct CostOptions {
  std::string model = "gpt2", hw_path, table_path, gpus = "h100,a100,rtx4090,jetson-nano";
  int window = 0;
  double retention_s = 0;  // 0: the hardware's leakage (1.6e-4 per token by default)
  std::string gpu_baseline = "measured-scaled";
};

void add_cost_options(CLI::App* cmd, CostOptions& o) {
  cmd->add_option("--model", o.model, "gpt2|gpt2-medium|gpt2-large|gpt2-xl|tiny or a model folder");
  cmd->add_option("--hw", o.hw_path, "Hardware TOML (paper defaults when absent)")->check(CLI::ExistingFile);
  cmd->add_option("--table", o.table_path, "Cost table TOML (default: configs/cost_paper.toml values)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--gpu", o.gpus, "GPUs to compare: h100,a100,rtx4090,jetson-nano");
  cmd->add_option("--window", o.window, "Sliding window M (default: the hardware's)")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--retention-s", o.retention_s,
                  "Cell retention time (s): leakage = token period / retention (default: the hardware's leakage, "
                  "1.6e-4 per token)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--gpu-baseline", o.gpu_baseline,
                  "GPU attention cost of every row: measured-scaled (the authors' measured point scaled by the "
                  "roofline; roofline for GPUs without one) or roofline")
      ->capture_default_str();
}

Gpt2Config model_config(const std::string& model) {
  for (auto& n : config_preset_names())
    if (n == model) return config_preset(model);
  if (!std::filesystem::is_directory(model))
    fail_expected("cost", "--model gpt2|gpt2-medium|gpt2-large|gpt2-xl|tiny or a model folder", "'" + model + "'");
  const std::string path = model + "/config.json";
  return config_from_json(read_file(path, 1u << 20), path);
}

HardwareConfig hardware(const std::string& path) {
  return path.empty() ? HardwareConfig{} : load_hardware_toml(path);
}

SweepBase base_of(const CostOptions& o) {
  SweepBase b;
  Gpt2Config c = model_config(o.model);
  b.model = o.model;
  b.shape = {c.n_layer, c.n_head, c.head_dim(), c.kv_heads()};
  b.vocab = c.vocab_size;
  b.hw = hardware(o.hw_path);
  b.window = o.window > 0 ? o.window : b.hw.array.window_tokens;
  b.hw.array.window_tokens = b.window;
  b.table = o.table_path.empty() ? CostTable{} : load_cost_table(o.table_path);
  b.gpus = parse_gpu_list(o.gpus);
  b.retention_s = o.retention_s;
  b.gpu_baseline = parse_gpu_baseline(o.gpu_baseline);
  return b;
}

// The shard of a sweep: --shard I/N, else a Slurm job array's task (SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN of
// SLURM_ARRAY_TASK_COUNT), else the whole grid.
void resolve_shard(const std::string& flag, HwSweepOptions& s) {
  if (!flag.empty()) return parse_shard(flag, s.shard_index, s.shard_count);
  const char* id = std::getenv("SLURM_ARRAY_TASK_ID");
  const char* count = std::getenv("SLURM_ARRAY_TASK_COUNT");
  if (!id || !count) return;
  const char* min = std::getenv("SLURM_ARRAY_TASK_MIN");
  const std::string i = std::to_string(std::atoll(id) - (min ? std::atoll(min) : 0));
  const std::string spec = i + "/" + count;
  parse_shard(spec, s.shard_index, s.shard_count);
}

void register_sweep(CLI::App& app) {
  struct Opts {
    CostOptions cost;
    std::vector<std::string> sets;
    std::string out, shard;
    HwSweepOptions eval;
    ThreadOptions threads;
    std::vector<std::string> merge_dirs;
    std::string merge_out;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand(
      "sweep",
      "Sweep a design-space grid: energy, latency, ratios (CSV, SVG); with --eval also the model's accuracy on the "
      "simulated hardware at every point (docs/scaling.md)");
  add_cost_options(cmd, o->cost);
  cmd->add_option("--set", o->sets,
                  "KEY=V1,V2,... (window, adc_bits, query_bits, store_bits, array_cols, ...; with --eval also every "
                  "numeric hardware TOML path, retention_s, cell_gain_sigma, read_noise, seed, ...)");
  cmd->add_option("--out", o->out, "Output folder");
  cmd->add_option("--eval", o->eval.eval_path,
                  "Evaluate the model (--model: a model folder) at every point on this text (--task perplexity) or "
                  "task file (--task lambada|mc)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--task", o->eval.task, "With --eval: perplexity|lambada|mc")
      ->check(CLI::IsMember({"perplexity", "lambada", "mc"}))
      ->capture_default_str();
  cmd->add_option("--attention", o->eval.attention, "With --eval: the analog attention backend")->capture_default_str();
  cmd->add_option("--context", o->eval.context,
                  "With --eval, perplexity: window length in tokens (default n_positions)")
      ->check(CLI::Range(2, 1 << 20));
  cmd->add_option("--stride", o->eval.stride,
                  "With --eval, perplexity: tokens advanced per window (default context / 2)")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--limit", o->eval.limit, "With --eval: the first N tokens (perplexity) or items (tasks)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  cmd->add_option(
      "--shard", o->shard,
      "With --eval: run shard I/N of the points (i mod N == I; default SLURM_ARRAY_TASK_ID/COUNT when set)");
  cmd->add_option("--adapt-steps", o->eval.adapt_steps,
                  "With --eval: re-calibrate every point (gaincell adapt with N steps per training stage on the "
                  "point's hardware and seed) before evaluating it")
      ->check(CLI::Range(1, 1 << 30));
  cmd->add_option("--adapt-data", o->eval.adapt_data_dir,
                  "With --adapt-steps: token folder with train.bin and val.bin (gaincell data prepare)")
      ->check(CLI::ExistingDirectory);
  add_precision_option(cmd, o->eval.precision);
  add_thread_options(cmd, o->threads);
  CLI::App* merge =
      cmd->add_subcommand("merge", "Build the CSV files and plots of an --eval sweep from its point files");
  merge->add_option("dirs", o->merge_dirs, "Sweep folders (their points/*.json)")->required();
  merge->add_option("--out", o->merge_out, "Folder for the CSV files and plots (default: the first folder)");
  cmd->callback([o, cmd, merge] {
    if (merge->parsed()) {
      for (auto& path : merge_hw_sweep(o->merge_dirs, o->merge_out.empty() ? o->merge_dirs[0] : o->merge_out))
        std::printf("wrote %s\n", path.c_str());
      return;
    }
    // Required unless `sweep merge` runs: a usage error (exit status 2), as CLI11 reports a missing option.
    if (o->sets.empty()) throw CLI::RequiredError("--set");
    if (o->out.empty()) throw CLI::RequiredError("--out");
    if (o->eval.eval_path.empty()) {
      for (const char* f : {"--task", "--attention", "--context", "--stride", "--limit", "--shard", "--adapt-steps",
                            "--adapt-data", "--precision"})
        if (cmd->count(f)) fail_expected("sweep", std::string(f) + " only with --eval", f);
      apply_thread_options(o->threads);
      std::vector<SweepParam> params;
      for (auto& s : o->sets) params.push_back(parse_sweep_param(s));
      std::vector<SweepPoint> points = run_sweep(base_of(o->cost), params);
      for (auto& path : write_sweep(o->out, params, points)) std::printf("wrote %s\n", path.c_str());
      return;
    }
    for (const char* f : {"--table", "--gpu", "--window", "--retention-s", "--gpu-baseline"})
      if (cmd->count(f))
        fail_expected("sweep", std::string("no ") + f + " with --eval (sweep its hardware key with --set)", f);
    apply_thread_options(o->threads);
    HwSweepOptions s = o->eval;
    s.model_dir = o->cost.model;
    s.hw_path = o->cost.hw_path;
    s.out_dir = o->out;
    for (auto& spec : o->sets) s.axes.push_back(parse_hw_sweep_axis(spec));
    resolve_shard(o->shard, s);
    HwSweepSummary r = run_hw_sweep(s, {[](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); }});
    std::printf("shard %d/%d: %lld points, %lld run, %lld skipped (done before), %lld failed\n", s.shard_index,
                s.shard_count, static_cast<long long>(r.points), static_cast<long long>(r.ran),
                static_cast<long long>(r.skipped), static_cast<long long>(r.failed));
    if (s.shard_count == 1) {
      if (dist_root())  // under mpirun: rank 0, after every rank's points (run_hw_sweep's last all-reduce)
        for (auto& path : merge_hw_sweep({s.out_dir}, s.out_dir)) std::printf("wrote %s\n", path.c_str());
    } else {
      std::printf("after every shard: gaincell sweep merge %s\n", s.out_dir.c_str());
    }
  });
}

}  // namespace

void register_cost(CLI::App& app) {
  struct Opts {
    CostOptions cost;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand("cost", "Energy, latency and area of gain-cell attention against GPUs");
  add_cost_options(cmd, o->cost);
  cmd->add_flag("--json", o->json, "Print the result as JSON");
  cmd->callback([o] {
    SweepBase b = base_of(o->cost);
    CostSummary s =
        summarize(b.model, b.shape, b.vocab, b.hw, b.window, b.table, b.gpus, b.retention_s, b.gpu_baseline);
    if (o->json) {
      nlohmann::ordered_json j = summary_json(s);
      HardwareConfig hw = b.hw;
      if (b.retention_s > 0) hw.set_retention(b.retention_s, token_period_s(s.token));
      j["provenance"] = hardware_provenance(hw);
      std::printf("%s\n", j.dump(2).c_str());
    } else {
      std::fputs(summary_text(s).c_str(), stdout);
    }
  });
  register_sweep(app);
}

double model_token_period_s(const ModelOptions& o, const Gpt2Config& c) {
  HardwareConfig hw = hardware(o.hw_path);
  int window = o.window > 0 ? o.window : hw.array.window_tokens;
  return token_period_s(token_cost({c.n_layer, c.n_head, c.head_dim(), c.kv_heads()}, hw, window, CostTable{}));
}

HardwareConfig resolved_hardware(const ModelOptions& o, const ModelConfig& c) {
  HardwareConfig hw = hardware(o.hw_path);
  hw.array.window_tokens = o.window > 0 ? o.window : hw.array.window_tokens;
  if (o.retention_s > 0) hw.set_retention(o.retention_s, model_token_period_s(o, c));
  if (o.read_snr_db > 0) hw.noise.read_snr_s_db = hw.noise.read_snr_a_db = o.read_snr_db;
  return hw;
}

nlohmann::ordered_json hardware_provenance(const HardwareConfig& hw) {
  RunProvenance p;
  p.gemm = gemm_backend_name();
  p.threads = num_threads();
  p.seeds = {{"chip_seed", hw.noise.chip_seed}};
  p.hardware = hardware_json(hw);
  return provenance_json(p);
}

nlohmann::ordered_json model_provenance(const ModelOptions& o, const ModelConfig& c) {
  const HardwareConfig hw = resolved_hardware(o, c);
  nlohmann::ordered_json j = hardware_provenance(hw);
  j["seeds"] = {{"seed", o.seed}, {"chip_seed", hw.noise.chip_seed}};
  return j;
}

void write_report_if_requested(const ModelOptions& o, const Gpt2Config& c, const Attention& attention,
                               const nlohmann::ordered_json& run) {
  if (o.report_path.empty()) return;
  HardwareConfig hw = hardware(o.hw_path);
  hw.array.window_tokens = o.window > 0 ? o.window : hw.array.window_tokens;
  if (o.retention_s > 0) hw.set_retention(o.retention_s, model_token_period_s(o, c));
  // Under mpirun every rank counted its share of the work: rank 0 reports the sums (the others only join).
  std::vector<QuantHistograms> hist = quant_histograms(attention);
  std::vector<AttentionActivity> activity = attention.activity();
  dist_sum_activity(activity);
  dist_merge_histograms(hist);
  if (!dist_root()) return;
  nlohmann::ordered_json j = run_report_json(activity, {c.n_layer, c.n_head, c.head_dim(), c.kv_heads()}, hw,
                                             CostTable{}, attention.name(), &hist);
  if (!run.is_null()) j["run"] = run;
  j["provenance"] = model_provenance(o, c);
  write_file_atomic(o.report_path, j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n");
  std::fprintf(stderr, "wrote %s\n", o.report_path.c_str());
}

}  // namespace gaincell::cli
