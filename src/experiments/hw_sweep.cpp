// The grid, the per-point hardware and the run of `gaincell sweep --eval` (hw_sweep.h); hw_sweep_merge.cpp
// builds the CSV and the plots from the point files.
#include "experiments/hw_sweep.h"

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <type_traits>

#include "analog/hw_toml.h"
#include "analog/register.h"
#include "calibration/adapt_pipeline.h"
#include "core/dist.h"
#include "core/error.h"
#include "core/file.h"
#include "core/parallel.h"
#include "cost/area.h"
#include "cost/cost_model.h"
#include "cost/report.h"
#include "eval/perplexity.h"
#include "eval/task_data.h"
#include "eval/tasks.h"
#include "io/provenance.h"
#include "kernels/bf16.h"
#include "kernels/threads.h"
#include "model/engine.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace gaincell {
namespace {

using Json = nlohmann::ordered_json;

std::string num_text(double v) {
  char b[64];
  std::snprintf(b, sizeof b, "%.17g", v);
  return b;
}

// Sets the numeric TOML field at `path` to v; false when no numeric field has that path. Integer fields take
// integral values only (an error names the key).
bool set_hw_field(HardwareConfig& hw, const std::string& path, double v) {
  bool found = false;
  for_each_hw_field(hw, [&](const std::string& p, auto& field, const std::string&) {
    using T = std::decay_t<decltype(field)>;
    if (p != path) return;
    if constexpr (std::is_same_v<T, double>) {
      field = v, found = true;
    } else if constexpr (std::is_same_v<T, int> || std::is_same_v<T, uint64_t>) {
      if (v != std::floor(v) || v < 0 || v > 9.0e15)
        fail_expected("sweep", "a non-negative integer for " + path, num_text(v));
      field = static_cast<T>(v), found = true;
    }
  });
  return found;
}

bool numeric_hw_path(const std::string& path) {
  HardwareConfig hw;
  bool found = false;
  for_each_hw_field(hw, [&](const std::string& p, auto& field, const std::string&) {
    using T = std::decay_t<decltype(field)>;
    if (p == path) found = std::is_same_v<T, double> || std::is_same_v<T, int> || std::is_same_v<T, uint64_t>;
  });
  return found;
}

std::string alias_target(const std::string& key) {
  for (auto& [alias, path] : hw_sweep_aliases())
    if (alias == key) return path;
  return "";
}

double sweep_token_period(const ModelShape& shape, const HardwareConfig& hw) {
  return token_period_s(token_cost(shape, hw, hw.array.window_tokens, CostTable{}));
}

}  // namespace

std::vector<std::pair<std::string, std::string>> hw_sweep_aliases() {
  return {{"adc_bits", "converters.adc.levels"},
          {"query_bits", "converters.query.levels"},
          {"store_bits", "converters.store.levels"},
          {"window", "array.window_tokens"},
          {"array_rows", "array.rows"},
          {"array_cols", "array.cols"},
          {"retention_s", "leakage.retention_tau_s"},
          {"cell_gain_sigma", "noise.cell_gain_sigma"},
          {"cell_offset_sigma", "noise.cell_offset_sigma_ua"},
          {"write_noise", "noise.write_noise_sigma_v"},
          {"read_noise", "noise.read_noise_s_ua_tmax"},
          {"read_snr_db", "noise.read_snr_s_db"},
          {"seed", "noise.chip_seed"}};
}

HwSweepAxis parse_hw_sweep_axis(const std::string& spec) {
  const size_t eq = spec.find('=');
  HwSweepAxis a;
  a.key = spec.substr(0, eq);
  if (eq == std::string::npos || (alias_target(a.key).empty() && !numeric_hw_path(a.key))) {
    std::string aliases;
    for (auto& [alias, path] : hw_sweep_aliases()) aliases += (aliases.empty() ? "" : "|") + alias;
    fail_expected("sweep",
                  "--set KEY=V1,V2,... with KEY in " + aliases + " or a numeric hardware TOML path (noise.*, ...)",
                  "'" + spec + "'");
  }
  const std::string list = spec.substr(eq + 1);
  size_t i = 0;
  while (i <= list.size()) {
    const size_t j = std::min(list.find(',', i), list.size());
    const std::string item = list.substr(i, j - i);
    char* end = nullptr;
    errno = 0;
    const double v = item.empty() ? 0 : std::strtod(item.c_str(), &end);
    const bool bits = a.key.size() > 5 && a.key.compare(a.key.size() - 5, 5, "_bits") == 0;
    if (item.empty() || *end != '\0' || errno != 0 || !std::isfinite(v) || v < 0 ||
        (bits && (v != std::floor(v) || v < 1 || v > 16)) || (a.key == "retention_s" && !(v > 0)))
      fail_expected("sweep", "finite values >= 0 for " + a.key + (bits ? " (integers in [1, 16])" : ""),
                    "'" + item + "' in '" + spec + "'");
    a.values.push_back(v);
    i = j + 1;
  }
  return a;
}

void parse_shard(const std::string& spec, int& index, int& count) {
  const size_t slash = spec.find('/');
  char* e1 = nullptr;
  char* e2 = nullptr;
  long i = -1, n = 0;
  if (slash != std::string::npos && slash > 0 && slash + 1 < spec.size()) {
    const std::string a = spec.substr(0, slash), b = spec.substr(slash + 1);
    i = std::strtol(a.c_str(), &e1, 10), n = std::strtol(b.c_str(), &e2, 10);
    if (*e1 != '\0' || *e2 != '\0') i = -1;
  }
  if (i < 0 || n < 1 || i >= n || n > (1 << 20))
    fail_expected("sweep", "a shard I/N with 0 <= I < N (e.g. 0/4)", "'" + spec + "'");
  index = int(i), count = int(n);
}

std::vector<int64_t> shard_indices(int64_t n, int index, int count) {
  std::vector<int64_t> out;
  for (int64_t i = index; i < n; i += count) out.push_back(i);
  return out;
}

std::vector<std::string> HwSweepOptions::validate() const {
  std::vector<std::string> p;
  if (model_dir.empty()) p.push_back("--model: expected a model folder");
  if (eval_path.empty()) p.push_back("--eval: expected a text or task file");
  if (task != "perplexity" && task != "lambada" && task != "mc")
    p.push_back("--task: expected perplexity|lambada|mc, got '" + task + "'");
  if (out_dir.empty()) p.push_back("--out: expected an output folder");
  if (axes.empty()) p.push_back("--set: expected at least one KEY=V1,V2,...");
  for (size_t i = 0; i < axes.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (axes[i].key == axes[j].key) p.push_back("--set: key '" + axes[i].key + "' given twice");
  if (shard_count < 1 || shard_index < 0 || shard_index >= shard_count)
    p.push_back("--shard: expected 0 <= I < N, got " + std::to_string(shard_index) + "/" + std::to_string(shard_count));
  if (context < 0 || stride < 0 || limit < 0) p.push_back("--context, --stride, --limit: expected >= 0");
  if (adapt_steps < 0) p.push_back("--adapt-steps: expected >= 0, got " + std::to_string(adapt_steps));
  if (adapt_steps > 0 && adapt_data_dir.empty())
    p.push_back("--adapt-steps: expected --adapt-data (a token folder with train.bin and val.bin)");
  if (adapt_steps == 0 && !adapt_data_dir.empty()) p.push_back("--adapt-data: only with --adapt-steps N > 0");
  if (precision != "f32" && precision != "bf16")
    p.push_back("--precision: expected f32 or bf16, got '" + precision + "'");
  return p;
}

int64_t grid_size(const std::vector<HwSweepAxis>& axes) {
  int64_t n = 1;
  for (auto& a : axes) n *= static_cast<int64_t>(a.values.size());
  return n;
}

HwSweepPoint grid_point(const std::vector<HwSweepAxis>& axes, int64_t index) {
  HwSweepPoint p;
  p.index = index;
  p.values.resize(axes.size());
  int64_t rest = index;
  for (size_t k = axes.size(); k-- > 0;) {  // the last axis varies fastest
    const auto n = static_cast<int64_t>(axes[k].values.size());
    p.values[k] = axes[k].values[static_cast<size_t>(rest % n)];
    rest /= n;
  }
  return p;
}

std::string point_stem(int64_t index) {
  char b[32];
  std::snprintf(b, sizeof b, "point_%05lld", static_cast<long long>(index));
  return b;
}

HardwareConfig point_hardware(const HardwareConfig& base, const std::vector<HwSweepAxis>& axes, const HwSweepPoint& p,
                              const ModelShape& shape, uint64_t& seed) {
  HardwareConfig hw = base;
  seed = 0;
  double retention = 0;
  for (size_t k = 0; k < axes.size(); ++k) {
    const std::string& key = axes[k].key;
    const double v = p.values[k];
    if (key == "seed") {
      seed = static_cast<uint64_t>(v);
      set_hw_field(hw, "noise.chip_seed", v);
    } else if (key == "adc_bits" || key == "query_bits" || key == "store_bits") {
      set_hw_field(hw, alias_target(key), std::ldexp(1.0, int(v)));
    } else if (key == "retention_s") {
      retention = v;
    } else if (key == "read_noise") {
      hw.noise.read_noise_s_ua_tmax = hw.noise.read_noise_a_ua_tmax = v;
    } else if (key == "read_snr_db") {
      hw.noise.read_snr_s_db = hw.noise.read_snr_a_db = v;
    } else {
      const std::string target = alias_target(key);
      set_hw_field(hw, target.empty() ? key : target, v);
    }
  }
  // After every other key: the token period follows the point's window and converters.
  if (retention > 0) hw.set_retention(retention, sweep_token_period(shape, hw));
  return hw;
}

namespace {

// The metrics of one point: the evaluation on the simulated hardware and the cost of its activity.
Json evaluate_point(const HwSweepOptions& o, const Model& model, const Tokenizer& tok, const std::string& hw_path,
                    uint64_t seed, const std::string& text, const std::vector<int32_t>& ids,
                    const std::vector<TaskItem>& items) {
  AttentionOptions a;
  a.hw_path = hw_path;
  a.seed = seed;
  std::unique_ptr<Attention> att = create_attention(o.attention, model, a);
  Engine engine(model, *att);
  Json m;
  if (o.task == "perplexity") {
    PerplexityResult r = strided_perplexity(engine, ids, {o.context, o.stride});
    m["context"] = r.context;
    m["stride"] = r.stride;
    m["tokens"] = r.tokens;
    m["mean_nll"] = r.mean_nll;
    m["perplexity"] = r.perplexity;
    m["bits_per_byte"] = bits_per_byte(r.nll_sum, static_cast<int64_t>(text.size()));
  } else if (o.task == "lambada") {
    LambadaResult r = evaluate_lambada(engine, tok, items, o.eval_path);
    m["items"] = r.items;
    m["accuracy"] = r.accuracy;
    m["mean_nll"] = r.nll_sum / double(r.target_tokens);
    m["perplexity"] = r.perplexity_token;
  } else {
    McResult r = evaluate_multiple_choice(engine, tok, items, o.eval_path);
    m["items"] = r.items;
    m["acc"] = r.acc;
    m["acc_norm"] = r.acc_norm;
  }
  const ModelConfig& c = model.config();
  const ModelShape shape{c.n_layer, c.n_head, c.head_dim(), c.kv_heads()};
  const HardwareConfig hw = load_hardware_toml(hw_path);
  const Json rep = run_report_json(att->activity(), shape, hw, CostTable{}, att->name());
  if (!rep.value("analog_counters", false))
    fail_expected("sweep", "an analog attention backend with activity counters", "'" + o.attention + "'");
  m["energy_per_token_nj"] = rep["energy_per_token"]["per_model"]["total_pj"].get<double>() * 1e-3;
  m["latency_per_token_ns"] = rep["latency_per_token"]["per_model_ns"];
  m["area_mm2"] = model_area(shape, hw, hw.array.window_tokens, AreaTable{}).model_mm2();
  m["decay_per_token"] = hw.lambda_per_token();
  return m;
}

// Re-calibrates the model for one point (--adapt-steps): the adaptation pipeline on the point's hardware and
// seed into `out_dir` (a model folder the evaluation loads). Returns what the point file records.
Json adapt_point(const HwSweepOptions& o, const std::string& hw_path, uint64_t seed, const std::string& out_dir) {
  AdaptOptions a;
  a.model_dir = o.model_dir;
  a.data_dir = o.adapt_data_dir;
  a.out_dir = out_dir;
  a.hw_path = hw_path;
  a.linear_steps = o.adapt_steps;
  a.finetune_steps = o.adapt_steps;
  a.context = o.context;  // 0: min(n_positions, 256)
  a.seed = seed;
  AdaptResult r = run_adaptation(a);
  Json j;
  j["steps"] = o.adapt_steps;
  j["data"] = o.adapt_data_dir;
  j["context"] = r.summary["context"];
  j["converged"] = r.converged;
  j["calib_iterations"] = r.calib_iterations;
  j["stages"] = r.summary["stages"];
  j["warnings"] = r.warnings;
  return j;
}

}  // namespace

HwSweepSummary run_hw_sweep(const HwSweepOptions& o, const HwSweepHooks& hooks) {
  const std::vector<std::string> problems = o.validate();
  if (!problems.empty()) {
    std::string all;
    for (auto& p : problems) all += (all.empty() ? "" : "; ") + p;
    fail("sweep", all);
  }
  register_digital_attention();
  register_analog_attention();
  struct PrecisionScope {  // the sweep's projection precision, the caller's again on return
    MatmulPrecision saved = matmul_precision();
    explicit PrecisionScope(MatmulPrecision p) { set_matmul_precision(p); }
    ~PrecisionScope() { set_matmul_precision(saved); }
  } precision_scope(parse_matmul_precision(o.precision));
  const Model model = Model::load(o.model_dir);
  const Tokenizer tok = Tokenizer::from_dir(o.model_dir);
  std::string text;
  std::vector<int32_t> ids;
  std::vector<TaskItem> items;
  if (o.task == "perplexity") {
    text = read_file(o.eval_path);
    ids = tok.encode(text, {tok.add_bos(), false});                   // as `gaincell perplexity` does
    if (o.limit > 0 && static_cast<int64_t>(ids.size()) > o.limit) {  // bits per byte of the bytes kept
      ids.resize(static_cast<size_t>(o.limit));
      const bool bos = tok.add_bos();
      text = tok.decode(std::vector<int32_t>(ids.begin() + (bos ? 1 : 0), ids.end()));
    }
  } else {
    items = read_task_file(o.eval_path, o.limit);
  }
  const HardwareConfig base = o.hw_path.empty() ? HardwareConfig{} : load_hardware_toml(o.hw_path);
  const ModelConfig& c = model.config();
  const ModelShape shape{c.n_layer, c.n_head, c.head_dim(), c.kv_heads()};
  const std::string dir = o.out_dir + "/points";
  make_dirs(dir);
  HwSweepSummary sum;
  // Under mpirun, rank r of N takes every N-th point of the shard: shard I/S becomes (I + S r)/(S N).
  const int rank = dist_rank(), ranks = dist_size();
  for (int64_t i : shard_indices(grid_size(o.axes), o.shard_index + o.shard_count * rank, o.shard_count * ranks)) {
    ++sum.points;
    const HwSweepPoint p = grid_point(o.axes, i);
    const std::string stem = dir + "/" + point_stem(i);
    Json settings = Json::object();
    for (size_t k = 0; k < o.axes.size(); ++k) settings[o.axes[k].key] = p.values[k];
    if (file_exists(stem + ".json")) {
      const Json old = Json::parse(read_file(stem + ".json"), nullptr, false);
      if (old.is_discarded() || old.value("settings", Json()) != settings)
        fail_expected("sweep", "the point file of this grid (settings " + settings.dump() + ")", "another sweep's",
                      "in '" + stem + ".json' (use a new --out)");
      if (old.value("adapt_steps", 0) != o.adapt_steps)
        fail_expected("sweep", "the point file of a sweep with --adapt-steps " + std::to_string(o.adapt_steps),
                      "--adapt-steps " + std::to_string(old.value("adapt_steps", 0)),
                      "in '" + stem + ".json' (use a new --out)");
      if (old.value("precision", std::string("f32")) != o.precision)
        fail_expected("sweep", "the point file of a sweep with --precision " + o.precision,
                      "--precision " + old.value("precision", std::string("f32")),
                      "in '" + stem + ".json' (use a new --out)");
      if (old.value("status", "") == "ok") {
        ++sum.skipped;
        if (hooks.note) hooks.note(point_stem(i) + " " + settings.dump() + ": done before, skipped");
        continue;
      }
    }
    Json j;
    j["point"] = i;
    j["settings"] = settings;
    uint64_t seed = 0;
    HardwareConfig hw;
    const auto t0 = std::chrono::steady_clock::now();
    try {
      const DistLocalScope alone;  // the points are spread over the ranks: each runs its point by itself
      hw = point_hardware(base, o.axes, p, shape, seed);
      j["seed"] = seed;
      save_hardware_toml(stem + ".hw.toml", hw);  // validates the point's configuration
      if (o.adapt_steps > 0) {
        // The adapted model is a scratch folder: the point file keeps its summary, not its weights.
        const std::string adapted = stem + ".adapted.tmp";
        std::filesystem::remove_all(adapted);
        j["adaptation"] = adapt_point(o, stem + ".hw.toml", seed, adapted);
        const Model m = Model::load(adapted);
        std::filesystem::remove_all(adapted);
        j["metrics"] = evaluate_point(o, m, tok, stem + ".hw.toml", seed, text, ids, items);
      } else {
        j["metrics"] = evaluate_point(o, model, tok, stem + ".hw.toml", seed, text, ids, items);
      }
      j["status"] = "ok";
    } catch (const std::exception& e) {  // the sweep goes on: an error record for this point
      j["seed"] = seed;
      j["status"] = "error";
      j["error"] = e.what();
      ++sum.failed;
    }
    j["model"] = o.model_dir;
    j["attention"] = o.attention;
    j["task"] = o.task;
    j["eval"] = o.eval_path;
    j["limit"] = o.limit;
    j["adapt_steps"] = o.adapt_steps;
    j["precision"] = o.precision;
    j["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();  // wall time
    RunProvenance prov;
    prov.gemm = gemm_backend_name();
    prov.threads = num_threads();
    prov.seeds = {{"seed", seed}, {"chip_seed", hw.noise.chip_seed}};
    prov.hardware = hardware_json(hw);
    j["provenance"] = provenance_json(prov);
    write_file_atomic(stem + ".json", j.dump(2, ' ', false, Json::error_handler_t::replace) + "\n");
    ++sum.ran;
    if (hooks.note)
      hooks.note(point_stem(i) + " " + settings.dump() + ": " +
                 (j["status"] == "ok" ? j["metrics"].dump() : "error: " + j["error"].get<std::string>()));
  }
  if (ranks > 1) {  // the shard's totals over every rank (also: every rank's points are written on return)
    double c[4] = {double(sum.points), double(sum.ran), double(sum.skipped), double(sum.failed)};
    dist_allreduce_sum(c, 4);
    sum = {int64_t(c[0]), int64_t(c[1]), int64_t(c[2]), int64_t(c[3])};
  }
  return sum;
}

}  // namespace gaincell
