#include "cost/sweep.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "core/error.h"
#include "core/file.h"
#include "cost/svg_plot.h"

namespace gaincell {
namespace {

void apply(SweepBase& b, const std::string& key, int v) {
  if (key == "window")
    b.window = v;
  else if (key == "adc_bits")
    b.hw.converters.adc.levels = 1 << v;
  else if (key == "query_bits")
    b.hw.converters.query.levels = 1 << v;
  else if (key == "store_bits")
    b.hw.converters.store.levels = 1 << v;
  else if (key == "array_cols")
    b.hw.array.cols = v;
  else if (key == "array_rows")
    b.hw.array.rows = v;
  else if (key == "n_layer")
    b.shape.n_layer = v;
  else if (key == "n_head")
    b.shape.n_head = v;
  else if (key == "head_dim")
    b.shape.head_dim = v;
}

int max_value(const std::string& key) {
  if (key.find("bits") != std::string::npos) return 16;
  return key == "window" ? (1 << 20) : 4096;
}

}  // namespace

std::vector<std::string> sweep_keys() {
  return {"window",     "adc_bits", "query_bits", "store_bits", "array_cols",
          "array_rows", "n_layer",  "n_head",     "head_dim"};
}

SweepParam parse_sweep_param(const std::string& spec) {
  size_t eq = spec.find('=');
  std::string keys;
  for (auto& k : sweep_keys()) keys += (keys.empty() ? "" : "|") + k;
  SweepParam p;
  p.key = spec.substr(0, eq);
  bool known = false;
  for (auto& k : sweep_keys()) known = known || k == p.key;
  if (eq == std::string::npos || !known)
    fail_expected("sweep", "--set KEY=V1,V2,... with KEY in " + keys, "'" + spec + "'");
  std::string list = spec.substr(eq + 1);
  size_t i = 0;
  while (i <= list.size()) {
    size_t j = std::min(list.find(',', i), list.size());
    std::string item = list.substr(i, j - i);
    char* end = nullptr;
    errno = 0;
    long v = item.empty() ? 0 : std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || errno != 0 || v < 1 || v > max_value(p.key))
      fail_expected("sweep", "integers in [1, " + std::to_string(max_value(p.key)) + "] for " + p.key,
                    "'" + item + "' in '" + spec + "'");
    p.values.push_back(int(v));
    i = j + 1;
  }
  return p;
}

std::vector<SweepPoint> run_sweep(const SweepBase& base, const std::vector<SweepParam>& params) {
  size_t n = 1;
  for (auto& p : params) n *= p.values.size();
  std::vector<SweepPoint> out;
  for (size_t idx = 0; idx < n; ++idx) {
    SweepBase b = base;
    SweepPoint pt;
    size_t rest = idx;
    for (size_t k = params.size(); k-- > 0;) {  // the last key varies fastest
      int v = params[k].values[rest % params[k].values.size()];
      rest /= params[k].values.size();
      pt.values.insert(pt.values.begin(), v);
      apply(b, params[k].key, v);
    }
    for (size_t k = 0; k < params.size(); ++k)
      pt.label += (k ? " " : "") + params[k].key + "=" + std::to_string(pt.values[k]);
    b.hw.array.window_tokens = b.window;
    b.hw.check("sweep point " + pt.label);
    if (b.shape.head_dim > b.hw.array.rows) fail_expected("sweep", "head_dim <= array_rows", pt.label);
    pt.summary = summarize(b.model, b.shape, b.vocab, b.hw, b.window, b.table, b.gpus, b.retention_s, b.gpu_baseline);
    out.push_back(std::move(pt));
  }
  return out;
}

std::string sweep_csv(const std::vector<SweepParam>& params, const std::vector<SweepPoint>& points) {
  std::vector<std::string> head;
  for (auto& p : params) head.push_back(p.key);
  for (const char* h :
       {"head_phi_qk_pj", "head_phi_sv_pj", "head_digital_pj", "head_dac_pj", "head_total_pj", "layer_energy_nj",
        "layer_latency_ns", "model_energy_nj", "model_latency_ns", "area_mm2", "decay_per_token"})
    head.push_back(h);
  if (!points.empty())
    for (auto& g : points[0].summary.gpus) {
      head.push_back(g.gpu.name + "_baseline");
      head.push_back(g.gpu.name + "_latency_ratio");
      head.push_back(g.gpu.name + "_energy_ratio");
    }
  std::vector<std::vector<std::string>> rows = {head};
  char buf[64];
  for (auto& pt : points) {
    std::vector<std::string> row;
    for (int v : pt.values) row.push_back(std::to_string(v));
    auto add = [&](double v) {
      std::snprintf(buf, sizeof(buf), "%.10g", v);
      row.push_back(buf);
    };
    const TokenCost& t = pt.summary.token;
    add(t.per_head.qk_pj), add(t.per_head.sv_pj), add(t.per_head.digital_pj), add(t.per_head.dac_pj);
    add(t.per_head.total_pj()), add(t.per_layer.total_pj() * 1e-3), add(t.layer_latency.total_ns());
    add(t.per_model.total_pj() * 1e-3), add(t.model_latency_ns), add(pt.summary.area.model_mm2());
    add(pt.summary.decay_per_token);
    for (auto& g : pt.summary.gpus) row.push_back(g.baseline), add(g.latency_ratio), add(g.energy_ratio);
    rows.push_back(row);
  }
  std::string s;
  for (auto& row : rows) {
    for (size_t k = 0; k < row.size(); ++k) s += (k ? "," : "") + row[k];
    s += "\n";
  }
  return s;
}

namespace {

// Series of one y quantity against the first key; one series per combination of the other keys.
LineChart against_first(const std::vector<SweepParam>& params, const std::vector<SweepPoint>& points,
                        double (*y)(const SweepPoint&)) {
  LineChart c;
  c.log_x = !params.empty() && params[0].key == "window";
  for (auto& pt : points) {
    std::string name;
    for (size_t k = 1; k < params.size(); ++k)
      name += (name.empty() ? "" : " ") + params[k].key + "=" + std::to_string(pt.values[k]);
    if (name.empty()) name = "gain-cell attention";
    Series* s = nullptr;
    for (auto& e : c.series)
      if (e.name == name) s = &e;
    if (!s) c.series.push_back({name, {}, {}}), s = &c.series.back();
    s->x.push_back(pt.values.empty() ? 0 : pt.values[0]);
    s->y.push_back(y(pt));
  }
  c.log_y = spans_decades(c.series, 1.0);
  return c;
}

BarChart ratio_bars(const std::vector<SweepPoint>& points, bool energy) {
  BarChart c;
  c.title = std::string(energy ? "Energy" : "Latency") + " ratio GPU / gain-cell attention (per layer, per token)";
  c.y_label = std::string(energy ? "energy" : "latency") + " ratio (x, log scale)";
  c.log_y = true;
  if (points.empty()) return c;
  for (auto& g : points[0].summary.gpus)
    c.categories.push_back(g.gpu.label + " (" + g.baseline + ")");  // the same baseline at every point
  for (auto& pt : points) {
    Series s{pt.label.empty() ? "gain-cell attention" : pt.label, {}, {}};
    for (auto& g : pt.summary.gpus) s.y.push_back(energy ? g.energy_ratio : g.latency_ratio);
    c.series.push_back(s);
  }
  return c;
}

}  // namespace

std::vector<std::string> write_sweep(const std::string& dir, const std::vector<SweepParam>& params,
                                     const std::vector<SweepPoint>& points) {
  make_dirs(dir);
  std::vector<std::string> written;
  auto put = [&](const std::string& name, const std::string& text) {
    write_file_atomic(dir + "/" + name, text);
    written.push_back(dir + "/" + name);
  };
  put("sweep.csv", sweep_csv(params, points));
  BarChart st;
  st.title = "Energy per head per token by component";
  st.y_label = "energy per head per token (pJ)";
  st.stacked = true;
  const char* names[] = {"phi(Q.K^T)", "phi(S).V", "digital & routing", "DAC"};
  for (int k = 0; k < 4; ++k) st.series.push_back({names[k], {}, {}});
  for (auto& pt : points) {
    st.categories.push_back(pt.label.empty() ? "base" : pt.label);
    const EnergyBreakdown& e = pt.summary.token.per_head;
    st.series[0].y.push_back(e.qk_pj), st.series[1].y.push_back(e.sv_pj);
    st.series[2].y.push_back(e.digital_pj), st.series[3].y.push_back(e.dac_pj);
  }
  put("energy_breakdown.svg", bar_chart_svg(st));
  const std::string key = params.empty() ? "window" : params[0].key;
  const std::string unit = key == "window" ? " (tokens)" : key.find("bits") != std::string::npos ? " (bits)" : "";
  LineChart lat =
      against_first(params, points, [](const SweepPoint& p) { return p.summary.token.layer_latency.total_ns(); });
  lat.title = "Latency per token per layer against " + key;
  lat.x_label = key + unit;
  lat.y_label = "latency per token per layer (ns)";
  put("latency_vs_" + key + ".svg", line_chart_svg(lat));
  LineChart en =
      against_first(params, points, [](const SweepPoint& p) { return p.summary.token.per_layer.total_pj() * 1e-3; });
  en.title = "Energy per token per layer against " + key;
  en.x_label = key + unit;
  en.y_label = "energy per token per layer (nJ)";
  put("energy_vs_" + key + ".svg", line_chart_svg(en));
  put("ratio_latency.svg", bar_chart_svg(ratio_bars(points, false)));
  put("ratio_energy.svg", bar_chart_svg(ratio_bars(points, true)));
  return written;
}

}  // namespace gaincell
