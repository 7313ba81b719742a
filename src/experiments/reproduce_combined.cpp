// The side-by-side report of several `gaincell reproduce` profiles (`--profile all`): one table row per
// quantity, one column per model, and a grouped bar chart of the four losses; rendered from the combined JSON
// alone (reproduce_report.h).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>

#include "core/file.h"
#include "cost/svg_plot.h"
#include "experiments/reproduce_report.h"

namespace gaincell {
namespace {

using Json = nlohmann::ordered_json;

// v formatted, "?" when missing (NaN: a failed profile has no numbers).
std::string combined_fmt(const char* f, double v) {
  if (std::isnan(v)) return "?";
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

// j[a][b] as a number, NaN when missing (a report of a partial JSON shows "nan", never throws).
double combined_num(const Json& j, const char* a, const char* b = nullptr) {
  if (!j.is_object() || !j.contains(a)) return NAN;
  const Json& v = j[a];
  if (b == nullptr) return v.is_number() ? v.get<double>() : NAN;
  return v.is_object() && v.contains(b) && v[b].is_number() ? v[b].get<double>() : NAN;
}

std::string combined_str(const Json& j, const char* a, const char* b = nullptr) {
  if (!j.is_object() || !j.contains(a)) return "?";
  const Json& v = b == nullptr ? j[a] : (j[a].is_object() && j[a].contains(b) ? j[a][b] : Json());
  return v.is_string() ? v.get<std::string>() : v.is_number() ? v.dump() : "?";
}

const char* kLossKeys[] = {"baseline", "direct_mapping", "adaptation", "control"};
const char* kLossNames[] = {"softmax baseline", "direct mapping", "adapted", "control (scratch, same steps)"};

// The table: first row the header (quantity, then one column per profile), then one row per quantity.
std::vector<std::vector<std::string>> combined_rows(const Json& all) {
  const Json& ps = all["profiles"];
  std::vector<std::vector<std::string>> rows{{"quantity"}};
  for (const auto& r : ps) rows[0].push_back(combined_str(r, "profile_name") + " (" + combined_str(r, "profile") + ")");
  auto add = [&](const std::string& name, const std::function<std::string(const Json&)>& cell) {
    std::vector<std::string> row{name};
    for (const auto& r : ps) row.push_back(cell(r));
    rows.push_back(row);
  };
  add("status", [](const Json& r) { return r.contains("error") ? "FAILED: " + combined_str(r, "error") : "ok"; });
  add("model", [](const Json& r) { return combined_str(r, "model", "label"); });
  add("layers x heads (KV heads) x head dim", [](const Json& r) {
    return combined_str(r, "model", "n_layer") + " x " + combined_str(r, "model", "n_head") + " (" +
           combined_str(r, "model", "n_kv_head") + ") x " + combined_str(r, "model", "head_dim");
  });
  add("parameters", [](const Json& r) { return combined_str(r, "model", "parameters"); });
  add("data, tokenization", [](const Json& r) {
    return combined_str(r, "data", "name") + ", " + combined_str(r, "data", "tokenization") + " (vocab " +
           combined_str(r, "model", "vocab_size") + ")";
  });
  add("tokens: adapt / monitor / held out", [](const Json& r) {
    return combined_str(r, "data", "train_tokens") + " / " + combined_str(r, "data", "monitor_tokens") + " / " +
           combined_str(r, "data", "val_tokens");
  });
  add("eval: windows x context",
      [](const Json& r) { return combined_str(r, "eval", "windows") + " x " + combined_str(r, "eval", "context"); });
  for (int i = 0; i < 4; ++i)
    add(std::string(kLossNames[i]) + " loss (nats/token)",
        [i](const Json& r) { return combined_fmt("%.4f", combined_num(r, kLossKeys[i], "val_loss")); });
  add("gap closed by the adaptation", [](const Json& r) {
    const double b = combined_num(r, "baseline", "val_loss"), d = combined_num(r, "direct_mapping", "val_loss");
    const double a = combined_num(r, "adaptation", "val_loss");
    return combined_fmt("%.0f%%", 100.0 * (d - a) / std::max(1e-9, d - b));
  });
  add("adaptation steps (linear / calibration / nonlinear)", [](const Json& r) {
    return combined_str(r, "adaptation", "linear_steps") + " / " +
           combined_str(r, "adaptation", "calibration_iterations") + " / " +
           combined_str(r, "adaptation", "finetune_steps");
  });
  add("generated, softmax", [](const Json& r) { return combined_str(r, "generation", "baseline"); });
  add("generated, adapted", [](const Json& r) { return combined_str(r, "generation", "adapted"); });
  add("attention energy (nJ/token, all layers)", [](const Json& r) {
    return r.contains("cost") && !r["cost"].empty()
               ? combined_fmt("%.3f", combined_num(r["cost"][0], "energy_pj_per_token", "total") / 1e3)
               : std::string("?");
  });
  add("attention latency (ns/token)", [](const Json& r) {
    return r.contains("cost") && !r["cost"].empty()
               ? combined_fmt("%.1f", combined_num(r["cost"][0], "latency_ns_per_token"))
               : std::string("?");
  });
  add("energy ratio vs H100 (attention)", [](const Json& r) {
    return r.contains("cost") && !r["cost"].empty() && !r["cost"][0]["gpus"].empty()
               ? combined_fmt("%.0fx", combined_num(r["cost"][0]["gpus"][0], "energy_ratio"))
               : std::string("?");
  });
  auto sweep_end = [](const Json& r, const char* list, const char* key) {
    if (!r.contains("robustness") || !r["robustness"].contains(list) || r["robustness"][list].empty())
      return std::string("?");
    const Json& p = r["robustness"][list].back();
    return combined_fmt("%.4f", combined_num(p, "val_loss")) + " at " + combined_fmt("%g", combined_num(p, key));
  };
  add("adapted loss at the largest cell gain sigma",
      [&](const Json& r) { return sweep_end(r, "cell_gain_sigma", "cell_gain_sigma"); });
  add("adapted loss at the shortest retention (s)",
      [&](const Json& r) { return sweep_end(r, "retention", "retention_s"); });
  add("wall time (s)", [](const Json& r) { return combined_fmt("%.0f", combined_num(r, "seconds")); });
  add("full report", [](const Json& r) { return combined_str(r, "profile_name") + "/report.md"; });
  return rows;
}

std::string combined_title() {
  return "gaincell reproduce: gain-cell attention on two models side by side";
}

std::string combined_intro(const Json& all) {
  std::string s =
      "Every profile ran the same pipeline (docs/reproduce.md): softmax baseline, direct mapping onto "
      "gain-cell arrays, the adaptation (linear fine-tune, calibration, nonlinear fine-tune), a "
      "gain-cell model trained from scratch for the same optimizer steps, generated text, cost and "
      "robustness; each loss is the mean next-token cross-entropy on a held-out split no stage trained "
      "on (a byte is the token of the byte-level model). Each profile's folder holds its full report.";
  if (all.contains("provenance") && all["provenance"].is_object())
    s += " Produced by gaincell " + combined_str(all["provenance"], "gaincell_version") + " (commit " +
         combined_str(all["provenance"], "git_commit") + "), GEMM: " + combined_str(all["provenance"], "gemm") +
         ", command: " + combined_str(all["provenance"], "command_line") + "; " +
         combined_fmt("%.0f", combined_num(all, "seconds")) + " s in all.";
  return s;
}

std::string combined_md_cell(const std::string& s) {
  std::string o;
  for (char ch : s) o += ch == '\n' ? std::string("<br>") : ch == '|' ? std::string("\\|") : std::string(1, ch);
  return o;
}

}  // namespace

std::string reproduce_combined_figure_svg(const Json& all) {
  BarChart c{"Held-out loss per model (nats per token)", "loss (nats/token)", {}, {}, false, false};
  for (int i = 0; i < 4; ++i) c.series.push_back({kLossNames[i], {}, {}});
  for (const auto& r : all["profiles"]) {
    if (r.contains("error")) continue;  // a failed profile has no losses
    c.categories.push_back(combined_str(r, "profile_name"));
    for (int i = 0; i < 4; ++i) c.series[i].y.push_back(combined_num(r, kLossKeys[i], "val_loss"));
  }
  return bar_chart_svg(c);
}

std::string reproduce_combined_markdown(const Json& all) {
  std::string o = "# " + combined_title() + "\n\n" + combined_intro(all) + "\n\n";
  const auto rows = combined_rows(all);
  for (size_t i = 0; i < rows.size(); ++i) {
    o += "|";
    for (const auto& cell : rows[i]) {
      o += ' ';
      o += combined_md_cell(cell);
      o += " |";
    }
    o += "\n";
    if (i == 0) {
      o += "|";
      for (size_t k = 0; k < rows[0].size(); ++k) o += "---|";
      o += "\n";
    }
  }
  return o + "\n![" + std::string(kCombinedFigure) + "](" + kCombinedFigure + ".svg)\n";
}

std::string reproduce_combined_html(const Json& all) {
  std::string o =
      "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>gaincell reproduce</title><style>"
      "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}table{border-collapse:collapse;"
      "margin:1em 0}td,th{border:1px solid #bbb;padding:4px 8px;vertical-align:top}td{white-space:pre-wrap}"
      "figure{margin:1em 0}</style></head><body>\n<h1>" +
      xml_escape(combined_title()) + "</h1>\n<p>" + xml_escape(combined_intro(all)) + "</p>\n<table>\n";
  const auto rows = combined_rows(all);
  for (size_t i = 0; i < rows.size(); ++i) {
    o += "<tr>";
    for (const auto& cell : rows[i]) o += (i == 0 ? "<th>" : "<td>") + xml_escape(cell) + (i == 0 ? "</th>" : "</td>");
    o += "</tr>\n";
  }
  std::string svg = reproduce_combined_figure_svg(all);
  if (svg.rfind("<?xml", 0) == 0) svg.erase(0, svg.find("?>") + 2);
  while (!svg.empty() && (svg[0] == '\n' || svg[0] == ' ')) svg.erase(0, 1);
  return o + "</table>\n<figure id=\"" + kCombinedFigure + "\">" + svg + "</figure>\n</body></html>\n";
}

void write_reproduce_combined_outputs(const std::string& dir, const Json& all) {
  write_file_atomic(dir + "/results.json", all.dump(2, ' ', false, Json::error_handler_t::replace) + "\n");
  write_file_atomic(dir + "/" + kCombinedFigure + ".svg", reproduce_combined_figure_svg(all));
  write_file_atomic(dir + "/report.md", reproduce_combined_markdown(all));
  write_file_atomic(dir + "/report.html", reproduce_combined_html(all));
}

}  // namespace gaincell
