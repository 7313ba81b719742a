// `gaincell sweep merge DIR` (and the end of every sweep run): the point files of DIR/points, in any number and
// from any shards, become
//   points.csv          one row per point: point, the swept keys but seed, seed, status, every metric, error;
//   summary.csv         one row per setting of the swept keys other than seed: n (points ok), then the mean and
//                       the sample standard deviation over seeds of every metric (<metric>_mean, <metric>_std);
//   <metric>_vs_<key>.svg, energy_vs_<key>.svg   the accuracy metric (perplexity, accuracy or acc) and the
//                       energy per token (means over seeds) against each swept key, one series per setting of
//                       the other keys; retention_s (and any key spanning decades) on a log axis;
//   pareto.svg          energy per token against the accuracy metric: every setting, and its Pareto front.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"
#include "cost/svg_plot.h"
#include "experiments/hw_sweep.h"

namespace gaincell {
namespace {

using Json = nlohmann::ordered_json;

// The shortest text that reads back as the same double ("1e-07", "0.5", "4").
std::string csv_num(double v) {
  char b[64];
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    std::snprintf(b, sizeof b, "%.0f", v);
    return b;
  }
  for (int digits = 1; digits <= 17; ++digits) {
    std::snprintf(b, sizeof b, "%.*g", digits, v);
    if (std::strtod(b, nullptr) == v) break;
  }
  return b;
}

std::string csv_text(const std::string& s) {
  std::string q = "\"";
  for (char ch : s) q += ch == '"' ? std::string("\"\"") : std::string(1, ch == '\n' ? ' ' : ch);
  return q + "\"";
}

// The accuracy metric of a task and whether lower is better.
std::string accuracy_metric(const std::string& task, bool& lower_better) {
  lower_better = task == "perplexity";
  return task == "perplexity" ? "perplexity" : task == "lambada" ? "accuracy" : "acc";
}

struct Setting {
  std::vector<double> values;  // the swept keys other than seed
  std::map<std::string, std::vector<double>> metrics;
};

double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? NAN : s / double(v.size());
}

double std_of(const std::vector<double>& v) {
  if (v.size() < 2) return v.empty() ? NAN : 0.0;
  const double m = mean_of(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / double(v.size() - 1));
}

std::string label_of(const std::vector<std::string>& keys, const std::vector<double>& values, size_t skip) {
  std::string s;
  for (size_t k = 0; k < keys.size(); ++k)
    if (k != skip) s += (s.empty() ? "" : " ") + keys[k] + "=" + csv_num(values[k]);
  return s.empty() ? "gain-cell attention" : s;
}

LineChart plot_against(const std::vector<std::string>& keys, const std::vector<Setting>& settings, size_t k,
                       const std::string& metric) {
  LineChart c;
  for (const Setting& s : settings) {
    auto it = s.metrics.find(metric);
    if (it == s.metrics.end()) continue;
    const std::string name = label_of(keys, s.values, k);
    Series* sr = nullptr;
    for (auto& e : c.series)
      if (e.name == name) sr = &e;
    if (!sr) c.series.push_back({name, {}, {}}), sr = &c.series.back();
    sr->x.push_back(s.values[k]);
    sr->y.push_back(mean_of(it->second));
  }
  for (auto& sr : c.series) {  // x ascending within each series
    std::vector<size_t> ord(sr.x.size());
    for (size_t i = 0; i < ord.size(); ++i) ord[i] = i;
    std::sort(ord.begin(), ord.end(), [&](size_t a, size_t b) { return sr.x[a] < sr.x[b]; });
    Series t{sr.name, {}, {}};
    for (size_t i : ord) t.x.push_back(sr.x[i]), t.y.push_back(sr.y[i]);
    sr = t;
  }
  std::vector<Series> xs;
  for (auto& sr : c.series) xs.push_back({sr.name, {}, sr.x});
  c.log_x = keys[k] == "retention_s" || keys[k] == "leakage.retention_tau_s" || spans_decades(xs, 2.0);
  c.log_y = spans_decades(c.series, 1.0);
  return c;
}

}  // namespace

std::vector<std::string> merge_hw_sweep(const std::vector<std::string>& dirs, const std::string& dir) {
  namespace fs = std::filesystem;
  std::map<int64_t, Json> by_index;
  std::string where;
  for (const std::string& d : dirs) {
    where += (where.empty() ? "'" : ", '") + d + "'";
    std::vector<std::string> files;
    if (fs::is_directory(d + "/points"))
      for (auto& e : fs::directory_iterator(d + "/points")) {
        const std::string n = e.path().filename().string();
        if (n.size() > 5 && n.compare(n.size() - 5, 5, ".json") == 0) files.push_back(e.path().string());
      }
    std::sort(files.begin(), files.end());
    for (auto& f : files) {
      Json j = Json::parse(read_file(f), nullptr, false);
      if (j.is_discarded() || !j.contains("settings") || !j["settings"].is_object() || !j.contains("point") ||
          !j["point"].is_number_integer())
        fail_expected("sweep", "a sweep point file (JSON with 'point' and 'settings')", "something else",
                      "in '" + f + "'");
      const int64_t i = j["point"].get<int64_t>();
      auto it = by_index.find(i);
      if (it == by_index.end() || (it->second.value("status", "") != "ok" && j.value("status", "") == "ok"))
        by_index[i] = std::move(j);
    }
  }
  if (by_index.empty()) fail_expected("sweep", "point files DIR/points/point_*.json", "none", "in " + where);
  std::vector<Json> points;
  for (auto& [i, j] : by_index) points.push_back(std::move(j));
  make_dirs(dir);
  std::vector<std::string> keys;
  for (auto& [k, v] : points[0]["settings"].items()) keys.push_back(k);
  const std::string task = points[0].value("task", "perplexity");
  std::vector<std::string> metrics;
  for (auto& p : points)
    if (p.value("status", "") == "ok")
      for (auto& [m, v] : p["metrics"].items())
        if (v.is_number() && std::find(metrics.begin(), metrics.end(), m) == metrics.end()) metrics.push_back(m);
  std::vector<std::string> written;
  auto put = [&](const std::string& name, const std::string& text) {
    write_file_atomic(dir + "/" + name, text);
    written.push_back(dir + "/" + name);
  };
  // points.csv
  std::string csv = "point";
  for (auto& k : keys)
    if (k != "seed") csv += "," + k;  // a swept seed is the seed column
  csv += ",seed,status";
  for (auto& m : metrics) csv += "," + m;
  csv += ",error\n";
  std::vector<std::string> groups;  // the swept keys other than seed
  for (auto& k : keys)
    if (k != "seed") groups.push_back(k);
  std::vector<Setting> settings;
  for (auto& p : points) {
    std::vector<double> gv;
    csv += std::to_string(p["point"].get<int64_t>());
    for (auto& k : keys) {
      const double v = p["settings"].value(k, std::nan(""));
      if (k != "seed") csv += "," + csv_num(v), gv.push_back(v);
    }
    const bool ok = p.value("status", "") == "ok";
    csv += "," + std::to_string(p.value("seed", uint64_t{0})) + "," + (ok ? "ok" : "error");
    for (auto& m : metrics)
      csv += "," + (ok && p["metrics"].contains(m) ? csv_num(p["metrics"][m].get<double>()) : std::string());
    csv += "," + (ok ? std::string() : csv_text(p.value("error", ""))) + "\n";
    Setting* s = nullptr;
    for (auto& e : settings)
      if (e.values == gv) s = &e;
    if (!s) settings.push_back({gv, {}}), s = &settings.back();
    if (ok)
      for (auto& m : metrics)
        if (p["metrics"].contains(m)) s->metrics[m].push_back(p["metrics"][m].get<double>());
  }
  put("points.csv", csv);
  // summary.csv
  std::string sum;
  for (auto& k : groups) sum += k + ",";
  sum += "n";
  for (auto& m : metrics) sum += "," + m + "_mean," + m + "_std";
  sum += "\n";
  for (auto& s : settings) {
    for (double v : s.values) sum += csv_num(v) + ",";
    sum += std::to_string(s.metrics.empty() ? 0 : s.metrics.begin()->second.size());
    for (auto& m : metrics) {
      auto it = s.metrics.find(m);
      sum += it == s.metrics.end() ? std::string(",,")
                                   : "," + csv_num(mean_of(it->second)) + "," + csv_num(std_of(it->second));
    }
    sum += "\n";
  }
  put("summary.csv", sum);
  // Plots against each swept key.
  bool lower_better = true;
  const std::string acc = accuracy_metric(task, lower_better);
  for (size_t k = 0; k < groups.size(); ++k) {
    LineChart a = plot_against(groups, settings, k, acc);
    a.title = acc + " against " + groups[k] + " (mean over seeds)";
    a.x_label = groups[k];
    a.y_label = acc + " (" + task + ")";
    put(acc + "_vs_" + groups[k] + ".svg", line_chart_svg(a));
    LineChart e = plot_against(groups, settings, k, "energy_per_token_nj");
    e.title = "Attention energy per token against " + groups[k];
    e.x_label = groups[k];
    e.y_label = "energy per token, all layers (nJ)";
    put("energy_vs_" + groups[k] + ".svg", line_chart_svg(e));
  }
  // The accuracy / energy Pareto front: settings no other setting beats on both.
  LineChart pc;
  pc.title = "Accuracy against energy: every setting and the Pareto front";
  pc.x_label = "energy per token, all layers (nJ)";
  pc.y_label = acc + (lower_better ? " (lower is better)" : " (higher is better)");
  Series all{"settings", {}, {}, true}, front{"Pareto front", {}, {}};
  std::vector<std::pair<double, double>> pts;
  for (auto& s : settings) {
    auto a = s.metrics.find(acc), e = s.metrics.find("energy_per_token_nj");
    if (a == s.metrics.end() || e == s.metrics.end()) continue;
    pts.push_back({mean_of(e->second), mean_of(a->second)});
    all.x.push_back(pts.back().first), all.y.push_back(pts.back().second);
  }
  std::sort(pts.begin(), pts.end());
  double best = lower_better ? INFINITY : -INFINITY;
  for (auto& [e, a] : pts)
    if (lower_better ? a < best : a > best) best = a, front.x.push_back(e), front.y.push_back(a);
  pc.series = {all, front};
  put("pareto.svg", line_chart_svg(pc));
  return written;
}

}  // namespace gaincell
