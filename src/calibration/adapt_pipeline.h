// The paper's adaptation pipeline (paper-spec §3) as a library call, shared by `gaincell adapt` and other
// commands: stage 1 fine-tunes gaincell-linear while recording the target statistics (§3.2), stage 2
// switches to gaincell, resets its scalers to a = 1, b = 0 and calibrates them on one fixed batch (§3.3),
// stage 3 fine-tunes gaincell through its surrogate backward (§2.7). Writes a model folder (weights,
// scalers, target statistics, hardware.toml, tokenizer files) plus adapt_summary.json. See docs/adaptation.md.
// Any family: the calibration statistics are per query head for q/out and per KV head for k/v
// (calibration/head_stats.h), measured in the inference engine; stages 1 and 3 train through TrainModel,
// which refuses the gain-cell backends on grouped-query models for now.
#pragma once
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "calibration/calibration.h"
#include "train/trainer.h"

namespace gaincell {

struct AdaptOptions {
  std::string model_dir;   // input model (GPT-2 or Llama family; with --linear-steps 0 it must hold targets)
  std::string data_dir;    // train.bin and val.bin (gaincell data prepare)
  std::string out_dir;     // output model folder
  std::string hw_path;     // hardware TOML; empty = paper values
  int linear_steps = 0;    // N1 (stage 1); 0 = the input model already is the linear model
  int finetune_steps = 0;  // N2 (stage 3)
  int calib_batch = 4;     // sequences of the fixed calibration batch (and of the logged validation batch)
  int batch = 4;           // sequences per micro-batch of stages 1 and 3 (and per evaluation batch)
  int accum = 1;           // micro-batches per optimizer step
  int context = 0;         // tokens per sequence in every stage; 0 = min(n_positions, 256)
  float lr = 6e-4f;        // peak learning rate (paper: 6e-4, nearly constant over the short runs)
  float min_lr = 6e-5f;
  int64_t warmup = 0;            // linear warm-up steps of each training stage
  int64_t decay_steps = 600000;  // cosine length (paper: 600 000, so the LR stays ~ lr)
  double distill = 0.0;          // lambda of lambda * MSE(teacher logits) + (1 - lambda) * CE, stages 1 and 3
  std::string teacher_dir;       // teacher (softmax); empty with distill > 0 = the input model
  uint64_t seed = 0;             // data windows, calibration batch, hardware noise
  int64_t eval_every = 0;        // evaluate on val.bin every N steps within a stage (0: start and end only)
  int eval_batches = 4;          // val batches per evaluation (fixed windows, the same in every stage)
  CalibrationConfig calib;
};

struct AdaptResult {
  nlohmann::ordered_json summary;  // what adapt_summary.json holds
  bool converged = false;          // calibration met every criterion
  int calib_iterations = 0;
  std::vector<std::string> warnings;  // also in summary["warnings"]
};

// on_step(stage, record) after every optimizer step of "linear" and "finetune" and after every calibration
// iteration ("calibration": step = iteration + 1, loss = calibration-batch loss, val_loss = validation batch).
// Throws Error on bad input (missing data, no target statistics with linear_steps = 0, ...). Deterministic
// for a seed and independent of the thread count (the training engine's guarantee). Under mpirun (core/dist.h)
// stages 1 and 3 are data parallel (Trainer: gradients and the recorded target statistics all-reduced in rank
// order), stage 2 calibrates on its one fixed batch on every rank alike, and rank 0 writes the output folder.
AdaptResult run_adaptation(const AdaptOptions& o,
                           const std::function<void(const std::string& stage, const StepRecord&)>& on_step = {});

}  // namespace gaincell
