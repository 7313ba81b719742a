// gaincell.cost (cost/report.h summarize + summary_json, as `gaincell cost --json`) and gaincell.device_fit
// (analog/device_fit.h, as `gaincell device fit`), returning Python dicts.
#include <pybind11/stl.h>

#include <filesystem>
#include <optional>

#include "analog/device_fit.h"
#include "common.h"
#include "core/error.h"
#include "core/file.h"
#include "cost/cost_table.h"
#include "cost/report.h"
#include "model/config.h"

namespace gaincell::py {
namespace {

HardwareConfig hw_arg(pyb::handle hw) {
  if (hw.is_none()) return HardwareConfig{};
  if (!pyb::isinstance<HardwareConfig>(hw))
    throw pyb::type_error("hw: expected None or a gaincell.HardwareConfig, got " +
                          std::string(pyb::str(pyb::type::handle_of(hw).attr("__name__"))));
  return hw.cast<HardwareConfig>();
}

pyb::object cost(const std::string& name, int n_layer, int n_head, int head_dim, int vocab, pyb::handle hw,
                 const std::string& gpus, std::optional<int> window, double retention_s, const std::string& baseline,
                 std::optional<std::string> table_path) {
  if (n_layer < 1 || n_head < 1 || head_dim < 1 || vocab < 1)
    fail_expected("cost", "positive n_layer, n_head, head_dim, vocab",
                  std::to_string(n_layer) + ", " + std::to_string(n_head) + ", " + std::to_string(head_dim) + ", " +
                      std::to_string(vocab));
  if (window && *window < 1) fail_expected("cost", "window >= 1 or None", std::to_string(*window));
  if (retention_s < 0) fail_expected("cost", "retention_s >= 0", std::to_string(retention_s));
  HardwareConfig h = hw_arg(hw);
  const int w = window.value_or(h.array.window_tokens);
  h.array.window_tokens = w;
  h.check("hw");
  CostTable table = table_path ? load_cost_table(*table_path) : CostTable{};
  std::vector<GpuSpec> g = parse_gpu_list(gpus);
  GpuBaseline b = parse_gpu_baseline(baseline);
  std::string text;
  {
    pyb::gil_scoped_release nogil;
    CostSummary s = summarize(name, {n_layer, n_head, head_dim}, vocab, h, w, table, g, retention_s, b);
    text = summary_json(s).dump();
  }
  return json_loads(text);
}

// The sizes the cost model needs of a preset name or a model folder (as `gaincell cost --model`).
pyb::dict shape_of(const std::string& model) {
  ModelConfig c;
  bool found = false;
  for (auto& n : config_preset_names())
    if (n == model) c = config_preset(model), found = true;
  if (!found) {
    if (!std::filesystem::is_directory(model)) {
      std::string names;
      for (auto& n : config_preset_names()) names += n + "|";
      fail_expected("cost",
                    "a preset (" + names +
                        "a gaincell.Model or a (n_layer, n_head, head_dim) shape) or a "
                        "model folder",
                    "'" + model + "'");
    }
    const std::string path = model + "/config.json";
    c = config_from_json(read_file(path, 1u << 20), path);
  }
  pyb::dict d;
  d["family"] = c.family;
  d["n_layer"] = c.n_layer;
  d["n_head"] = c.n_head;
  d["n_kv_head"] = c.kv_heads();
  d["head_dim"] = c.head_dim();
  d["vocab_size"] = c.vocab_size;
  d["n_positions"] = c.n_positions;
  return d;
}

pyb::dict device_fit(const std::string& csv_path, double v_in_v, double v_in_tol_v, int order, double v_offset_v,
                     double max_rel_rms, double min_r2, pyb::handle hw, std::optional<std::string> out_toml,
                     bool force) {
  DeviceFitOptions o;
  o.v_in_v = v_in_v, o.v_in_tol_v = v_in_tol_v, o.order = order, o.v_offset_v = v_offset_v;
  o.max_rel_rms = max_rel_rms, o.min_r2 = min_r2;
  o.validate();
  HardwareConfig h = hw_arg(hw);
  DeviceFit f;
  std::string warning;
  {
    pyb::gil_scoped_release nogil;
    f = fit_device_csv(csv_path, o, h);
    if (out_toml) {
      warning = require_device_fit_ok(f, force);  // throws listing the failed checks unless force
      write_device_fit_toml(*out_toml, f);
    }
  }
  pyb::dict d;
  d["coeffs_ua"] = f.coeffs_ua;
  d["rms_error_ua"] = f.rms_error_ua;
  d["max_error_ua"] = f.max_error_ua;
  d["rel_rms"] = f.rel_rms;
  d["r2"] = f.r2;
  d["linear_gain_ua_per_v"] = f.linear_gain_ua_per_v;
  d["n_rows"] = f.n_rows;
  d["n_points"] = f.n_points;
  d["n_distinct"] = f.n_distinct;
  d["v_store_range"] = pyb::make_tuple(f.v_store_min, f.v_store_max);
  pyb::list dropped;
  for (auto& r : f.dropped) {
    pyb::dict x;
    x["reason"] = r.reason, x["count"] = r.count, x["lines"] = r.lines;
    dropped.append(x);
  }
  d["dropped"] = dropped;
  pyb::list checks;
  for (auto& c : f.checks) {
    pyb::dict x;
    x["name"] = c.name, x["ok"] = c.ok, x["detail"] = c.detail;
    checks.append(x);
  }
  d["checks"] = checks;
  d["ok"] = f.ok();
  d["report"] = f.report(csv_path);
  if (out_toml) d["warning"] = warning;
  return d;
}

}  // namespace

void bind_cost(pyb::module_& m) {
  m.def("_cost", &cost, pyb::arg("name"), pyb::arg("n_layer"), pyb::arg("n_head"), pyb::arg("head_dim"),
        pyb::arg("vocab"), pyb::arg("hw"), pyb::arg("gpus"), pyb::arg("window"), pyb::arg("retention_s"),
        pyb::arg("gpu_baseline"), pyb::arg("table"));
  m.def("_shape_of", &shape_of, pyb::arg("model"));
  m.def("_device_fit", &device_fit, pyb::arg("csv_path"), pyb::arg("v_in_v"), pyb::arg("v_in_tol_v"), pyb::arg("order"),
        pyb::arg("v_offset_v"), pyb::arg("max_rel_rms"), pyb::arg("min_r2"), pyb::arg("hw"), pyb::arg("out_toml"),
        pyb::arg("force"));
}

}  // namespace gaincell::py
