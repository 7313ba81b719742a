// `gaincell adapt`: the paper's adaptation pipeline (paper-spec §3; docs/adaptation.md), a thin wrapper
// around run_adaptation (src/calibration/adapt_pipeline.h) with a progress display per stage.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>

#include "calibration/adapt_pipeline.h"
#include "cli/commands.h"
#include "cli/common.h"

namespace gaincell::cli {
namespace {

struct AdaptCliOptions {
  AdaptOptions adapt;
  ThreadOptions threads;
  std::string precision = "f32";
};

// One progress bar per stage, opened at the stage's first record.
class StageProgress {
 public:
  explicit StageProgress(const AdaptOptions& o) : o_(o) {}
  void operator()(const std::string& stage, const StepRecord& r) {
    if (stage != stage_) {
      close();
      stage_ = stage;
      total_ = stage == "linear" ? o_.linear_steps : stage == "finetune" ? o_.finetune_steps : o_.calib.max_iterations;
      bar_ = std::make_unique<Progress>(stage, total_, stage == "calibration" ? "it" : "steps");
    }
    char extra[128];
    if (r.has_eval)
      std::snprintf(extra, sizeof extra, "loss %.4f val %.4f", r.loss, r.val_loss);
    else
      std::snprintf(extra, sizeof extra, "loss %.4f", r.loss);
    last_ = extra;
    done_ = r.step;
    bar_->update(std::min(r.step, total_), extra);  // the unconverged calibration measures once more
  }
  void close() {
    if (!bar_) return;
    if (stage_ != "calibration") {
      bar_->finish("(" + last_ + ")");
    } else {  // Progress::finish reports its total; calibration usually stops early
      if (isatty(2)) std::fprintf(stderr, "\r\033[K");
      std::fprintf(stderr, "calibration: %lld measuring forwards (%s)\n", static_cast<long long>(done_), last_.c_str());
    }
    bar_.reset();
  }

 private:
  const AdaptOptions& o_;
  std::string stage_, last_;
  int64_t total_ = 0, done_ = 0;
  std::unique_ptr<Progress> bar_;
};

void print_stage(const char* label, const nlohmann::ordered_json& s) {
  if (s.value("skipped", false)) {
    std::printf("%-12s skipped\n", label);
    return;
  }
  std::printf("%-12s val loss %.4f -> %.4f\n", label, s["val_loss_before"].get<double>(),
              s["val_loss_after"].get<double>());
}

void run_adapt(const AdaptCliOptions& o) {
  apply_thread_options(o.threads);
  apply_precision_option(o.precision);
  StageProgress progress(o.adapt);
  AdaptResult r =
      run_adaptation(o.adapt, [&](const std::string& stage, const StepRecord& rec) { progress(stage, rec); });
  progress.close();
  for (const std::string& w : r.warnings) std::fprintf(stderr, "adapt: warning: %s\n", w.c_str());
  const auto& st = r.summary["stages"];
  print_stage("linear", st["linear"]);
  print_stage("calibration", st["calibration"]);
  std::printf("calibration: %s after %d iterations\n", r.converged ? "converged" : "not converged", r.calib_iterations);
  print_stage("finetune", st["finetune"]);
  std::printf("wrote %s (adapt_summary.json)\n", o.adapt.out_dir.c_str());
}

}  // namespace

void register_adapt(CLI::App& app) {
  auto o = std::make_shared<AdaptCliOptions>();
  AdaptOptions& a = o->adapt;
  CLI::App* cmd = app.add_subcommand("adapt", "Adapt a model to the gain-cell hardware (paper-spec §3)");
  cmd->add_option("--model", a.model_dir, "Input model folder (with --linear-steps 0: a linear model with targets)")
      ->required();
  cmd->add_option("--data", a.data_dir, "Token folder with train.bin and val.bin (gaincell data prepare)")->required();
  cmd->add_option("--out", a.out_dir, "Output model folder")->required();
  cmd->add_option("--hw", a.hw_path, "Hardware TOML (default: paper values)");
  cmd->add_option("--linear-steps", a.linear_steps, "Stage 1 steps (gaincell-linear, recording targets; >= 50)")
      ->check(CLI::Range(0, 1 << 30));
  cmd->add_option("--calib-batch", a.calib_batch, "Sequences in the calibration batch")->check(CLI::Range(1, 4096));
  cmd->add_option("--calib-iterations", a.calib.max_iterations, "Calibration iteration limit")
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--finetune-steps", a.finetune_steps, "Stage 3 steps (gaincell, surrogate gradients)")
      ->check(CLI::Range(0, 1 << 30));
  cmd->add_option("--distill", a.distill, "Distillation weight lambda of stages 1 and 3")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--teacher", a.teacher_dir, "Teacher folder for --distill (default: --model with softmax)");
  cmd->add_option("--batch", a.batch, "Sequences per training micro-batch")->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--accum", a.accum, "Micro-batches per optimizer step")->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--context", a.context, "Tokens per sequence (default min(n_positions, 256))")
      ->check(CLI::Range(2, 1 << 20));
  cmd->add_option("--lr", a.lr, "Peak learning rate of stages 1 and 3")->check(CLI::PositiveNumber);
  cmd->add_option("--warmup", a.warmup, "Linear warm-up steps of stages 1 and 3")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
  cmd->add_option("--eval-every", a.eval_every, "Evaluate on val.bin every N steps (0: start and end of a stage)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
  cmd->add_option("--eval-batches", a.eval_batches, "Batches per evaluation")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--seed", a.seed, "Seed of the data windows, the calibration batch and the hardware noise");
  add_thread_options(cmd, o->threads);
  add_precision_option(cmd, o->precision);
  cmd->callback([o] { run_adapt(*o); });
}

}  // namespace gaincell::cli
