// The training loop: random-window batches from a token file, gradient accumulation, clipping, AdamW with
// warm-up + cosine decay, periodic evaluation on the val split, optional distillation from a teacher, a
// JSONL log, and atomic checkpoints that resume bit-identically (docs/training.md).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/rng.h"
#include "io/token_file.h"
#include "train/optimizer.h"
#include "train/train_model.h"

namespace gaincell {

struct TrainOptions {
  std::string data_dir;  // train.bin and val.bin
  std::string out_dir;   // checkpoints, log.jsonl, model/
  int64_t steps = 100;   // optimizer steps in total (a resumed run continues up to this)
  int batch = 4;         // sequences per micro-batch
  int context = 64;      // tokens per sequence
  int accum = 1;         // micro-batches per optimizer step
  float lr = 6e-4f;
  float min_lr = 6e-5f;
  int64_t warmup = 0;       // linear warm-up steps
  int64_t decay_steps = 0;  // step at which the cosine reaches min_lr; 0 = steps (the paper: 600000)
  float grad_clip = 1.0f;   // max global gradient norm; <= 0 disables clipping
  float weight_decay = 0.1f;
  int64_t eval_every = 0;        // evaluate every N steps and at the end; 0 = only at the end
  int eval_batches = 4;          // batches of the val split per evaluation (fixed windows)
  int64_t checkpoint_every = 0;  // checkpoint every K steps; the last step always checkpoints
  float distill = 0.0f;          // lambda of lambda * MSE(teacher) + (1 - lambda) * CE
  uint64_t seed = 0;
};

// What one step or evaluation reports.
struct StepRecord {
  int64_t step = 0;        // 1-based number of the step just taken
  double loss = 0.0;       // mean training loss of its micro-batches
  double grad_norm = 0.0;  // before clipping
  float lr = 0.0f;
  double seconds = 0.0;  // wall time of the step
  bool has_eval = false;
  double val_loss = 0.0;
};

class Trainer {
 public:
  // model (and its attention) and teacher (may be null; required when distill > 0; only its forward runs, with
  // the training kernels, so distillation stays bit-reproducible) must outlive the trainer. While the trainer
  // lives, the model's parameters and gradients change only through it: its AdamW pass leaves the gradients at
  // zero and (bf16) the next step's rounded weights, so the next step does not sweep them again.
  Trainer(TrainModel& model, const TrainOptions& options, TrainModel* teacher);

  // Restores optimizer moments, step and data RNG from a checkpoint folder written by save_checkpoint (the
  // weights are the model's: load them from the same folder). Throws Error("train", ...) on a mismatch.
  void load_state(const std::string& checkpoint_dir);
  // Runs until options.steps; calls on_step after every step (and its evaluation, if any).
  void run(const std::function<void(const StepRecord&)>& on_step);
  // One optimizer step on the next random batch(es). Under mpirun (core/dist.h) every rank draws the same global
  // batch and computes the gradient of its share of each micro-batch; gradients and loss are all-reduced in rank
  // order, so every rank takes the same step and a run is the same bits for the same N (docs/scaling.md).
  StepRecord step();
  // One optimizer step on given micro-batches: inputs/targets [accum, B, T] (the parity test's entry point).
  StepRecord step_on(const int32_t* inputs, const int32_t* targets);
  double evaluate();
  // Writes out_dir/ckpt-<step>/ (model folder + training_state.safetensors), then points out_dir/latest at it
  // and removes older checkpoints. Every file is written atomically; the pointer moves last.
  void save_checkpoint();
  int64_t steps_done() const { return step_; }
  const TrainOptions& options() const { return options_; }

  // Path of the newest complete checkpoint under out_dir, or "" when none.
  static std::string latest_checkpoint(const std::string& out_dir);

 private:
  void sample(int32_t* inputs, int32_t* targets, const TokenFile& file, Rng& rng) const;
  void save_checkpoint_files();
  std::vector<ParamSpan> spans();

  TrainModel& model_;
  TrainOptions options_;
  TrainModel* teacher_;  // forward only: the same deterministic kernels as the student
  std::unique_ptr<TokenFile> train_, val_;
  std::unique_ptr<AdamW> adam_;
  LrSchedule schedule_;
  Rng data_rng_;
  int64_t step_ = 0;
  std::vector<int32_t> inputs_, targets_;
  std::vector<uint16_t> weights_bf16_;  // --precision bf16: the model's weights rounded once per step
  bool grads_zero_ = false;             // the last AdamW pass zeroed every gradient
  bool shadow_current_ = false;         // ... and wrote weights_bf16_ from the values it wrote
};

}  // namespace gaincell
