// The run of `gaincell reproduce`: every phase fills one results JSON; reproduce_report.cpp renders it.
#include "experiments/reproduce.h"

#include <algorithm>
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
#include "model/llama2c.h"
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

// The cost model's view of a model: layers, query heads, head size and KV heads (the arrays, shared by the
// query heads of a group on a grouped-query model).
ModelShape cost_shape(const ModelConfig& c) {
  return {c.n_layer, c.n_head, c.head_dim(), c.kv_heads()};
}

// Token period (s) of the latency model for a model on a hardware configuration (its own window).
double token_period(const ModelConfig& c, const HardwareConfig& hw) {
  return token_period_s(token_cost(cost_shape(c), hw, hw.array.window_tokens, CostTable{}));
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

// The text the profile uses: the whole corpus, or its prefix up to the last newline within text_bytes.
std::string corpus_text(const ReproduceProfile& p) {
  std::string text = read_file(p.text_path);
  if (p.text_bytes > 0 && static_cast<int64_t>(text.size()) > p.text_bytes) {
    const size_t cut = text.rfind('\n', static_cast<size_t>(p.text_bytes) - 1);
    text.resize(cut == std::string::npos ? static_cast<size_t>(p.text_bytes) : cut + 1);
  }
  return text;
}

// The corpus as token ids: bytes, or one encode() call of the model's tokenizer (with BOS where the tokenizer
// adds one, as `gaincell perplexity --text` encodes).
std::vector<int32_t> tokenize(const ReproduceProfile& p, const std::string& text, const Tokenizer& tok, int vocab) {
  std::vector<int32_t> ids;
  if (p.tokenization == "bytes") {
    ids.assign(text.begin(), text.end());
    for (auto& v : ids) v &= 0xff;
  } else {
    ids = tok.encode(text, tok.specials());
  }
  for (int32_t v : ids)
    if (v < 0 || v >= vocab)
      fail_expected("reproduce", "token ids below the model's vocab_size " + std::to_string(vocab),
                    "id " + std::to_string(v), "tokenizing '" + p.text_path + "' (" + p.tokenization + ")");
  return ids;
}

// The corpus as token ids, split in order into train (train_fraction), monitor (monitor_fraction) and held
// out (the rest), written as token files under dir: train.bin and val.bin are what the adaptation and the
// control read (val.bin = the monitor part, or the held-out part when monitor_fraction is 0), heldout.bin what
// every reported loss reads. Returns the held-out ids.
std::vector<int32_t> prepare_data(const ReproduceProfile& p, const Tokenizer& tok, int vocab, const std::string& dir,
                                  Json& out) {
  const std::string text = corpus_text(p);
  const std::vector<int32_t> ids = tokenize(p, text, tok, vocab);
  const auto n = static_cast<int64_t>(ids.size());
  const auto n_train = static_cast<int64_t>(static_cast<double>(n) * p.train_fraction);
  const auto n_monitor = static_cast<int64_t>(static_cast<double>(n) * p.monitor_fraction);
  const int64_t n_held = n - n_train - n_monitor;
  if (n_train < 1024 || n_held < 1024 || (p.monitor_fraction > 0 && n_monitor < 1024))
    fail_expected("reproduce", "a corpus with at least 1024 tokens in each part of the split",
                  std::to_string(n) + " tokens (" + std::to_string(n_train) + " train, " + std::to_string(n_monitor) +
                      " monitor, " + std::to_string(n_held) + " held out)",
                  "in '" + p.text_path + "'");
  make_dirs(dir);
  const auto at = [&](int64_t i) { return ids.begin() + i; };
  std::vector<int32_t> train(at(0), at(n_train)), monitor(at(n_train), at(n_train + n_monitor));
  std::vector<int32_t> held(at(n_train + n_monitor), ids.end());
  write_token_file(dir + "/train.bin", train, vocab);
  write_token_file(dir + "/val.bin", n_monitor > 0 ? monitor : held, vocab);
  write_token_file(dir + "/heldout.bin", held, vocab);
  const double pt = 100.0 * p.train_fraction, pm = 100.0 * p.monitor_fraction;
  const std::string split =
      n_monitor > 0 ? "first " + fmt("%g", pt) + "% of the tokens adapt (train.bin), the next " + fmt("%g", pm) +
                          "% are the adaptation's own validation (val.bin), the last " + fmt("%g", 100.0 - pt - pm) +
                          "% are held out (heldout.bin): no stage reads them"
                    : "first " + fmt("%g", pt) + "% train, last " + fmt("%g", 100.0 - pt) + "% val (nanoGPT)";
  out = {
      {"name", p.data_label},
      {"text", p.text_path},
      {"tokenization", p.tokenization},
      {"bytes", static_cast<int64_t>(text.size())},
      {"tokens", n},
      {"train_tokens", n_train},
      {"monitor_tokens", n_monitor},
      {"val_tokens", n_held},
      // [begin, end) token indices of each part in the tokenized text
      {"ranges",
       {{"train", {0, n_train}}, {"monitor", {n_train, n_train + n_monitor}}, {"heldout", {n_train + n_monitor, n}}}},
      {"split", split}};
  return held;
}

// The tokenizer files of a model folder (Tokenizer::from_dir reads one of these sets) copied into another.
void copy_tokenizer_files(const std::string& from, const std::string& to) {
  static const char* kFiles[] = {
      "tokenizer.json", "tokenizer_config.json", "tokenizer.model", "tokenizer.bin",          "vocab.json",
      "merges.txt",     "encoder.json",          "vocab.bpe",       "special_tokens_map.json"};
  for (const char* f : kFiles)
    if (file_exists(from + "/" + f)) write_file_atomic(to + "/" + f, read_file(from + "/" + f));
}

// The tokenizer of a derived model folder (adapted, control): the byte tokenizer, or the base model's files.
void write_tokenizer(const ReproduceProfile& p, const std::string& base_dir, const std::string& dir) {
  if (p.tokenization == "bytes")
    Tokenizer::write_bytes_tokenizer(dir);
  else
    copy_tokenizer_files(base_dir, dir);
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

// The control: a gain-cell model of the same configuration from random initialisation (Model::random: GPT-2's
// rules), trained for `steps` steps.
Json run_control(const ReproduceProfile& p, const std::string& base_dir, const ModelConfig& cfg,
                 const std::string& data_dir, const std::string& work, int64_t steps, uint64_t seed, Json& curve,
                 const Report& report) {
  const ReproduceBudget& b = p.budget;
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
  write_tokenizer(p, base_dir, work + "/model");
  return Json{{"attention", "gaincell"}, {"init", "random initialisation (scratch)"}, {"steps", steps}};
}

// Stages 1-3 of the paper (run_adaptation) from the pre-trained model into out_model.
Json run_adapt(const ReproduceProfile& p, const std::string& model_dir, const std::string& data_dir,
               const std::string& out_model, uint64_t seed, Json& curves, Json& trace, const Report& report) {
  const ReproduceBudget& b = p.budget;
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
  write_tokenizer(p, model_dir, out_model);
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
std::string stream_generate(Engine& engine, const Tokenizer& tok, const std::string& prompt, bool bos, int n_new,
                            double temperature, uint64_t seed, int* n_generated) {
  std::vector<int32_t> ids = tok.encode(prompt, {bos && tok.add_bos(), false});
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
  *n_generated = static_cast<int>(out.size());
  return tok.decode(out);
}

// One cost row: a model at the paper's hardware configuration against GPUs.
Json cost_row(const std::string& name, const ModelConfig& c) {
  HardwareConfig hw;
  const int window = hw.array.window_tokens;
  CostSummary s = summarize(name, cost_shape(c), c.vocab_size, hw, window, CostTable{},
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
      {"n_kv_head", c.kv_heads()},
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

std::vector<std::string> ReproduceOptions::validate() const {
  std::vector<std::string> p;
  if (out_dir.empty()) p.push_back("out_dir: expected an output folder, got an empty path");
  const auto& names = reproduce_profile_names();
  if (profile != "all" && std::find(names.begin(), names.end(), profile) == names.end()) {
    std::string known;
    for (const std::string& n : names) known += n + ", ";
    p.push_back("profile: expected one of " + known + "all, got '" + profile + "'");
  }
  return p;
}

std::vector<ReproduceProfile> selected_profiles(const ReproduceOptions& o) {
  check(o.validate(), "options");
  if (o.profile == "all" && (!o.model_dir.empty() || !o.text_path.empty()))
    fail_expected("reproduce", "a named profile with a model or corpus override (--model, --text)", "profile 'all'");
  const std::string shared = o.shared_dir.empty() ? default_shared_dir() : o.shared_dir;
  std::vector<ReproduceProfile> out;
  for (const std::string& n : reproduce_profile_names())
    if (o.profile == "all" || o.profile == n) out.push_back(reproduce_profile(n, o.quick, shared));
  return out;
}

Json run_reproduce_selected(const ReproduceOptions& o, const ReproduceHooks& hooks) {
  const std::vector<ReproduceProfile> profiles = selected_profiles(o);
  return profiles.size() == 1 ? run_reproduce(o, profiles[0], hooks) : run_reproduce_all(o, profiles, hooks);
}

Json run_reproduce_all(const ReproduceOptions& o, const std::vector<ReproduceProfile>& profiles,
                       const ReproduceHooks& hooks) {
  check(o.validate(), "options");
  if (profiles.empty()) fail("reproduce", "run_reproduce_all: expected at least one profile, got none");
  const double start = now_s();
  Json all;
  all["title"] = "gain-cell attention on " + std::to_string(profiles.size()) + " models side by side";
  all["profile"] = o.quick ? "quick" : "full";
  all["seed"] = o.seed;
  all["profiles"] = Json::array();
  std::string failed;
  make_dirs(o.out_dir);
  for (const ReproduceProfile& p : profiles) {
    ReproduceOptions sub = o;
    sub.out_dir = o.out_dir + "/" + p.name;
    ReproduceHooks h = hooks;
    if (hooks.note) h.note = [&](const std::string& line) { hooks.note(p.name + ": " + line); };
    // A profile that fails (bad input, a backend refusing the model) leaves the others' results: it is recorded
    // with its error, the side-by-side report is written, and the run fails at the end naming it.
    try {
      all["profiles"].push_back(run_reproduce(sub, p, h));
    } catch (const Error& e) {
      if (hooks.note) hooks.note(p.name + ": FAILED: " + e.what());
      all["profiles"].push_back(
          {{"profile", o.quick ? "quick" : "full"}, {"profile_name", p.name}, {"title", p.title}, {"error", e.what()}});
      failed += (failed.empty() ? "" : "; ") + p.name + ": " + e.what();
    }
  }
  all["seconds"] = now_s() - start;
  RunProvenance prov;
  prov.gemm = gemm_backend_name();
  prov.threads = num_threads();
  prov.seeds = {{"seed", o.seed}};
  all["provenance"] = provenance_json(prov);
  write_reproduce_combined_outputs(o.out_dir, all);
  if (!failed.empty()) fail("reproduce", "profiles failed (the others' reports are written): " + failed);
  return all;
}

Json run_reproduce(const ReproduceOptions& o, const ReproduceProfile& profile_in, const ReproduceHooks& hooks) {
  check(o.validate(), "options");
  ReproduceProfile profile = profile_in;
  if (!o.model_dir.empty()) {  // a model folder replaces the profile's source, whatever its kind
    profile.model_dir = o.model_dir;
    profile.llama2c_checkpoint.clear();
    profile.llama2c_tokenizer.clear();
  }
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
  Json source;
  if (!profile.llama2c_checkpoint.empty()) {  // converted into work/base (a fresh folder: the converter's rule)
    const std::string base = work + "/base";
    std::filesystem::remove_all(base);
    Llama2cConvertOptions c;
    c.checkpoint = profile.llama2c_checkpoint;
    c.tokenizer = profile.llama2c_tokenizer;
    c.out = base;
    convert_llama2c(c);
    source = {{"llama2c_checkpoint", c.checkpoint}, {"llama2c_tokenizer", c.tokenizer}, {"converted_to", base}};
    profile.model_dir = base;
  }
  const ModelConfig cfg = Model::load(profile.model_dir).config();
  if (profile.tokenization == "bytes" && cfg.vocab_size < 256)
    fail_expected("reproduce", "a model with vocab_size >= 256 for byte tokens", std::to_string(cfg.vocab_size),
                  profile.model_dir);
  if (b.context_tokens > cfg.n_positions)
    fail_expected("reproduce", "a context within the model's n_positions " + std::to_string(cfg.n_positions),
                  std::to_string(b.context_tokens) + " tokens", "profile '" + profile.name + "'");
  const Tokenizer tok = profile.tokenization == "bytes" ? Tokenizer::bytes() : Tokenizer::from_dir(profile.model_dir);
  r["model"] = {{"dir", profile.model_dir},
                {"label", profile.model_label},
                {"family", cfg.family},
                {"n_layer", cfg.n_layer},
                {"n_head", cfg.n_head},
                {"n_kv_head", cfg.kv_heads()},
                {"n_embd", cfg.n_embd},
                {"head_dim", cfg.head_dim()},
                {"n_positions", cfg.n_positions},
                {"vocab_size", cfg.vocab_size},
                {"parameters", cfg.num_parameters()}};
  if (!source.empty()) r["model"]["source"] = source;
  Json data;
  const std::vector<int32_t> val = prepare_data(profile, tok, cfg.vocab_size, work + "/data", data);
  r["data"] = data;
  r["eval"] = {{"context", b.context_tokens}, {"windows", b.eval_windows}, {"split", "heldout"}};

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
  r["adaptation"] = run_adapt(profile, profile.model_dir, work + "/data", adapted, o.seed, curves, trace, report);
  Runner ad = make_runner(adapted, "gaincell", adapted_hw(adapted), o.seed);
  const double adapted_loss = eval_loss(ad);
  r["adaptation"]["val_loss"] = adapted_loss;
  r["adaptation"]["perplexity"] = std::exp(adapted_loss);
  report.note("adapted loss " + fmt("%.4f", adapted_loss));
  lap("adaptation");

  const int64_t budget = int64_t{b.linear_steps} + b.finetune_steps;
  curves["control"] = Json::array();
  r["control"] = run_control(profile, profile.model_dir, cfg, work + "/data", work + "/control", budget, o.seed,
                             curves["control"], report);
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

  Runner base = make_runner(profile.model_dir, "softmax", "", o.seed);
  int n_base = 0, n_adapted = 0;
  const std::string gen_base = stream_generate(*base.engine, tok, profile.prompt, profile.prompt_bos, b.gen_tokens,
                                               b.temperature, o.seed, &n_base);
  const std::string gen_adapted = stream_generate(*ad.engine, tok, profile.prompt, profile.prompt_bos, b.gen_tokens,
                                                  b.temperature, o.seed, &n_adapted);
  r["generation"] = {{"prompt", profile.prompt},
                     {"bos", profile.prompt_bos && tok.add_bos()},
                     {"tokens", b.gen_tokens},
                     {"generated_tokens", {{"baseline", n_base}, {"adapted", n_adapted}}},
                     {"temperature", b.temperature},
                     {"decoder", "streaming (decode_prefill, decode_step)"},
                     {"sampler", "model/sampler.h, top-k and top-p off"},
                     {"baseline", gen_base},
                     {"adapted", gen_adapted}};
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
