// `gaincell adapt`: the paper's adaptation pipeline (paper-spec §3). Stage 2 (calibration of the nonlinear
// model's scalers to the target statistics recorded in the linear model, §3.3) runs here on the inference
// engine. Stages 1 (linear fine-tune recording targets) and 3 (nonlinear fine-tune with surrogate gradients)
// need the training engine and are refused until it is merged: run them with --linear-steps 0
// --finetune-steps 0 (see docs/adaptation.md).
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "analog/gaincell_attention.h"
#include "analog/hw_toml.h"
#include "calibration/calibration.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "core/error.h"
#include "core/file.h"
#include "core/rng.h"
#include "model/engine.h"

namespace gaincell::cli {
namespace {

struct AdaptOptions {
  ModelOptions model;
  std::string data_dir, out_dir;
  int linear_steps = 0;    // stage 1 (needs the training engine)
  int calib_batch = 4;     // sequences in the fixed calibration batch
  int context = 0;         // tokens per sequence (0 = min(n_positions, 256))
  int finetune_steps = 0;  // stage 3 (needs the training engine)
  double distill = 0.0;    // distillation weight of stages 1 and 3
  CalibrationConfig calib;
};

// Reads `count` ids at `begin` of a token file (docs: GCTOKENS header, version 1, u16/u32 ids). Minimal
// reader for the calibration batch until the training engine's TokenFile is merged.
std::vector<int32_t> read_token_window(const std::string& path, int64_t begin, int64_t count, int64_t* total,
                                       int32_t vocab) {
  std::string bytes = read_file(path);
  if (bytes.size() < 32 || std::memcmp(bytes.data(), "GCTOKENS", 8) != 0)
    fail_expected("tokens", "a token file with magic 'GCTOKENS'", "other bytes", path);
  uint32_t version, width;
  uint64_t n;
  std::memcpy(&version, &bytes[8], 4);
  std::memcpy(&width, &bytes[12], 4);
  std::memcpy(&n, &bytes[16], 8);
  if (version != 1 || (width != 2 && width != 4) || n > (bytes.size() - 32) / width || bytes.size() != 32 + n * width)
    fail_expected("tokens", "version 1, 2- or 4-byte ids and size 32 + count x width", "a bad header", path);
  *total = int64_t(n);
  std::vector<int32_t> ids;
  if (begin < 0 || begin + count > int64_t(n)) return ids;
  for (int64_t i = begin; i < begin + count; ++i) {
    uint32_t v = 0;
    std::memcpy(&v, &bytes[32 + size_t(i) * width], width);
    if (v >= uint32_t(vocab)) fail_expected("tokens", "ids < " + std::to_string(vocab), std::to_string(v), path);
    ids.push_back(int32_t(v));
  }
  return ids;
}

// One fixed batch of B random windows of T + 1 tokens: inputs [B, T] and next-token targets [B, T].
void draw_batch(std::vector<int32_t>& x, std::vector<int32_t>& y, const std::string& path, int B, int T, int32_t vocab,
                uint64_t seed) {
  int64_t total = 0;
  read_token_window(path, 0, 0, &total, vocab);
  if (total < T + 1)
    fail_expected("adapt", "a token file of at least " + std::to_string(T + 1) + " ids", std::to_string(total), path);
  Rng rng(seed);
  x.clear();
  y.clear();
  for (int b = 0; b < B; ++b) {
    int64_t begin = int64_t(rng.uniform() * double(total - T));
    std::vector<int32_t> w = read_token_window(path, begin, T + 1, &total, vocab);
    x.insert(x.end(), w.begin(), w.end() - 1);
    y.insert(y.end(), w.begin() + 1, w.end());
  }
}

double mean_cross_entropy(const float* logits, const std::vector<int32_t>& y, int32_t V) {
  double nll = 0;
  for (size_t r = 0; r < y.size(); ++r) {
    const float* l = logits + r * size_t(V);
    double mx = l[0], s = 0;
    for (int32_t v = 1; v < V; ++v) mx = std::max(mx, double(l[v]));
    for (int32_t v = 0; v < V; ++v) s += std::exp(double(l[v]) - mx);
    nll += std::log(s) + mx - l[y[r]];
  }
  return nll / double(y.size());
}

// Scalers of every layer as calibration inputs, targets from the model file (§3.3 steps 1-2: a = 1, b = 0).
std::vector<ScalerCalibration> calibration_inputs(GainCellAttention& att) {
  GainCellTrainState& ts = att.train_state();
  std::vector<ScalerCalibration> s;
  for (int l = 0; l < ts.n_layer(); ++l)
    for (int k = 0; k < kNumScalers; ++k) {
      ScalerCalibration c;
      c.name = "h." + std::to_string(l) + ".attn.gaincell." + scaler_name(k);
      c.scale.assign(ts.n_head(), 1.0f);
      c.shift.assign(ts.n_head(), 0.0f);
      c.target_mean = ts.target(l, k).mean;
      c.target_std = ts.target(l, k).std;
      s.push_back(std::move(c));
    }
  return s;
}

void apply_scalers(GainCellAttention& att, const std::vector<ScalerCalibration>& s) {
  for (size_t i = 0; i < s.size(); ++i) {
    LayerScalers& ls = att.model().scalers(int(i / kNumScalers));
    std::copy(s[i].scale.begin(), s[i].scale.end(), scaler_scale(ls, int(i % kNumScalers)));
    std::copy(s[i].shift.begin(), s[i].shift.end(), scaler_shift(ls, int(i % kNumScalers)));
  }
}

nlohmann::ordered_json step_json(const CalibrationStep& st) {
  return {{"iteration", st.iteration},          {"alpha", st.alpha},       {"loss", st.loss},
          {"criteria_met", st.criteria_met},    {"criteria", st.criteria}, {"max_std_error", st.max_std_error},
          {"max_mean_error", st.max_mean_error}};
}

// The output folder: weights with the scalers and targets as extra tensors, tokenizer files, hardware.toml
// and adapt_summary.json.
void save_output(Gpt2& m, GainCellAttention& att, const AdaptOptions& o, const nlohmann::ordered_json& j) {
  std::vector<ParamView> views = att.parameters(), bufs = att.buffers();
  views.insert(views.end(), bufs.begin(), bufs.end());
  for (const ParamView& v : views) m.set_extra(v.name, v.shape, v.value);
  m.save(o.out_dir);
  namespace fs = std::filesystem;
  for (const char* f : {"encoder.json", "vocab.bpe"}) {
    fs::path src = fs::path(o.model.model_dir) / f, dst = fs::path(o.out_dir) / f;
    if (fs::exists(src) && !fs::exists(dst)) write_file_atomic(dst.string(), read_file(src.string()));
  }
  save_hardware_toml((fs::path(o.out_dir) / "hardware.toml").string(), att.model().hw());
  write_file_atomic((fs::path(o.out_dir) / "adapt_summary.json").string(), j.dump(2) + "\n");
}

void run_adapt(AdaptOptions& o) {
  if (o.linear_steps > 0 || o.finetune_steps > 0)
    fail_expected("adapt", "--linear-steps 0 --finetune-steps 0 (stages 1 and 3 need the training engine)",
                  std::to_string(o.linear_steps) + ", " + std::to_string(o.finetune_steps));
  o.model.attention = "gaincell";
  LoadedModel lm = load_model(o.model);
  auto* att = dynamic_cast<GainCellAttention*>(lm.attention.get());
  const Gpt2Config& c = lm.model->config();
  if (!lm.model->find_extra("h.0.attn.gaincell.q.target_std", c.n_head))
    fail_expected("adapt", "target statistics h.{L}.attn.gaincell.*.target_{mean,std} in the model (stage 1)", "none",
                  o.model.model_dir);
  const int T = o.context ? o.context : std::min(c.n_positions, 256);
  if (T > c.n_positions) fail_expected("adapt", "--context <= n_positions", std::to_string(T));
  std::vector<int32_t> x, y;
  draw_batch(x, y, o.data_dir + "/train.bin", o.calib_batch, T, c.vocab_size, o.model.seed);
  Gpt2Engine engine(*lm.model, *att);
  std::vector<ScalerCalibration> scalers = calibration_inputs(*att);
  att->train_state().set_capture(true);
  Progress progress("calibration", o.calib.max_iterations, "it");
  auto measure = [&](std::vector<ScalerCalibration>& s, int it) {
    apply_scalers(*att, s);
    double loss = mean_cross_entropy(engine.forward(x.data(), o.calib_batch, T), y, c.vocab_size);
    for (size_t i = 0; i < s.size(); ++i) {
      const ScalerStats& st = att->train_state().current(int(i / kNumScalers), int(i % kNumScalers));
      s[i].mean = st.mean;
      s[i].std = st.std;
    }
    progress.update(it + 1, "loss " + std::to_string(loss));
    return loss;
  };
  CalibrationResult r = run_calibration(scalers, measure, o.calib);
  double final_loss = r.converged ? r.trace.back().loss : measure(scalers, r.iterations);
  att->train_state().set_capture(false);
  progress.finish(r.converged ? "converged" : "not converged");
  nlohmann::ordered_json j, trace = nlohmann::json::array();
  for (const CalibrationStep& st : r.trace) trace.push_back(step_json(st));
  j["model"] = o.model.model_dir;
  j["data"] = o.data_dir;
  j["stages"]["linear"] = {{"steps", 0}, {"skipped", true}};
  j["stages"]["calibration"] = {{"batch", o.calib_batch},
                                {"context", T},
                                {"converged", r.converged},
                                {"iterations", r.iterations},
                                {"loss_before", r.trace.front().loss},
                                {"loss_after", final_loss},
                                {"trace", trace}};
  j["stages"]["finetune"] = {{"steps", 0}, {"skipped", true}};
  save_output(*lm.model, *att, o, j);
  std::printf("calibration: %s after %d iterations, loss %.4f -> %.4f\n", r.converged ? "converged" : "not converged",
              r.iterations, r.trace.front().loss, final_loss);
}

}  // namespace

void register_adapt(CLI::App& app) {
  auto o = std::make_shared<AdaptOptions>();
  CLI::App* cmd = app.add_subcommand("adapt", "Adapt a model to the gain-cell hardware (paper-spec §3)");
  cmd->add_option("--model", o->model.model_dir, "Model folder (the linear model with target statistics)")->required();
  cmd->add_option("--data", o->data_dir, "Token folder with train.bin (gaincell data prepare)")->required();
  cmd->add_option("--out", o->out_dir, "Output model folder")->required();
  cmd->add_option("--hw", o->model.hw_path, "Hardware TOML (default: paper values)");
  cmd->add_option("--linear-steps", o->linear_steps, "Stage 1 steps (needs the training engine)")
      ->check(CLI::Range(0, 1 << 30));
  cmd->add_option("--calib-batch", o->calib_batch, "Sequences in the calibration batch")->check(CLI::Range(1, 4096));
  cmd->add_option("--context", o->context, "Tokens per sequence (default min(n_positions, 256))")
      ->check(CLI::Range(2, 1 << 20));
  cmd->add_option("--finetune-steps", o->finetune_steps, "Stage 3 steps (needs the training engine)")
      ->check(CLI::Range(0, 1 << 30));
  cmd->add_option("--distill", o->distill, "Distillation weight of stages 1 and 3")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--calib-iterations", o->calib.max_iterations, "Calibration iteration limit")
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--seed", o->model.seed, "Seed of the calibration batch");
  add_thread_options(cmd, o->model.threads);
  cmd->callback([o] { run_adapt(*o); });
}

}  // namespace gaincell::cli
