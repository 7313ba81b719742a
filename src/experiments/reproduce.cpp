// The run of `gaincell reproduce`: every phase fills one results JSON; reproduce_report.cpp renders it.
#include "experiments/reproduce.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <memory>
#include <sstream>

#include "analog/hw_config.h"
#include "analog/hw_toml.h"
#include "analog/register.h"
#include "calibration/adapt_pipeline.h"
#include "core/error.h"
#include "core/file.h"
#include "core/parallel.h"
#include "cost/report.h"
#include "eval/perplexity.h"
#include "experiments/reproduce_report.h"
#include "experiments/text_format.h"
#include "io/provenance.h"
#include "io/token_file.h"
#include "kernels/threads.h"
#include "model/config.h"
#include "model/engine.h"
#include "model/model.h"
#include "model/sampler.h"
#include "tokenizer/tokenizer.h"
#include "train/train_model.h"
#include "train/trainer.h"

namespace gaincell {
namespace {

using Json = nlohmann::ordered_json;

double now_s() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

// The hooks with no-op defaults, and a note that also formats.
struct Report {
  const ReproduceHooks& hooks;
  void note(const std::string& line) const {
    if (hooks.note) hooks.note(line);
  }
  void progress(const std::string& stage, int64_t done, int64_t total) const {
    if (hooks.progress) hooks.progress(stage, done, total);
  }
};

// Token period (s) of the latency model for a model on a hardware configuration (its own window).
double token_period(const ModelConfig& c, const HardwareConfig& hw) {
  return token_period_s(token_cost({c.n_layer, c.n_head, c.head_dim()}, hw, hw.array.window_tokens, CostTable{}));
}

HardwareConfig hardware_at(const std::string& hw_path) {
  return hw_path.empty() ? HardwareConfig{} : load_hardware_toml(hw_path);
}

// A model with one attention backend (and the engine over them).
struct Runner {
  std::unique_ptr<Model> model;
  std::unique_ptr<Attention> attention;
  std::unique_ptr<Engine> engine;
};

Runner make_runner(const std::string& model_dir, const std::string& attention, const std::string& hw_path,
                   uint64_t seed, double retention_s = 0) {
  Runner r;
  r.model = std::make_unique<Model>(Model::load(model_dir));
  AttentionOptions a;
  a.hw_path = hw_path;
  a.seed = seed;
  if (retention_s > 0) {
    a.retention_tau_s = retention_s;
    a.token_period_s = token_period(r.model->config(), hardware_at(hw_path));
  }
  r.attention = create_attention(attention, *r.model, a);
  r.engine = std::make_unique<Engine>(*r.model, *r.attention);
  return r;
}

Json loss_json(double loss) {
  return Json{{"val_loss", loss}, {"perplexity", std::exp(loss)}};
}

// The corpus as token ids, split by profile.train_fraction (train first), written as token files under dir.
// Returns the held-out ids.
std::vector<int32_t> prepare_data(const ReproduceProfile& p, const std::string& dir, Json& out) {
  const std::string text = read_file(p.text_path);
  std::vector<int32_t> ids(text.begin(), text.end());  // tokenization "bytes" (validate() admits no other yet)
  for (auto& v : ids) v &= 0xff;
  const auto n = static_cast<int64_t>(ids.size());
  const auto n_train = static_cast<int64_t>(static_cast<double>(n) * p.train_fraction);
  if (n_train < 1024 || n - n_train < 1024)
    fail_expected("reproduce", "a corpus with at least 1024 tokens on each side of the split",
                  std::to_string(n) + " tokens (" + std::to_string(n_train) + " train)", "in '" + p.text_path + "'");
  make_dirs(dir);
  std::vector<int32_t> train(ids.begin(), ids.begin() + n_train), val(ids.begin() + n_train, ids.end());
  write_token_file(dir + "/train.bin", train, 256);
  write_token_file(dir + "/val.bin", val, 256);
  const double pct = 100.0 * p.train_fraction;
  out = {{"name", p.data_label},
         {"text", p.text_path},
         {"tokenization", p.tokenization},
         {"bytes", n},
         {"train_tokens", n_train},
         {"val_tokens", n - n_train},
         {"split", "first " + fmt("%g", pct) + "% train, last " + fmt("%g", 100.0 - pct) + "% val (nanoGPT)"}};
  return val;
}

// Pre-training loss curve of the model (its train_log.jsonl, when present).
Json pretrain_curve(const std::string& model_dir) {
  Json curve = Json::array();
  const std::string path = model_dir + "/train_log.jsonl";
  if (!file_exists(path)) return curve;
  std::istringstream in(read_file(path));
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.value("type", "") == "step") curve.push_back({j["step"], j["loss"]});
  }
  return curve;
}

// The control: a gain-cell model from GPT-2 initialisation, trained for `steps` steps.
Json run_control(const ReproduceBudget& b, const ModelConfig& cfg, const std::string& data_dir, const std::string& work,
                 int64_t steps, uint64_t seed, Json& curve, const Report& report) {
  Model init = Model::random(cfg, seed);
  AttentionOptions opts;
  opts.seed = seed;
  std::unique_ptr<Attention> att = create_attention("gaincell", init, opts);
  TrainModel model(init, *att);
  std::filesystem::remove_all(work);
  TrainOptions t;
  t.data_dir = data_dir;
  t.out_dir = work;
  t.steps = steps;
  t.batch = b.batch_sequences;
  t.context = b.context_tokens;
  t.lr = b.lr;
  t.min_lr = b.min_lr;
  t.decay_steps = b.lr_decay_steps;
  t.eval_batches = 0;
  t.seed = seed;
  Trainer trainer(model, t, nullptr);
  trainer.run([&](const StepRecord& r) {
    curve.push_back({r.step, r.loss});
    report.progress("control", r.step, steps);
  });
  report.progress("control", -1, steps);
  model.snapshot().save(work + "/model");
  Tokenizer::write_bytes_tokenizer(work + "/model");
  return Json{{"attention", "gaincell"}, {"init", "GPT-2 initialisation (scratch)"}, {"steps", steps}};
}

// Stages 1-3 of the paper (run_adaptation) from the pre-trained model into out_model.
Json run_adapt(const ReproduceBudget& b, const std::string& model_dir, const std::string& data_dir,
               const std::string& out_model, uint64_t seed, Json& curves, Json& trace, const Report& report) {
  AdaptOptions o;
  o.model_dir = model_dir;
  o.data_dir = data_dir;
  o.out_dir = out_model;
  o.linear_steps = b.linear_steps;
  o.finetune_steps = b.finetune_steps;
  o.calib_batch = b.calib_batch_sequences;
  o.batch = b.batch_sequences;
  o.context = b.context_tokens;
  o.lr = b.lr;
  o.min_lr = b.min_lr;
  o.decay_steps = b.lr_decay_steps;
  o.seed = seed;
  o.eval_batches = b.adapt_eval_batches;
  o.calib.max_iterations = b.calib_iterations;
  const int64_t total = int64_t{b.linear_steps} + b.calib_iterations + b.finetune_steps;
  int64_t done = 0;
  AdaptResult res = run_adaptation(o, [&](const std::string& stage, const StepRecord& r) {
    if (stage == "calibration")
      trace.push_back({{"iteration", r.step}, {"loss", r.loss}, {"val_loss", r.has_eval ? r.val_loss : r.loss}});
    else
      curves[stage].push_back({r.step, r.loss});
    report.progress("adapt", ++done, total);
  });
  report.progress("adapt", -1, total);
  Tokenizer::write_bytes_tokenizer(out_model);
  return Json{{"pipeline", "run_adaptation"},
              {"linear_steps", b.linear_steps},
              {"calibration_iterations", res.calib_iterations},
              {"calibration_converged", res.converged},
              {"finetune_steps", b.finetune_steps},
              {"summary", res.summary}};
}

std::string adapted_hw(const std::string& model_dir) {
  const std::string p = model_dir + "/hardware.toml";
  return file_exists(p) ? p : "";
}

// n_new tokens after `prompt` through the streaming decoder (decode_prefill, then decode_step), sampled at
// `temperature` by the library's Sampler with a fixed seed. Returns the continuation only.
std::string stream_generate(Engine& engine, const Tokenizer& tok, const std::string& prompt, int n_new,
                            double temperature, uint64_t seed) {
  std::vector<int32_t> ids = tok.encode(prompt);
  if (ids.empty()) ids.push_back(tok.start_id());
  const ModelConfig& c = engine.model().config();
  n_new = std::max(0, std::min<int>(n_new, c.n_positions - static_cast<int>(ids.size())));
  engine.decode_begin(1, static_cast<int64_t>(ids.size()) + n_new);
  const float* logits = engine.decode_prefill(ids.data(), static_cast<int>(ids.size()));
  SamplerConfig sc;
  sc.temperature = static_cast<float>(temperature);
  Sampler sampler(sc, seed);
  std::vector<int32_t> out;
  for (int i = 0; i < n_new; ++i) {
    int32_t next = sampler.sample(logits, c.vocab_size);
    out.push_back(next);
    if (i + 1 < n_new) logits = engine.decode_step(&next);
  }
  return tok.decode(out);
}

// One cost row: a model at the paper's hardware configuration against GPUs.
Json cost_row(const std::string& name, const ModelConfig& c) {
  HardwareConfig hw;
  const int window = hw.array.window_tokens;
  CostSummary s = summarize(name, {c.n_layer, c.n_head, c.head_dim()}, c.vocab_size, hw, window, CostTable{},
                            parse_gpu_list("h100,a100,rtx4090,jetson-nano"), 0.0, GpuBaseline::kMeasuredScaled);
  const EnergyBreakdown& e = s.token.per_model;
  Json gpus = Json::array();
  for (const GpuComparison& g : s.gpus)
    gpus.push_back({{"gpu", g.gpu.label},
                    {"baseline", g.baseline},
                    {"energy_ratio", g.energy_ratio},
                    {"latency_ratio", g.latency_ratio},
                    {"end_to_end_energy_gain", g.end_to_end_energy_gain},
                    {"end_to_end_latency_gain", g.end_to_end_latency_gain}});
  return Json{
      {"model", name},
      {"n_layer", c.n_layer},
      {"n_head", c.n_head},
      {"head_dim", c.head_dim()},
      {"window", window},
      {"energy_pj_per_token",
       {{"qk", e.qk_pj}, {"sv", e.sv_pj}, {"digital", e.digital_pj}, {"dac", e.dac_pj}, {"total", e.total_pj()}}},
      {"latency_ns_per_token", s.token.model_latency_ns},
      {"area_mm2", s.area.model_mm2()},
      {"gpus", gpus},
      {"detail", summary_json(s)}};
}

std::string preset_label(const std::string& preset) {
  if (preset == "gpt2") return "GPT-2 124M";
  if (preset == "gpt2-medium") return "GPT-2 medium";
  if (preset == "gpt2-large") return "GPT-2 large";
  if (preset == "gpt2-xl") return "GPT-2 XL";
  return preset;
}

// Loss of the adapted model against device-to-device gain mismatch and against the cell retention time.
Json robustness(const ReproduceBudget& b, const std::string& model_dir, const std::string& work,
                const std::vector<int32_t>& val, uint64_t seed, const Report& report) {
  const std::string hw_path = adapted_hw(model_dir);
  const HardwareConfig base = hardware_at(hw_path);
  Json sigma = Json::array(), retention = Json::array();
  for (double s : b.cell_gain_sigmas) {
    HardwareConfig hw = base;
    hw.noise.cell_gain_sigma = s;
    const std::string path = work + "/hw_sigma_" + std::to_string(sigma.size()) + ".toml";
    save_hardware_toml(path, hw);
    Runner r = make_runner(model_dir, "gaincell", path, seed);
    const double loss = fixed_windows_nll(*r.engine, val, b.context_tokens, b.eval_windows);
    report.note("cell gain sigma " + fmt("%g", s) + " -> loss " + fmt("%.4f", loss));
    sigma.push_back({{"cell_gain_sigma", s}, {"val_loss", loss}});
  }
  for (double t : b.retention_s) {
    Runner r = make_runner(model_dir, "gaincell", hw_path, seed, t);
    const double period = token_period(r.model->config(), base);
    const double loss = fixed_windows_nll(*r.engine, val, b.context_tokens, b.eval_windows);
    report.note("retention " + fmt("%g", t) + " s -> loss " + fmt("%.4f", loss));
    retention.push_back({{"retention_s", t}, {"decay_per_token", decay_per_token(period, t)}, {"val_loss", loss}});
  }
  return Json{{"cell_gain_sigma", sigma}, {"retention", retention}};
}

void check(const std::vector<std::string>& problems, const std::string& what) {
  if (problems.empty()) return;
  std::string all;
  for (const std::string& p : problems) all += (all.empty() ? "" : "; ") + p;
  fail("reproduce", what + ": " + all);
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
    p.push_back("lr, min_lr: expected 0 <= min_lr <= lr, lr > 0, got " + fmt("%g", lr) + ", " + fmt("%g", min_lr));
  if (!(temperature > 0) || !std::isfinite(temperature))
    p.push_back("temperature: expected > 0, got " + fmt("%g", temperature));
  for (double s : cell_gain_sigmas)
    if (!(s >= 0) || !std::isfinite(s)) p.push_back("cell_gain_sigmas: expected values >= 0, got " + fmt("%g", s));
  for (double t : retention_s)
    if (!(t > 0) || !std::isfinite(t)) p.push_back("retention_s: expected values > 0, got " + fmt("%g", t));
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
  if (model_dir.empty()) p.push_back("model_dir: expected a model folder, got an empty path");
  if (text_path.empty()) p.push_back("text_path: expected a corpus file, got an empty path");
  if (tokenization != "bytes") p.push_back("tokenization: expected \"bytes\", got \"" + tokenization + "\"");
  if (!(train_fraction > 0 && train_fraction < 1))
    p.push_back("train_fraction: expected a value in (0, 1), got " + fmt("%g", train_fraction));
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

std::vector<std::string> ReproduceOptions::validate() const {
  std::vector<std::string> p;
  if (out_dir.empty()) p.push_back("out_dir: expected an output folder, got an empty path");
  return p;
}

Json run_reproduce(const ReproduceOptions& o, const ReproduceProfile& profile_in, const ReproduceHooks& hooks) {
  check(o.validate(), "options");
  ReproduceProfile profile = profile_in;
  if (!o.model_dir.empty()) profile.model_dir = o.model_dir;
  if (!o.text_path.empty()) profile.text_path = o.text_path;
  check(profile.validate(), "profile '" + profile.name + "'");
  const ReproduceBudget& b = profile.budget;
  const Report report{hooks};
  register_digital_attention();
  register_analog_attention();
  const double start = now_s();
  const std::string work = o.out_dir + "/work";
  make_dirs(work);
  Json r;
  r["profile"] = o.quick ? "quick" : "full";
  r["profile_name"] = profile.name;
  r["title"] = profile.title;
  r["seed"] = o.seed;
  // The last digits of every loss depend on the GEMM kernel OpenBLAS picks for the CPU (README, docs/reproduce.md).
  r["machine"] = {{"gemm", gemm_backend_name()}, {"threads", num_threads()}};
  const ModelConfig cfg = Model::load(profile.model_dir).config();
  if (cfg.vocab_size != 256)
    fail_expected("reproduce", "a byte-level model (vocab_size 256)", std::to_string(cfg.vocab_size),
                  profile.model_dir);
  r["model"] = {{"dir", profile.model_dir},       {"label", profile.model_label}, {"n_layer", cfg.n_layer},
                {"n_head", cfg.n_head},           {"n_embd", cfg.n_embd},         {"head_dim", cfg.head_dim()},
                {"n_positions", cfg.n_positions}, {"vocab_size", cfg.vocab_size}, {"parameters", cfg.num_parameters()}};
  Json data;
  const std::vector<int32_t> val = prepare_data(profile, work + "/data", data);
  r["data"] = data;
  r["eval"] = {{"context", b.context_tokens}, {"windows", b.eval_windows}, {"split", "val"}};

  // Wall seconds of each phase, so a user sees where the time goes ("data" includes loading the model).
  Json timings;
  double phase_start = start;
  auto lap = [&](const char* phase) {
    const double t = now_s();
    timings[phase] = t - phase_start;
    phase_start = t;
  };
  auto eval_loss = [&](Runner& run) { return fixed_windows_nll(*run.engine, val, b.context_tokens, b.eval_windows); };
  lap("data");
  Json curves;
  curves["pretrain"] = pretrain_curve(profile.model_dir);
  {
    Runner base = make_runner(profile.model_dir, "softmax", "", o.seed);
    r["baseline"] = loss_json(eval_loss(base));
    r["baseline"]["attention"] = "softmax";
    report.note("baseline loss " + fmt("%.4f", r["baseline"]["val_loss"].get<double>()));
    Runner direct = make_runner(profile.model_dir, "gaincell", "", o.seed);
    r["direct_mapping"] = loss_json(eval_loss(direct));
    r["direct_mapping"]["attention"] = "gaincell (baseline weights, scalers a = 1, b = 0)";
    report.note("direct mapping loss " + fmt("%.4f", r["direct_mapping"]["val_loss"].get<double>()));
  }
  lap("baseline_and_direct_mapping");
  const std::string adapted = work + "/adapted";
  Json trace = Json::array();
  r["adaptation"] = run_adapt(b, profile.model_dir, work + "/data", adapted, o.seed, curves, trace, report);
  Runner ad = make_runner(adapted, "gaincell", adapted_hw(adapted), o.seed);
  const double adapted_loss = eval_loss(ad);
  r["adaptation"]["val_loss"] = adapted_loss;
  r["adaptation"]["perplexity"] = std::exp(adapted_loss);
  report.note("adapted loss " + fmt("%.4f", adapted_loss));
  lap("adaptation");

  const int64_t budget = int64_t{b.linear_steps} + b.finetune_steps;
  curves["control"] = Json::array();
  r["control"] = run_control(b, cfg, work + "/data", work + "/control", budget, o.seed, curves["control"], report);
  {
    Runner ctl = make_runner(work + "/control/model", "gaincell", "", o.seed);
    const double loss = eval_loss(ctl);
    r["control"]["val_loss"] = loss;
    r["control"]["perplexity"] = std::exp(loss);
    report.note("control loss " + fmt("%.4f", loss));
  }
  lap("control");
  r["curves"] = curves;
  r["calibration_trace"] = trace;

  const Tokenizer tok = Tokenizer::bytes();
  Runner base = make_runner(profile.model_dir, "softmax", "", o.seed);
  r["generation"] = {
      {"prompt", profile.prompt},
      {"tokens", b.gen_tokens},
      {"temperature", b.temperature},
      {"decoder", "streaming (decode_prefill, decode_step)"},
      {"sampler", "model/sampler.h, top-k and top-p off"},
      {"baseline", stream_generate(*base.engine, tok, profile.prompt, b.gen_tokens, b.temperature, o.seed)},
      {"adapted", stream_generate(*ad.engine, tok, profile.prompt, b.gen_tokens, b.temperature, o.seed)}};
  lap("generation");

  r["cost"] = Json::array({cost_row("this model (" + profile.name + ")", cfg)});
  for (const std::string& preset : profile.cost_presets)
    r["cost"].push_back(cost_row(preset_label(preset), config_preset(preset)));
  lap("cost");
  r["robustness"] = robustness(b, adapted, work, val, o.seed, report);
  lap("robustness");
  r["timings_s"] = timings;
  r["figures"] = reproduce_figures();
  r["seconds"] = now_s() - start;
  const HardwareConfig hw = hardware_at(adapted_hw(adapted));
  RunProvenance prov;
  prov.gemm = gemm_backend_name();
  prov.threads = num_threads();
  prov.seeds = {{"seed", o.seed}, {"chip_seed", hw.noise.chip_seed}};
  prov.hardware = hardware_json(hw);
  r["provenance"] = provenance_json(prov);
  write_reproduce_outputs(o.out_dir, r);
  return r;
}

}  // namespace gaincell
