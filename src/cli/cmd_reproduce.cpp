// `gaincell reproduce [--quick] [--out DIR]`: the paper's story on the bundled byte-level Shakespeare model:
// softmax baseline, direct mapping onto gain cells, the adaptation pipeline, a gain-cell model trained from
// scratch with the same step budget, generated text, cost against GPUs and a robustness sweep. Writes
// DIR/results.json, DIR/report.md and DIR/report.html (docs/reproduce.md).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <sstream>

#include "analog/hw_config.h"
#include "analog/hw_toml.h"
#include "calibration/adapt_pipeline.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "cli/reproduce.h"
#include "core/error.h"
#include "core/file.h"
#include "core/parallel.h"
#include "cost/report.h"
#include "io/token_file.h"
#include "kernels/threads.h"
#include "model/config.h"
#include "train/trainer.h"

namespace gaincell::cli {
namespace {

using Json = nlohmann::ordered_json;

struct ReproduceOptions {
  std::string model_dir, text_path, out_dir = "reproduce";
  bool quick = false;
  uint64_t seed = 1;
  ThreadOptions threads;
};

// Step budgets and sizes of one profile.
struct Profile {
  int context = 128, eval_windows = 16, batch = 8;
  int linear_steps = 500, calib_iterations = 100, finetune_steps = 500;
  int gen_tokens = 96;
  std::vector<double> sigmas{0.0, 0.05, 0.1, 0.2, 0.3};
  std::vector<double> retention_s{5e-3, 1e-5, 3e-6, 1e-6, 3e-7};
};

Profile profile(bool quick) {
  Profile p;
  if (!quick) return p;
  p.eval_windows = 8;
  p.batch = 4;
  p.linear_steps = 50;
  p.calib_iterations = 25;
  p.finetune_steps = 30;
  p.gen_tokens = 64;
  p.sigmas = {0.0, 0.2};
  p.retention_s = {5e-3, 1e-6};
  return p;
}

// A model with one attention backend (and the engine over them).
struct Runner {
  std::unique_ptr<Gpt2> model;
  std::unique_ptr<Attention> attention;
  std::unique_ptr<Gpt2Engine> engine;
};

Runner make_runner(const std::string& model_dir, const std::string& attention, const std::string& hw_path,
                   uint64_t seed, double retention_s = 0) {
  Runner r;
  r.model = std::make_unique<Gpt2>(Gpt2::load(model_dir));
  ModelOptions mo;
  mo.hw_path = hw_path;
  mo.seed = seed;
  mo.retention_s = retention_s;
  r.attention = create_attention(attention, *r.model, attention_options(mo, r.model->config()));
  r.engine = std::make_unique<Gpt2Engine>(*r.model, *r.attention);
  return r;
}

Json loss_json(double loss) {
  return Json{{"val_loss", loss}, {"perplexity", std::exp(loss)}};
}

template <typename... A>
void note(const char* fmt, A... a) {
  std::fprintf(stderr, fmt, a...);
  std::fflush(stderr);
}

// Byte ids of the corpus, split nanoGPT style (first 90 % train), written as token files under dir.
std::vector<int32_t> prepare_data(const std::string& text_path, const std::string& dir, Json& out) {
  const std::string text = read_file(text_path);
  std::vector<int32_t> ids(text.begin(), text.end());
  for (auto& v : ids) v &= 0xff;
  const auto n = static_cast<int64_t>(ids.size());
  const auto n_train = static_cast<int64_t>(static_cast<double>(n) * 0.9);
  if (n_train < 1024 || n - n_train < 1024)
    fail_expected("reproduce", "a corpus of at least 10 KiB", std::to_string(n) + " bytes", "in '" + text_path + "'");
  make_dirs(dir);
  std::vector<int32_t> train(ids.begin(), ids.begin() + n_train), val(ids.begin() + n_train, ids.end());
  write_token_file(dir + "/train.bin", train, 256);
  write_token_file(dir + "/val.bin", val, 256);
  out = {{"text", text_path},
         {"bytes", n},
         {"train_tokens", n_train},
         {"val_tokens", n - n_train},
         {"split", "first 90% train, last 10% val (nanoGPT)"}};
  return val;
}

// Pre-training loss curve of the bundled model (its train_log.jsonl, when present).
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

TrainOptions train_options(const Profile& p, const std::string& data_dir, const std::string& out_dir, int64_t steps,
                           uint64_t seed) {
  TrainOptions t;
  t.data_dir = data_dir;
  t.out_dir = out_dir;
  t.steps = steps;
  t.batch = p.batch;
  t.context = p.context;
  t.lr = 1e-3f;
  t.min_lr = 1e-4f;
  t.decay_steps = 600000;  // the paper's nearly constant learning rate
  t.eval_batches = 0;
  t.seed = seed;
  return t;
}

// The control: a gain-cell model from GPT-2 initialisation, trained for `steps` steps.
Json run_control(const Profile& p, const Gpt2Config& cfg, const std::string& data_dir, const std::string& work,
                 int64_t steps, uint64_t seed, Json& curve) {
  Gpt2 init = Gpt2::random(cfg, seed);
  AttentionOptions opts;
  opts.seed = seed;
  std::unique_ptr<Attention> att = create_attention("gaincell", init, opts);
  TrainModel model(init, *att);
  std::filesystem::remove_all(work);
  Trainer trainer(model, train_options(p, data_dir, work, steps, seed), nullptr);
  Progress progress("control", steps, "steps");
  trainer.run([&](const StepRecord& r) {
    curve.push_back({r.step, r.loss});
    progress.update(r.step);
  });
  progress.finish();
  model.snapshot().save(work + "/model");
  Tokenizer::write_bytes_tokenizer(work + "/model");
  return Json{{"attention", "gaincell"}, {"init", "GPT-2 initialisation (scratch)"}, {"steps", steps}};
}

// Stages 1-3 of the paper (run_adaptation) from the bundled model into out_model.
Json run_adapt(const Profile& p, const std::string& model_dir, const std::string& data_dir,
               const std::string& out_model, uint64_t seed, Json& curves, Json& trace) {
  Json j;
  AdaptOptions o;
  o.model_dir = model_dir;
  o.data_dir = data_dir;
  o.out_dir = out_model;
  o.linear_steps = p.linear_steps;
  o.finetune_steps = p.finetune_steps;
  o.calib_batch = 4;
  o.batch = p.batch;
  o.context = p.context;
  o.lr = 1e-3f;
  o.min_lr = 1e-4f;
  o.seed = seed;
  o.eval_batches = 2;
  o.calib.max_iterations = p.calib_iterations;
  Progress progress("adapt", p.linear_steps + p.calib_iterations + p.finetune_steps, "steps");
  int64_t done = 0;
  AdaptResult res = run_adaptation(o, [&](const std::string& stage, const StepRecord& r) {
    if (stage == "calibration")
      trace.push_back({{"iteration", r.step}, {"loss", r.loss}, {"val_loss", r.has_eval ? r.val_loss : r.loss}});
    else
      curves[stage].push_back({r.step, r.loss});
    progress.update(++done, stage);
  });
  progress.finish();
  j = {{"pipeline", "run_adaptation"},
       {"linear_steps", p.linear_steps},
       {"calibration_iterations", res.calib_iterations},
       {"calibration_converged", res.converged},
       {"finetune_steps", p.finetune_steps},
       {"summary", res.summary}};
  Tokenizer::write_bytes_tokenizer(out_model);
  return j;
}

std::string adapted_hw(const std::string& model_dir) {
  const std::string p = model_dir + "/hardware.toml";
  return file_exists(p) ? p : "";
}

// One cost row: this model or a GPT-2 preset at the paper's hardware configuration.
Json cost_row(const std::string& name, const Gpt2Config& c) {
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

Json robustness(const Profile& p, const std::string& model_dir, const std::string& work,
                const std::vector<int32_t>& val, uint64_t seed) {
  const std::string hw_path = adapted_hw(model_dir);
  HardwareConfig base = hw_path.empty() ? HardwareConfig{} : load_hardware_toml(hw_path);
  Json sigma = Json::array(), retention = Json::array();
  for (double s : p.sigmas) {
    HardwareConfig hw = base;
    hw.noise.cell_gain_sigma = s;
    const std::string path = work + "/hw_sigma_" + std::to_string(sigma.size()) + ".toml";
    save_hardware_toml(path, hw);
    Runner r = make_runner(model_dir, "gaincell", path, seed);
    const double loss = windows_loss(*r.engine, val, p.context, p.eval_windows);
    note("reproduce: cell gain sigma %g -> loss %.4f\n", s, loss);
    sigma.push_back({{"cell_gain_sigma", s}, {"val_loss", loss}});
  }
  for (double t : p.retention_s) {
    Runner r = make_runner(model_dir, "gaincell", hw_path, seed, t);
    ModelOptions mo;
    mo.hw_path = hw_path;
    const double period = model_token_period_s(mo, r.model->config());
    const double loss = windows_loss(*r.engine, val, p.context, p.eval_windows);
    note("reproduce: retention %g s -> loss %.4f\n", t, loss);
    retention.push_back({{"retention_s", t}, {"decay_per_token", decay_per_token(period, t)}, {"val_loss", loss}});
  }
  return Json{{"cell_gain_sigma", sigma}, {"retention", retention}};
}

void run_reproduce(const ReproduceOptions& o) {
  apply_thread_options(o.threads);
  register_all_attention();
  const double start = now_seconds();
  const Profile p = profile(o.quick);
  const std::string work = o.out_dir + "/work";
  make_dirs(work);
  Json r;
  r["profile"] = o.quick ? "quick" : "full";
  r["seed"] = o.seed;
  // The last digits of every loss depend on the GEMM kernel OpenBLAS picks for the CPU (README, docs/reproduce.md).
  r["machine"] = {{"gemm", gemm_backend_name()}, {"threads", num_threads()}};
  const Gpt2Config cfg = Gpt2::load(o.model_dir).config();
  if (cfg.vocab_size != 256)
    fail_expected("reproduce", "a byte-level model (vocab_size 256)", std::to_string(cfg.vocab_size), o.model_dir);
  r["model"] = {{"dir", o.model_dir},           {"n_layer", cfg.n_layer},
                {"n_head", cfg.n_head},         {"n_embd", cfg.n_embd},
                {"head_dim", cfg.head_dim()},   {"n_positions", cfg.n_positions},
                {"vocab_size", cfg.vocab_size}, {"parameters", cfg.num_parameters()}};
  Json data;
  const std::vector<int32_t> val = prepare_data(o.text_path, work + "/data", data);
  r["data"] = data;
  r["eval"] = {{"context", p.context}, {"windows", p.eval_windows}, {"split", "val"}};

  // Wall seconds of each phase, so a user sees where the time goes ("data" includes loading the model).
  Json timings;
  double phase_start = start;
  auto lap = [&](const char* phase) {
    const double t = now_seconds();
    timings[phase] = t - phase_start;
    phase_start = t;
  };
  lap("data");
  Json curves;
  curves["pretrain"] = pretrain_curve(o.model_dir);
  {
    Runner base = make_runner(o.model_dir, "softmax", "", o.seed);
    r["baseline"] = loss_json(windows_loss(*base.engine, val, p.context, p.eval_windows));
    r["baseline"]["attention"] = "softmax";
    note("reproduce: baseline loss %.4f\n", r["baseline"]["val_loss"].get<double>());
    Runner direct = make_runner(o.model_dir, "gaincell", "", o.seed);
    r["direct_mapping"] = loss_json(windows_loss(*direct.engine, val, p.context, p.eval_windows));
    r["direct_mapping"]["attention"] = "gaincell (baseline weights, scalers a = 1, b = 0)";
    note("reproduce: direct mapping loss %.4f\n", r["direct_mapping"]["val_loss"].get<double>());
  }
  lap("baseline_and_direct_mapping");
  const std::string adapted = work + "/adapted";
  Json trace = Json::array();
  r["adaptation"] = run_adapt(p, o.model_dir, work + "/data", adapted, o.seed, curves, trace);
  Runner ad = make_runner(adapted, "gaincell", adapted_hw(adapted), o.seed);
  const double adapted_loss = windows_loss(*ad.engine, val, p.context, p.eval_windows);
  r["adaptation"]["val_loss"] = adapted_loss;
  r["adaptation"]["perplexity"] = std::exp(adapted_loss);
  note("reproduce: adapted loss %.4f\n", adapted_loss);
  lap("adaptation");

  const int64_t budget = int64_t{p.linear_steps} + p.finetune_steps;
  curves["control"] = Json::array();
  r["control"] = run_control(p, cfg, work + "/data", work + "/control", budget, o.seed, curves["control"]);
  {
    Runner ctl = make_runner(work + "/control/model", "gaincell", "", o.seed);
    const double loss = windows_loss(*ctl.engine, val, p.context, p.eval_windows);
    r["control"]["val_loss"] = loss;
    r["control"]["perplexity"] = std::exp(loss);
    note("reproduce: control loss %.4f\n", loss);
  }
  lap("control");
  r["curves"] = curves;
  r["calibration_trace"] = trace;

  const std::string prompt = "ROMEO:\n";
  const Tokenizer tok = Tokenizer::bytes();
  Runner base = make_runner(o.model_dir, "softmax", "", o.seed);
  r["generation"] = {{"prompt", prompt},
                     {"tokens", p.gen_tokens},
                     {"temperature", 0.8},
                     {"decoder", "streaming (decode_prefill, decode_step)"},
                     {"baseline", stream_generate(*base.engine, tok, prompt, p.gen_tokens, 0.8f, o.seed)},
                     {"adapted", stream_generate(*ad.engine, tok, prompt, p.gen_tokens, 0.8f, o.seed)}};
  lap("generation");

  r["cost"] = Json::array({cost_row("this model (bundled)", cfg), cost_row("GPT-2 124M", config_preset("gpt2")),
                           cost_row("GPT-2 XL", config_preset("gpt2-xl"))});
  lap("cost");
  r["robustness"] = robustness(p, adapted, work, val, o.seed);
  lap("robustness");
  r["timings_s"] = timings;
  r["figures"] = reproduce_figures();
  r["seconds"] = now_seconds() - start;

  // Text sampled from a byte-level model need not be UTF-8 (an untrained one emits any byte): such bytes are
  // written as U+FFFD instead of failing the whole run at its last step.
  write_file_atomic(o.out_dir + "/results.json", r.dump(2, ' ', false, Json::error_handler_t::replace) + "\n");
  for (const std::string& f : reproduce_figures())
    write_file_atomic(o.out_dir + "/" + f + ".svg", reproduce_figure_svg(r, f));
  write_file_atomic(o.out_dir + "/report.md", reproduce_markdown(r));
  write_file_atomic(o.out_dir + "/report.html", reproduce_html(r));
  std::printf("wrote %s/report.md, report.html, results.json (%.0f s)\n", o.out_dir.c_str(),
              r["seconds"].get<double>());
}

}  // namespace

void register_reproduce(CLI::App& app) {
  auto o = std::make_shared<ReproduceOptions>();
  o->model_dir = data_dir() + "/../models/shakespeare-bytes";
  o->text_path = data_dir() + "/tinyshakespeare.txt";
  CLI::App* cmd = app.add_subcommand("reproduce", "Run the paper's story end to end and write a report");
  cmd->add_flag("--quick", o->quick, "Small step budgets (under a minute on two cores)");
  cmd->add_option("--out", o->out_dir, "Output folder (report.md, report.html, results.json)");
  cmd->add_option("--model", o->model_dir, "Byte-level model folder (default: the bundled model)");
  cmd->add_option("--text", o->text_path, "Corpus (default: data/tinyshakespeare.txt)");
  cmd->add_option("--seed", o->seed, "Seed of data windows, sampling and hardware draws");
  add_thread_options(cmd, o->threads);
  cmd->callback([o] { run_reproduce(*o); });
}

}  // namespace gaincell::cli
