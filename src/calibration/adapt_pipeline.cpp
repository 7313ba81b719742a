#include "calibration/adapt_pipeline.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>

#include "analog/gaincell_attention.h"
#include "analog/hw_toml.h"
#include "calibration/head_stats.h"
#include "core/dist.h"
#include "core/error.h"
#include "core/file.h"
#include "core/rng.h"
#include "io/token_file.h"
#include "model/engine.h"
#include "model/gpt2.h"

namespace gaincell {
namespace {

using Json = nlohmann::ordered_json;
using OnStep = std::function<void(const std::string&, const StepRecord&)>;
constexpr uint64_t kCalibStream = 11, kCalibValStream = 12;

// find_tensor over the model's extras; with `defaults`, the gain-cell tensors (scalers, targets) are hidden
// so that the backend starts from its default scalers and zero targets (stage 1).
AttentionContext make_context(const Gpt2& m, const AdaptOptions& o, bool defaults) {
  AttentionOptions opts;
  opts.hw_path = o.hw_path;
  opts.seed = o.seed;
  opts.default_backend_tensors = defaults;
  return attention_context(m, opts);
}

void validate(const AdaptOptions& o, const Gpt2Config& c, int T) {
  if (o.linear_steps < 0 || o.finetune_steps < 0)
    fail_expected("adapt", "--linear-steps and --finetune-steps >= 0",
                  std::to_string(o.linear_steps) + ", " + std::to_string(o.finetune_steps));
  if (o.calib_batch < 1 || o.batch < 1 || o.accum < 1 || o.eval_batches < 1)
    fail_expected("adapt", "calib_batch, batch, accum and eval_batches >= 1",
                  std::to_string(o.calib_batch) + ", " + std::to_string(o.batch) + ", " + std::to_string(o.accum) +
                      ", " + std::to_string(o.eval_batches));
  if (T < 2 || T > c.n_positions)
    fail_expected("adapt", "2 <= --context <= n_positions = " + std::to_string(c.n_positions), std::to_string(T));
  if (!(o.distill >= 0.0 && o.distill <= 1.0)) fail_expected("adapt", "--distill in [0, 1]", std::to_string(o.distill));
  if (std::vector<std::string> e = o.calib.validate(); !e.empty()) fail("adapt", "calibration config: " + e.front());
}

TrainOptions train_options(const AdaptOptions& o, int steps, int T) {
  TrainOptions t;
  t.data_dir = o.data_dir;
  t.steps = std::max(steps, 1);  // the trainer wants >= 1 even when only its evaluation is used
  t.batch = o.batch;
  t.context = T;
  t.accum = o.accum;
  t.lr = o.lr;
  t.min_lr = std::min(o.min_lr, o.lr);
  t.warmup = o.warmup;
  t.decay_steps = o.decay_steps;
  t.eval_every = o.eval_every;
  t.eval_batches = o.eval_batches;
  t.distill = static_cast<float>(o.distill);
  t.seed = o.seed;
  return t;
}

// Stages 1 and 3: `steps` optimizer steps; targets are recorded (record != null) around the training
// forwards only, never during evaluation. Returns the stage's summary.
Json train_stage(const std::string& stage, TrainModel& model, TrainModel* teacher, GainCellTrainState* record,
                 const AdaptOptions& o, int steps, int T, const OnStep& on_step) {
  Trainer trainer(model, train_options(o, steps, T), teacher);
  Json j, trace = Json::array();
  j["steps"] = steps;
  j["attention"] = model.attention().name();
  const double before = trainer.evaluate();
  double after = before;
  for (int s = 0; s < steps; ++s) {
    if (record) record->set_record_targets(true);
    StepRecord r = trainer.step();
    if (record) record->set_record_targets(false);
    if (r.step == steps || (o.eval_every > 0 && r.step % o.eval_every == 0)) {
      r.has_eval = true;
      r.val_loss = after = trainer.evaluate();
    }
    Json t = {{"step", r.step}, {"loss", r.loss}, {"grad_norm", r.grad_norm}, {"lr", r.lr}};
    if (r.has_eval) t["val_loss"] = r.val_loss;
    trace.push_back(std::move(t));
    if (on_step) on_step(stage, r);
  }
  j["val_loss_before"] = before;
  j["val_loss_after"] = after;
  j["trace"] = std::move(trace);
  return j;
}

// B random windows of T + 1 tokens of `path`: inputs [B, T] and next-token targets [B, T].
void draw_batch(std::vector<int32_t>& x, std::vector<int32_t>& y, const std::string& path, int B, int T, int64_t vocab,
                Rng rng) {
  TokenFile f = TokenFile::load(path, vocab);
  if (f.size() < T + 1)
    fail_expected("adapt", "a token file of at least " + std::to_string(T + 1) + " ids", std::to_string(f.size()),
                  "in '" + path + "'");
  x.resize(size_t(B) * T);
  y.resize(x.size());
  for (int b = 0; b < B; ++b) {
    const int64_t s = int64_t(rng.next_u64() % uint64_t(f.size() - T));
    f.copy(x.data() + int64_t{b} * T, s, T);
    f.copy(y.data() + int64_t{b} * T, s + 1, T);
  }
}

// Mean cross-entropy of logits [n, V] against targets [n], in double (log-sum-exp).
double mean_cross_entropy(const float* logits, const int32_t* y, int64_t n, int64_t V) {
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float* z = logits + i * V;
    const double mx = *std::max_element(z, z + V);
    double se = 0;
    for (int64_t j = 0; j < V; ++j) se += std::exp(double(z[j]) - mx);
    total += mx + std::log(se) - double(z[y[i]]);
  }
  return total / double(n);
}

// The backend's vector of scaler `kind` (scale or shift): [n_head], or [n_kv_head] for k and v when the
// backend stores them per KV head.
std::vector<float>& backend_scaler(LayerScalers& s, int kind, bool shift) {
  std::vector<float>* scale[kNumScalers] = {&s.q_scale, &s.k_scale, &s.v_scale, &s.out_scale};
  std::vector<float>* sh[kNumScalers] = {&s.q_shift, &s.k_shift, &s.v_shift, &s.out_shift};
  return shift ? *sh[kind] : *scale[kind];
}

// Scalers of every layer as calibration inputs (§3.3 step 2: a = 1, b = 0) in the calibration layout (q, out
// per query head; k, v per KV head: head_stats.h), targets from the backend.
std::vector<ScalerCalibration> calibration_inputs(GainCellAttention& att) {
  GainCellTrainState& ts = att.train_state();
  const AttentionShape& sh = att.shape();
  std::vector<ScalerCalibration> s;
  for (int l = 0; l < ts.n_layer(); ++l)
    for (int k = 0; k < kNumScalers; ++k) {
      ScalerCalibration c;
      c.name = "h." + std::to_string(l) + ".attn.gaincell." + scaler_name(k);
      const size_t n = size_t(scaler_heads(sh, k));
      c.scale.assign(n, 1.0f);
      c.shift.assign(n, 0.0f);
      c.mean.assign(n, 0.0f);
      c.std.assign(n, 0.0f);
      c.target_mean = to_calibration_layout(ts.target(l, k).mean, sh, k, c.name + ".target_mean");
      c.target_std = to_calibration_layout(ts.target(l, k).std, sh, k, c.name + ".target_std");
      s.push_back(std::move(c));
    }
  return s;
}

void apply_scalers(GainCellAttention& att, const std::vector<ScalerCalibration>& s) {
  for (size_t i = 0; i < s.size(); ++i) {
    LayerScalers& ls = att.model().scalers(int(i / kNumScalers));
    const int k = int(i % kNumScalers);
    std::vector<float>& a = backend_scaler(ls, k, false);
    std::vector<float>& b = backend_scaler(ls, k, true);
    to_backend_layout(a.data(), int64_t(a.size()), s[i].scale, att.shape(), k, s[i].name + ".scale");
    to_backend_layout(b.data(), int64_t(b.size()), s[i].shift, att.shape(), k, s[i].name + ".shift");
  }
}

// Max |std - target_std| and |mean - target_mean| over every scaler and head (the statistics mismatch).
Json mismatch(const std::vector<ScalerCalibration>& s) {
  double ds = 0, dm = 0;
  for (const ScalerCalibration& c : s)
    for (size_t h = 0; h < c.std.size(); ++h) {
      ds = std::max(ds, std::fabs(double(c.std[h]) - c.target_std[h]));
      dm = std::max(dm, std::fabs(double(c.mean[h]) - c.target_mean[h]));
    }
  return {{"max_std_error", ds}, {"max_mean_error", dm}};
}

// Stage 2 on one fixed training batch; every iteration also logs the loss of one fixed validation batch.
// The forwards run in the inference engine (no training state, so grouped-query models calibrate too) with a
// StatsTap measuring the statistics on the views the model hands to the backend (rotary applied).
Json calibration_stage(const Gpt2& model, GainCellAttention& att, const AdaptOptions& o, int T, const OnStep& on_step,
                       AdaptResult& result) {
  const int B = o.calib_batch;
  const int64_t V = model.config().vocab_size;
  std::vector<int32_t> x, y, vx, vy;
  draw_batch(x, y, o.data_dir + "/train.bin", B, T, V, Rng(o.seed).split(kCalibStream));
  draw_batch(vx, vy, o.data_dir + "/val.bin", B, T, V, Rng(o.seed).split(kCalibValStream));
  std::vector<ScalerCalibration> scalers = calibration_inputs(att);
  std::vector<double> val_losses;
  StatsTap tap(att);
  Engine engine(model, tap);
  // Under mpirun rank r of N forwards sequences [B r / N, B (r + 1) / N) of both batches; the statistics and
  // the losses are combined over the ranks, so every rank takes the same calibration steps (core/dist.h).
  const int ranks = dist_size(), rank = dist_rank();
  const int b0 = int(int64_t{B} * rank / ranks), Bm = int(int64_t{B} * (rank + 1) / ranks) - b0;
  const int64_t n = int64_t(Bm) * T, at = int64_t(b0) * T;
  // The mean cross-entropy of the batch: this rank's rows, then (under mpirun) summed over the ranks.
  auto batch_loss = [&](const std::vector<int32_t>& in, const std::vector<int32_t>& target) {
    double sum = Bm > 0 ? mean_cross_entropy(engine.forward(in.data() + at, Bm, T), target.data() + at, n, V) : 0.0;
    if (ranks == 1) return sum;
    sum *= double(n);
    dist_allreduce_sum(&sum, 1);
    return sum / (double(B) * T);
  };
  auto measure = [&](std::vector<ScalerCalibration>& s, int it) {
    apply_scalers(att, s);
    tap.capture(&s);
    StepRecord r;
    r.step = it + 1;
    r.loss = batch_loss(x, y);
    tap.reduce();
    tap.capture(nullptr);
    r.has_eval = true;
    r.val_loss = batch_loss(vx, vy);
    val_losses.push_back(r.val_loss);
    if (on_step) on_step("calibration", r);
    return r.loss;
  };
  CalibrationResult cr = run_calibration(scalers, measure, o.calib);
  Json before = {{"max_std_error", cr.trace.front().max_std_error},
                 {"max_mean_error", cr.trace.front().max_mean_error}};
  double loss_after = cr.trace.back().loss;
  if (!cr.converged) loss_after = measure(scalers, cr.iterations);  // the statistics of the final scalers
  apply_scalers(att, scalers);
  Json trace = Json::array();
  for (const CalibrationStep& st : cr.trace)
    trace.push_back({{"iteration", st.iteration},
                     {"alpha", st.alpha},
                     {"loss", st.loss},
                     {"val_loss", val_losses[size_t(st.iteration)]},
                     {"criteria_met", st.criteria_met},
                     {"criteria", st.criteria},
                     {"max_std_error", st.max_std_error},
                     {"max_mean_error", st.max_mean_error}});
  result.converged = cr.converged;
  result.calib_iterations = cr.iterations;
  return {{"batch", B},
          {"context", T},
          {"converged", cr.converged},
          {"iterations", cr.iterations},
          {"loss_before", cr.trace.front().loss},
          {"loss_after", loss_after},
          {"val_loss_before", val_losses.front()},
          {"val_loss_after", val_losses.back()},
          {"mismatch_before", before},
          {"mismatch_after", mismatch(scalers)},
          {"trace", trace}};
}

// The distillation teacher (softmax attention, forward only) or null.
struct Teacher {
  std::unique_ptr<Attention> attention;
  std::unique_ptr<TrainModel> model;
};
Teacher make_teacher(const AdaptOptions& o, const Gpt2& input) {
  Teacher t;
  if (o.distill <= 0.0) return t;
  register_digital_attention();
  std::unique_ptr<Gpt2> loaded;
  if (!o.teacher_dir.empty()) loaded = std::make_unique<Gpt2>(Gpt2::load(o.teacher_dir));
  const Gpt2& w = loaded ? *loaded : input;
  AttentionContext ctx = make_context(w, o, false);
  t.attention = attention_registry().create("softmax", ctx);
  t.model = std::make_unique<TrainModel>(w, *t.attention);
  return t;
}

void write_output(const Gpt2& m, GainCellAttention& att, const AdaptOptions& o, const Json& summary) {
  namespace fs = std::filesystem;
  // Under mpirun every rank holds the same model: rank 0 writes it, the others wait until it is complete.
  if (!dist_root()) return dist_barrier();
  m.save(o.out_dir);
  for (const char* f : {"encoder.json", "vocab.bpe"}) {  // save() copies them from the source when it knows it
    fs::path src = fs::path(o.model_dir) / f, dst = fs::path(o.out_dir) / f;
    if (fs::exists(src) && !fs::exists(dst)) write_file_atomic(dst.string(), read_file(src.string()));
  }
  save_hardware_toml((fs::path(o.out_dir) / "hardware.toml").string(), att.model().hw());
  write_file_atomic((fs::path(o.out_dir) / "adapt_summary.json").string(), summary.dump(2) + "\n");
  dist_barrier();
}

}  // namespace

AdaptResult run_adaptation(const AdaptOptions& o, const OnStep& on_step) {
  AdaptResult result;
  Gpt2 input = Gpt2::load(o.model_dir);
  const Gpt2Config& c = input.config();
  const int T = o.context > 0 ? o.context : std::min(c.n_positions, 256);
  validate(o, c, T);
  if (o.linear_steps == 0 && !input.find_extra("h.0.attn.gaincell.q.target_std", c.n_head))
    fail_expected("adapt",
                  "target statistics h.{L}.attn.gaincell.*.target_{mean,std} in the model (stage 1), or "
                  "--linear-steps > 0",
                  "none", "in '" + o.model_dir + "'");
  if (o.linear_steps > 0 && o.linear_steps < 50) {
    char buf[200];
    std::snprintf(buf, sizeof buf,
                  "stage 1 ran %d < 50 steps: the target EMA starts at 0 and still holds %.3f of that start",
                  o.linear_steps, std::pow(0.9, o.linear_steps));
    result.warnings.push_back(buf);
  }
  Teacher teacher = make_teacher(o, input);
  Json stages;

  // Stage 1: gaincell-linear with default scalers and zero targets, recording targets while it trains.
  std::unique_ptr<GainCellAttention> linear;
  std::unique_ptr<TrainModel> stage1;
  if (o.linear_steps > 0) {
    AttentionContext ctx = make_context(input, o, true);
    linear = std::make_unique<GainCellAttention>(ctx, true);
    stage1 = std::make_unique<TrainModel>(input, *linear);
    stages["linear"] =
        train_stage("linear", *stage1, teacher.model.get(), &linear->train_state(), o, o.linear_steps, T, on_step);
  } else {
    stages["linear"] = {{"steps", 0}, {"skipped", true}};
  }

  // Stage 2: gaincell with the linear model's weights and targets, scalers reset and calibrated. `source` views
  // stage 1's parameters (snapshot: weights, scalers, targets), so stage 1 stays alive while it is used.
  Gpt2 source = stage1 ? stage1->snapshot() : std::move(input);
  std::unique_ptr<GainCellAttention> nonlinear;
  {
    AttentionContext ctx = make_context(source, o, false);
    nonlinear = std::make_unique<GainCellAttention>(ctx, false);
  }
  // Stage 3's model is built before calibrating (it copies the weights; the scalers it trains are the
  // backend's, which calibration updates in place), so that TrainModel's refusal of the gain-cell backends on
  // grouped-query models comes before any work.
  std::unique_ptr<TrainModel> stage3;
  if (o.finetune_steps > 0) stage3 = std::make_unique<TrainModel>(source, *nonlinear);
  stages["calibration"] = calibration_stage(source, *nonlinear, o, T, on_step, result);

  // Stage 3: fine-tune gaincell through its surrogate backward.
  if (stage3) {
    stages["finetune"] =
        train_stage("finetune", *stage3, teacher.model.get(), nullptr, o, o.finetune_steps, T, on_step);
  } else {
    stages["finetune"] = {{"steps", 0}, {"skipped", true}};
  }

  Json& j = result.summary;
  j["model"] = o.model_dir;
  j["data"] = o.data_dir;
  j["hardware"] = o.hw_path.empty() ? "paper defaults" : o.hw_path;
  j["seed"] = o.seed;
  j["context"] = T;
  j["batch"] = o.batch;
  j["lr"] = o.lr;
  j["distill"] = o.distill;
  if (o.distill > 0.0) j["teacher"] = o.teacher_dir.empty() ? o.model_dir : o.teacher_dir;
  j["stages"] = std::move(stages);
  j["warnings"] = result.warnings;
  if (stage3) {
    write_output(stage3->snapshot(), *nonlinear, o, j);
  } else {  // the calibrated scalers and the targets as extras, as TrainModel::snapshot() writes them
    for (const ParamView& p : nonlinear->parameters()) source.set_extra(p.name, p.shape, p.value);
    for (const ParamView& b : nonlinear->buffers()) source.set_extra(b.name, b.shape, b.value);
    write_output(source, *nonlinear, o, j);
  }
  return result;
}

}  // namespace gaincell
