// `gaincell train`: trains a model of either family natively (src/train), with any trainable attention backend.
#include <cstdio>
#include <memory>
#include <sstream>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/dist.h"
#include "core/error.h"
#include "core/file.h"
#include "io/json.h"
#include "model/config.h"
#include "train/trainer.h"

namespace gaincell::cli {
namespace {

struct TrainCliOptions {
  ModelOptions model;
  TrainOptions train;
  std::string init = "model";  // model: start from --model's weights; scratch: the family's initialisation
  std::string preset;          // with --init scratch: the configuration (default: --model's config.json)
  std::string teacher_dir;
  bool resume = false;
};

// --retention-s reaches the backend here: the gain-cell backends train under the leakage it sets.
std::unique_ptr<Attention> make_attention(const Gpt2& m, const ModelOptions& o) {
  return create_attention(o.attention, m, attention_options(o, m.config()));
}

// Keeps the log records of steps <= step (a resumed run rewrites what came after its checkpoint); lines
// that do not parse (a record torn by a kill) are dropped.
void truncate_log(const std::string& path, int64_t step) {
  if (!file_exists(path)) return;
  std::istringstream in(read_file(path));
  std::string line, kept;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("step") || !j["step"].is_number_integer()) continue;
    if (j["step"].get<int64_t>() <= step) kept += line + "\n";
  }
  write_file_atomic(path, kept);
}

std::string step_json(const StepRecord& r, int64_t tokens) {
  char buf[320];
  std::snprintf(buf, sizeof buf,
                "{\"type\":\"step\",\"step\":%lld,\"loss\":%.7g,\"lr\":%.7g,\"grad_norm\":%.7g,\"tokens\":%lld,"
                "\"seconds\":%.4f}\n",
                static_cast<long long>(r.step), r.loss, r.lr, r.grad_norm, static_cast<long long>(tokens), r.seconds);
  std::string s = buf;
  if (r.has_eval) {
    std::snprintf(buf, sizeof buf, "{\"type\":\"eval\",\"step\":%lld,\"val_loss\":%.7g}\n",
                  static_cast<long long>(r.step), r.val_loss);
    s += buf;
  }
  return s;
}

void run_train(const TrainCliOptions& o) {
  apply_thread_options(o.model.threads);
  apply_precision_option(o.model.precision);
  register_all_attention();
  const TrainOptions& t = o.train;
  if (o.init != "model" && o.init != "scratch") fail_expected("cli", "--init model|scratch", "'" + o.init + "'");
  if (!o.preset.empty() && o.init != "scratch") fail("cli", "--preset needs --init scratch");
  if (t.distill > 0.0f && o.teacher_dir.empty()) fail("cli", "--distill needs --teacher DIR");
  make_dirs(t.out_dir);
  const std::string ckpt = Trainer::latest_checkpoint(t.out_dir);
  if (!ckpt.empty() && !o.resume)
    fail("cli", "'" + t.out_dir + "' already holds a checkpoint (" + ckpt + "); pass --resume or another --out");
  const bool resuming = o.resume && !ckpt.empty();
  if (o.resume && !resuming) std::fprintf(stderr, "train: no checkpoint in '%s', starting fresh\n", t.out_dir.c_str());

  Gpt2 init = [&] {
    if (resuming) return Gpt2::load(ckpt);
    if (o.init == "model") return Gpt2::load(o.model.model_dir);
    Gpt2Config cfg = o.preset.empty() ? config_from_json(read_file(o.model.model_dir + "/config.json", 1 << 20),
                                                         o.model.model_dir + "/config.json")
                                      : config_preset(o.preset);
    return Gpt2::random(cfg, o.train.seed);
  }();
  std::unique_ptr<Attention> attention = make_attention(init, o.model);
  TrainModel model(init, *attention);

  std::unique_ptr<Attention> teacher_attention;
  std::unique_ptr<TrainModel> teacher;  // forward only (softmax), through the deterministic training kernels
  if (!o.teacher_dir.empty()) {
    Gpt2 teacher_weights = Gpt2::load(o.teacher_dir);
    teacher_attention = make_attention(teacher_weights, ModelOptions{});
    teacher = std::make_unique<TrainModel>(teacher_weights, *teacher_attention);
  }
  Trainer trainer(model, t, teacher.get());
  const std::string log_path = t.out_dir + "/log.jsonl";
  const bool root = dist_root();  // under mpirun rank 0 writes the log, the model and the report
  if (resuming) {
    trainer.load_state(ckpt);
    if (root) truncate_log(log_path, trainer.steps_done());
    std::fprintf(stderr, "train: resumed from %s at step %lld\n", ckpt.c_str(),
                 static_cast<long long>(trainer.steps_done()));
  } else if (root && file_exists(log_path)) {
    write_file_atomic(log_path, "");
  }
  std::FILE* log = std::fopen(root ? log_path.c_str() : "/dev/null", "a");
  if (!log) fail("io", "cannot open '" + log_path + "' for appending");
  const int64_t tokens_per_step = int64_t{t.batch} * t.context * t.accum;
  Progress progress("train", t.steps, "steps");
  const int64_t first = trainer.steps_done();
  const double start = now_seconds();
  StepRecord last;
  try {
    trainer.run([&](const StepRecord& r) {
      const std::string line = step_json(r, tokens_per_step);
      std::fwrite(line.data(), 1, line.size(), log);
      std::fflush(log);
      const double el = now_seconds() - start;
      char extra[128];
      std::snprintf(extra, sizeof extra, "loss %.4f %.0f tok/s", r.loss,
                    el > 0 ? (r.step - first) * tokens_per_step / el : 0.0);
      progress.update(r.step, extra);
      last = r;
    });
  } catch (...) {
    std::fclose(log);
    throw;
  }
  std::fclose(log);
  if (root) model.snapshot().save(t.out_dir + "/model");
  char extra[128];
  std::snprintf(extra, sizeof extra, "(final loss %.4f%s)", last.loss,
                last.has_eval ? (", val " + std::to_string(last.val_loss)).c_str() : "");
  progress.finish(extra);
  std::printf("wrote %s/model after %lld steps\n", t.out_dir.c_str(), static_cast<long long>(trainer.steps_done()));
  if (root && !o.model.report_path.empty()) {  // docs/training.md, "Outputs"
    const double seconds = now_seconds() - start;
    const int64_t tokens = (trainer.steps_done() - first) * tokens_per_step;
    nlohmann::ordered_json run;
    run["command"] = "train";
    run["out"] = t.out_dir;
    run["resumed_from_step"] = first;
    run["steps"] = trainer.steps_done();
    run["tokens"] = tokens;
    run["seconds"] = seconds;
    run["tokens_per_second"] = seconds > 0 ? tokens / seconds : 0.0;
    const nlohmann::ordered_json none = nullptr;
    run["final_loss"] = last.step > 0 ? nlohmann::ordered_json(last.loss) : none;
    run["val_loss"] = last.has_eval ? nlohmann::ordered_json(last.val_loss) : none;
    run["retention_s"] = o.model.retention_s > 0 ? nlohmann::ordered_json(o.model.retention_s) : none;
    write_report_if_requested(o.model, init.config(), *attention, run);
  }
}

}  // namespace

void register_train(CLI::App& app) {
  auto o = std::make_shared<TrainCliOptions>();
  CLI::App* cmd = app.add_subcommand("train", "Train or fine-tune a GPT-2 (docs/training.md)");
  add_model_options(cmd, o->model, /*with_seed=*/true, /*evaluation=*/false);
  TrainOptions& t = o->train;
  cmd->add_option("--data", t.data_dir, "Folder with train.bin and val.bin (gaincell data prepare)")->required();
  cmd->add_option("--out", t.out_dir, "Output folder: checkpoints, log.jsonl, model/")->required();
  cmd->add_option("--steps", t.steps, "Optimizer steps")->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  cmd->add_option("--batch", t.batch, "Sequences per micro-batch")->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--context", t.context, "Tokens per sequence")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--accum", t.accum, "Micro-batches per step (gradient accumulation)")->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--lr", t.lr, "Peak learning rate");
  cmd->add_option("--min-lr", t.min_lr, "Learning rate at the end of the cosine decay");
  cmd->add_option("--warmup", t.warmup, "Linear warm-up steps")->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
  cmd->add_option("--decay-steps", t.decay_steps, "Steps of the cosine decay to --min-lr (0: --steps)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
  cmd->add_option("--grad-clip", t.grad_clip, "Max global gradient norm (<= 0: off)");
  cmd->add_option("--weight-decay", t.weight_decay, "AdamW weight decay (tensors with >= 2 dims)");
  cmd->add_option("--eval-every", t.eval_every, "Evaluate on val.bin every N steps (0: only at the end)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
  cmd->add_option("--eval-batches", t.eval_batches, "Batches per evaluation")->check(CLI::Range(0, 1 << 20));
  cmd->add_option("--checkpoint-every", t.checkpoint_every, "Checkpoint every K steps (0: only at the end)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
  cmd->add_option("--init", o->init, "model: start from --model's weights; scratch: the family's random initialisation")
      ->check(CLI::IsMember({"model", "scratch"}));
  cmd->add_option("--preset", o->preset, "Configuration for --init scratch")
      ->check(CLI::IsMember(config_preset_names()));
  cmd->add_option("--distill", t.distill, "Weight lambda of the MSE to the teacher's logits")
      ->check(CLI::Range(0.0f, 1.0f));
  cmd->add_option("--teacher", o->teacher_dir, "Teacher model folder for --distill (softmax attention)");
  cmd->add_flag("--resume", o->resume, "Continue from the latest checkpoint in --out");
  cmd->callback([o] {
    o->train.seed = o->model.seed;
    run_train(*o);
  });
}

}  // namespace gaincell::cli
