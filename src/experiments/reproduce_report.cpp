// report.md and report.html of `gaincell reproduce`, both rendered from the results JSON through one list of
// blocks (so they say the same), with the figures as SVG (inline in the HTML, files next to the Markdown).
#include "experiments/reproduce_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/file.h"
#include "cost/svg_plot.h"
#include "experiments/text_format.h"

namespace gaincell {
namespace {

using Json = nlohmann::ordered_json;

double num(const Json& j, const char* key) {
  return j.contains(key) ? j[key].get<double>() : NAN;
}

// [[step, loss], ...] -> a series of at most kCurvePoints points.
Series curve(const std::string& name, const Json& pts, double x_offset = 0) {
  Series s{name, {}, {}};
  for (const auto& p : pts) {
    s.x.push_back(p[0].get<double>() + x_offset);
    s.y.push_back(p[1].is_number() ? p[1].get<double>() : NAN);
  }
  return downsample_mean(s, kCurvePoints);
}

// j[key], or null when j is no object or lacks the key (operator[] of a const JSON must not miss).
const Json& member(const Json& j, const char* key) {
  static const Json none;
  return j.is_object() && j.contains(key) ? j[key] : none;
}

std::string str(const Json& j, const char* key, const std::string& fallback) {
  const Json& v = member(j, key);
  return v.is_string() ? v.get<std::string>() : fallback;
}

// "byte" for a byte-level run, else "token".
std::string token_unit(const Json& r) {
  return str(member(r, "data"), "tokenization", "bytes") == "bytes" ? "byte" : "token";
}

std::string title(const Json& r) {
  return "gaincell reproduce: gain-cell attention on " + str(r, "title", str(member(r, "model"), "label", "a model"));
}

Series flat(const std::string& name, const std::vector<double>& x, double y) {
  return Series{name, x, std::vector<double>(x.size(), y)};
}

std::string loss_curves(const Json& r) {
  LineChart c{"Training loss of every run (means over runs of steps)",
              "optimizer step",
              "training loss (nats per " + token_unit(r) + ")",
              false,
              false,
              {}};
  const Json& k = r["curves"];
  if (k.contains("pretrain") && !k["pretrain"].empty())
    c.series.push_back(curve("pre-training (softmax)", k["pretrain"]));
  double n1 = 0;
  if (k.contains("linear") && !k["linear"].empty()) {
    c.series.push_back(curve("adapt 1: linear cells", k["linear"]));
    n1 = k["linear"].back()[0].get<double>();
  }
  if (k.contains("finetune") && !k["finetune"].empty())
    c.series.push_back(curve("adapt 3: gaincell", k["finetune"], n1));
  if (k.contains("control") && !k["control"].empty()) c.series.push_back(curve("control (from scratch)", k["control"]));
  return line_chart_svg(c);
}

std::string calibration_trace(const Json& r) {
  LineChart c{"Calibration trace (stage 2)", "iteration", "loss (nats per " + token_unit(r) + ")", false, false, {}};
  Series loss{"calibration batch", {}, {}}, val{"validation batch", {}, {}};
  for (const auto& t : r["calibration_trace"]) {
    loss.x.push_back(t["iteration"].get<double>());
    loss.y.push_back(t["loss"].get<double>());
    val.x.push_back(t["iteration"].get<double>());
    val.y.push_back(t["val_loss"].get<double>());
  }
  c.series = {loss, val};
  if (!loss.x.empty()) c.series.push_back(flat("softmax baseline", loss.x, num(r["baseline"], "val_loss")));
  return line_chart_svg(c);
}

std::string energy_breakdown(const Json& r) {
  BarChart c{"Gain-cell attention energy per token (all layers)", "energy per token (pJ)", {}, {}, false, true};
  const char* keys[] = {"qk", "sv", "digital", "dac"};
  const char* names[] = {"phi(Q.K^T)", "phi(S).V", "digital & routing", "DAC"};
  for (int i = 0; i < 4; ++i) c.series.push_back({names[i], {}, {}});
  for (const auto& m : r["cost"]) {
    c.categories.push_back(m["model"].get<std::string>());
    for (int i = 0; i < 4; ++i) c.series[i].y.push_back(m["energy_pj_per_token"][keys[i]].get<double>());
  }
  return bar_chart_svg(c);
}

std::string ratio_bars(const Json& r, const char* key, const std::string& what) {
  BarChart c{"GPU attention / gain-cell attention: " + what + " per token and layer",
             what + " ratio (x)",
             {},
             {},
             false,
             true};
  for (const auto& m : r["cost"]) {
    Series s{m["model"].get<std::string>(), {}, {}};
    for (const auto& g : m["gpus"]) {
      if (c.series.empty()) c.categories.push_back(g["gpu"].get<std::string>());
      s.y.push_back(g[key].get<double>());
    }
    c.series.push_back(s);
  }
  return bar_chart_svg(c);
}

std::string robustness(const Json& r, const char* list, const char* key, const std::string& title,
                       const std::string& x_label, bool log_x) {
  LineChart c{title, x_label, "validation loss (nats per " + token_unit(r) + ")", log_x, false, {}};
  Series s{"adapted gaincell", {}, {}};
  for (const auto& p : r["robustness"][list]) {
    s.x.push_back(p[key].get<double>());
    s.y.push_back(p["val_loss"].get<double>());
  }
  c.series = {s, flat("softmax baseline", s.x, num(r["baseline"], "val_loss")),
              flat("direct mapping", s.x, num(r["direct_mapping"], "val_loss"))};
  return line_chart_svg(c);
}

// The report as blocks: heading (level 2), paragraph, table (first row = header), pre, figure.
struct Block {
  enum Kind { kHeading, kPara, kTable, kPre, kFigure } kind;
  std::string text;
  std::vector<std::vector<std::string>> rows;
};

// " (adaptation 40 s, control 20 s, ...)": where the run's time went, from results.json's timings_s.
std::string phase_times(const Json& r) {
  if (!r.contains("timings_s") || !r["timings_s"].is_object()) return "";
  std::string s;
  for (const auto& [phase, sec] : r["timings_s"].items()) {
    if (!sec.is_number()) continue;
    s += (s.empty() ? " (" : ", ") + phase + " " + fmt("%.0f", sec.get<double>()) + " s";
  }
  return s.empty() ? s : s + ")";
}

std::vector<Block> blocks(const Json& r) {
  std::vector<Block> b;
  auto h = [&](const std::string& t) { b.push_back({Block::kHeading, t, {}}); };
  auto p = [&](const std::string& t) { b.push_back({Block::kPara, t, {}}); };
  auto fig = [&](const std::string& id) { b.push_back({Block::kFigure, id, {}}); };
  const Json& m = r["model"];
  const Json& d = r["data"];
  const std::string unit = token_unit(r);
  p("Profile `" + r["profile"].get<std::string>() + "` of `" + str(r, "profile_name", "?") + "`, seed " +
    std::to_string(r["seed"].get<uint64_t>()) + ", " + fmt("%.0f", num(r, "seconds")) + " s" + phase_times(r) +
    ". Model: " + str(m, "label", "?") + ", " + std::to_string(m["n_layer"].get<int>()) + " layers x " +
    std::to_string(m["n_head"].get<int>()) + " heads" +
    (m.value("n_kv_head", m["n_head"].get<int>()) != m["n_head"].get<int>()
         ? " (" + std::to_string(m["n_kv_head"].get<int>()) + " KV heads, each a pair of arrays shared by its group)"
         : std::string()) +
    " x head dim " + std::to_string(m["head_dim"].get<int>()) +
    (m["head_dim"].get<int>() == 64 ? " (one head fills a 64x64 array), " : ", ") +
    std::to_string(m["parameters"].get<int64_t>()) + " parameters, context " +
    std::to_string(m["n_positions"].get<int>()) + ". Losses: mean next-" + unit + " cross-entropy on " +
    std::to_string(r["eval"]["windows"].get<int>()) + " fixed windows of " +
    std::to_string(r["eval"]["context"].get<int>()) + " " + unit + "s of the held-out split of " +
    str(d, "name", "the corpus") + " (" + str(d, "split", "?") + ").");
  if (r.contains("machine") && r["machine"].is_object())
    p("GEMM: " + r["machine"].value("gemm", std::string("?")) + ", " +
      std::to_string(r["machine"].value("threads", 0)) +
      " threads. The losses repeat to the last digit on a machine with the same GEMM kernel; another kernel (another "
      "CPU) changes their last digits, not the comparisons (docs/reproduce.md).");
  if (r.contains("provenance") && r["provenance"].is_object()) {
    const Json& v = r["provenance"];
    p("Produced by gaincell " + str(v, "gaincell_version", "?") + " (commit " + str(v, "git_commit", "?") + ") on " +
      str(v, "cpu", "?") + ", command: " + str(v, "command_line", "?") + ".");
  }
  h("Accuracy: softmax, direct mapping, adaptation, control");
  Block t{Block::kTable, "", {{"model", "attention", "val loss (nats/" + unit + ")", "perplexity"}}};
  auto row = [&](const std::string& name, const Json& j, const std::string& att) {
    t.rows.push_back({name, att, fmt("%.4f", num(j, "val_loss")), fmt("%.3f", num(j, "perplexity"))});
  };
  row("baseline (pre-trained model)", r["baseline"], "softmax");
  row("direct mapping, no adaptation", r["direct_mapping"], "gaincell");
  row("adapted: linear fine-tune, calibration, nonlinear fine-tune", r["adaptation"], "gaincell");
  row("control: trained from scratch, " + std::to_string(r["control"]["steps"].get<int64_t>()) + " steps", r["control"],
      "gaincell");
  b.push_back(t);
  const double vocab = m.value("vocab_size", 0.0);
  p("Random guessing over " + fmt("%.0f", vocab) + " " + unit + "s costs ln " + fmt("%.0f", vocab) + " = " +
    fmt("%.3f", std::log(vocab)) + " nats. The adaptation closes " +
    fmt("%.0f", 100.0 * (num(r["direct_mapping"], "val_loss") - num(r["adaptation"], "val_loss")) /
                    std::max(1e-9, num(r["direct_mapping"], "val_loss") - num(r["baseline"], "val_loss"))) +
    "% of the gap between direct mapping and the softmax baseline.");
  fig("loss_curves");
  fig("calibration_trace");
  h("Generated text (prompt " + Json(str(r["generation"], "prompt", "")).dump() + ", temperature " +
    fmt("%g", num(r["generation"], "temperature")) + ")");
  b.push_back({Block::kTable,
               "",
               {{"softmax baseline", "adapted gaincell (streaming decoder)"},
                {r["generation"]["baseline"].get<std::string>(), r["generation"]["adapted"].get<std::string>()}}});
  h("Energy, latency and area per token against GPUs (paper configuration)");
  Block c{Block::kTable,
          "",
          {{"model", "energy (nJ/token)", "latency (ns/token)", "area (mm2)", "energy vs H100", "latency vs H100"}}};
  for (const auto& x : r["cost"])
    c.rows.push_back({x["model"].get<std::string>(), fmt("%.3f", x["energy_pj_per_token"]["total"].get<double>() / 1e3),
                      fmt("%.1f", num(x, "latency_ns_per_token")), fmt("%.3f", num(x, "area_mm2")),
                      fmt("%.0fx", x["gpus"][0]["energy_ratio"].get<double>()),
                      fmt("%.0fx", x["gpus"][0]["latency_ratio"].get<double>())});
  b.push_back(c);
  fig("energy_breakdown");
  fig("energy_ratio_bars");
  fig("latency_ratio_bars");
  h("Robustness of the adapted model");
  Block s{Block::kTable, "", {{"cell gain sigma", "val loss"}}};
  for (const auto& x : r["robustness"]["cell_gain_sigma"])
    s.rows.push_back({fmt("%.3g", num(x, "cell_gain_sigma")), fmt("%.4f", num(x, "val_loss"))});
  b.push_back(s);
  Block rt{Block::kTable, "", {{"retention (s)", "decay per token", "val loss"}}};
  for (const auto& x : r["robustness"]["retention"])
    rt.rows.push_back(
        {fmt("%.3g", num(x, "retention_s")), fmt("%.3g", num(x, "decay_per_token")), fmt("%.4f", num(x, "val_loss"))});
  b.push_back(rt);
  fig("robustness_sigma");
  fig("robustness_retention");
  return b;
}

// An SVG document without its XML declaration, for inlining into HTML.
std::string inline_svg(std::string svg) {
  if (svg.rfind("<?xml", 0) == 0) svg.erase(0, svg.find("?>") + 2);
  while (!svg.empty() && (svg[0] == '\n' || svg[0] == ' ')) svg.erase(0, 1);
  return svg;
}

std::string html_escape(const std::string& s) {
  return xml_escape(s);
}

std::string md_cell(std::string s) {
  std::string o;
  for (char ch : s) o += ch == '\n' ? std::string("<br>") : ch == '|' ? std::string("\\|") : std::string(1, ch);
  return o;
}

}  // namespace

const std::vector<std::string>& reproduce_figures() {
  static const std::vector<std::string> k = {"loss_curves",         "calibration_trace",  "energy_breakdown",
                                             "energy_ratio_bars",   "latency_ratio_bars", "robustness_sigma",
                                             "robustness_retention"};
  return k;
}

std::string reproduce_figure_svg(const Json& r, const std::string& f) {
  if (f == "loss_curves") return loss_curves(r);
  if (f == "calibration_trace") return calibration_trace(r);
  if (f == "energy_breakdown") return energy_breakdown(r);
  if (f == "energy_ratio_bars") return ratio_bars(r, "energy_ratio", "energy");
  if (f == "latency_ratio_bars") return ratio_bars(r, "latency_ratio", "latency");
  if (f == "robustness_sigma")
    return robustness(r, "cell_gain_sigma", "cell_gain_sigma", "Loss against device-to-device gain variability",
                      "cell gain sigma (relative)", false);
  return robustness(r, "retention", "retention_s", "Loss against cell retention time", "retention time (s)", true);
}

std::string reproduce_markdown(const Json& r) {
  std::string o = "# " + title(r) + "\n\n";
  for (const Block& b : blocks(r)) {
    if (b.kind == Block::kHeading) o += "## " + b.text + "\n\n";
    if (b.kind == Block::kPara) o += b.text + "\n\n";
    if (b.kind == Block::kFigure) o += "![" + b.text + "](" + b.text + ".svg)\n\n";
    if (b.kind == Block::kTable) {
      for (size_t i = 0; i < b.rows.size(); ++i) {
        o += "|";
        for (const auto& cell : b.rows[i]) {
          o += ' ';  // not " " + md_cell(...): GCC 12 warns falsely (-Wrestrict) on that
          o += md_cell(cell);
          o += " |";
        }
        o += "\n";
        if (i == 0) {
          o += "|";
          for (size_t k = 0; k < b.rows[0].size(); ++k) o += "---|";
          o += "\n";
        }
      }
      o += "\n";
    }
  }
  return o;
}

std::string reproduce_html(const Json& r) {
  std::string o =
      "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>gaincell reproduce</title><style>"
      "body{font-family:sans-serif;max-width:980px;margin:2em auto;padding:0 1em}table{border-collapse:collapse;"
      "margin:1em 0}td,th{border:1px solid #bbb;padding:4px 8px;vertical-align:top}td{white-space:pre-wrap}"
      "figure{margin:1em 0}</style></head><body>\n"
      "<h1>" +
      html_escape(title(r)) + "</h1>\n";
  for (const Block& b : blocks(r)) {
    if (b.kind == Block::kHeading) o += "<h2>" + html_escape(b.text) + "</h2>\n";
    if (b.kind == Block::kPara) o += "<p>" + html_escape(b.text) + "</p>\n";
    if (b.kind == Block::kFigure)
      o += "<figure id=\"" + b.text + "\">" + inline_svg(reproduce_figure_svg(r, b.text)) + "</figure>\n";
    if (b.kind == Block::kTable) {
      o += "<table>\n";
      for (size_t i = 0; i < b.rows.size(); ++i) {
        o += "<tr>";
        for (const auto& cell : b.rows[i])
          o += (i == 0 ? "<th>" : "<td>") + html_escape(cell) + (i == 0 ? "</th>" : "</td>");
        o += "</tr>\n";
      }
      o += "</table>\n";
    }
  }
  return o + "</body></html>\n";
}

}  // namespace gaincell

namespace gaincell {

void write_reproduce_outputs(const std::string& dir, const Json& r) {
  // Text sampled from a byte-level model need not be UTF-8 (an untrained one emits any byte): such bytes are
  // written as U+FFFD instead of failing the whole run at its last step.
  write_file_atomic(dir + "/results.json", r.dump(2, ' ', false, Json::error_handler_t::replace) + "\n");
  for (const std::string& f : reproduce_figures())
    write_file_atomic(dir + "/" + f + ".svg", reproduce_figure_svg(r, f));
  write_file_atomic(dir + "/report.md", reproduce_markdown(r));
  write_file_atomic(dir + "/report.html", reproduce_html(r));
}

}  // namespace gaincell
