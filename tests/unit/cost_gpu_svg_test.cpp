// GPU baselines (roofline against the two measured points), whole-model share, sweeps, and the SVG plots
// (well-formed XML with the expected series, titles and axis labels).
#include <gtest/gtest.h>

#include <cctype>
#include <filesystem>
#include <map>
#include <set>

#include "core/error.h"
#include "core/file.h"
#include "cost/gpu.h"
#include "cost/report.h"
#include "cost/svg_plot.h"
#include "cost/sweep.h"
#include "test_paths.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {

// A minimal XML well-formedness check: one root, matched tags, quoted attributes without duplicates, only
// the five predefined entities or character references. Returns "" when well formed, else the problem.
// Collects the value of every data-name attribute of <g class="series"> elements into `series`.
std::string check_xml(const std::string& s, std::vector<std::string>* series) {
  std::vector<std::string> stack;
  size_t i = 0;
  int roots = 0;
  auto check_text = [&](const std::string& t) -> std::string {
    for (size_t k = 0; k < t.size(); ++k) {
      if (t[k] == '<') return "'<' in text";
      if (t[k] != '&') continue;
      size_t e = t.find(';', k);
      if (e == std::string::npos) return "unterminated entity";
      std::string name = t.substr(k + 1, e - k - 1);
      static const std::set<std::string> ok = {"amp", "lt", "gt", "quot", "apos"};
      if (!ok.count(name) && !(name.size() > 1 && name[0] == '#')) return "unknown entity &" + name + ";";
    }
    return "";
  };
  while (i < s.size()) {
    size_t lt = s.find('<', i);
    std::string text = s.substr(i, lt == std::string::npos ? std::string::npos : lt - i);
    if (auto e = check_text(text); !e.empty()) return e;
    if (stack.empty() && text.find_first_not_of(" \t\r\n") != std::string::npos) return "text outside the root";
    if (lt == std::string::npos) break;
    if (s.compare(lt, 5, "<?xml") == 0) {
      size_t e = s.find("?>", lt);
      if (e == std::string::npos || lt != 0) return "bad XML declaration";
      i = e + 2;
      continue;
    }
    if (s.compare(lt, 4, "<!--") == 0) {
      size_t e = s.find("-->", lt);
      if (e == std::string::npos) return "unterminated comment";
      i = e + 3;
      continue;
    }
    size_t gt = s.find('>', lt);
    if (gt == std::string::npos) return "unterminated tag";
    std::string tag = s.substr(lt + 1, gt - lt - 1);
    i = gt + 1;
    if (!tag.empty() && tag[0] == '/') {
      if (stack.empty() || stack.back() != tag.substr(1)) return "mismatched </" + tag.substr(1) + ">";
      stack.pop_back();
      continue;
    }
    bool self_close = !tag.empty() && tag.back() == '/';
    if (self_close) tag.pop_back();
    size_t k = 0;
    while (k < tag.size() && !std::isspace(static_cast<unsigned char>(tag[k]))) ++k;
    std::string name = tag.substr(0, k);
    if (name.empty() || !(std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_')) return "bad tag name";
    std::map<std::string, std::string> attrs;
    while (true) {
      while (k < tag.size() && std::isspace(static_cast<unsigned char>(tag[k]))) ++k;
      if (k >= tag.size()) break;
      size_t eq = tag.find('=', k);
      if (eq == std::string::npos || eq + 1 >= tag.size() || (tag[eq + 1] != '"' && tag[eq + 1] != '\''))
        return "unquoted attribute in <" + name + ">";
      std::string an = tag.substr(k, eq - k);
      size_t close = tag.find(tag[eq + 1], eq + 2);
      if (close == std::string::npos) return "unterminated attribute";
      std::string av = tag.substr(eq + 2, close - eq - 2);
      if (auto e = check_text(av); !e.empty()) return e;
      if (!attrs.emplace(an, av).second) return "duplicate attribute " + an;
      k = close + 1;
    }
    if (stack.empty() && ++roots > 1) return "more than one root";
    if (series && name == "g" && attrs["class"] == "series") series->push_back(attrs["data-name"]);
    if (!self_close) stack.push_back(name);
  }
  return stack.empty() && roots == 1 ? "" : "unclosed elements";
}

TEST(CostXmlCheck, RejectsMalformedDocuments) {
  EXPECT_EQ(check_xml("<svg><g class=\"series\" data-name=\"a&amp;b\"/></svg>", nullptr), "");
  EXPECT_NE(check_xml("<svg><g></svg>", nullptr), "");
  EXPECT_NE(check_xml("<svg a=1></svg>", nullptr), "");
  EXPECT_NE(check_xml("<svg>a & b</svg>", nullptr), "");
  EXPECT_NE(check_xml("<svg></svg><svg></svg>", nullptr), "");
}

TEST(CostGpu, RooflineIsALowerBoundOfBothMeasuredPoints) {
  // Paper workload: K and V of 1024 x 12 x 64 FP16 = 3.146 MB per token. RTX 4090 at 1008 GB/s: 3.127 us
  // (measured 22.37 us, 7.2x slower); Jetson Nano at 25.6 GB/s: 123.1 us (measured 488.9 us, 4.0x).
  for (const char* n : {"rtx4090", "jetson-nano"}) {
    GpuCost r = roofline_attention(gpu_spec(n), AttentionWorkload{});
    auto m = gpu_measured(n);
    ASSERT_TRUE(m);
    EXPECT_TRUE(r.memory_bound) << n;
    EXPECT_LT(r.latency_s, m->latency_s) << n;
    EXPECT_GT(r.latency_s, m->latency_s / 10) << n;  // within an order of magnitude
  }
  EXPECT_NEAR(roofline_attention(gpu_spec("rtx4090"), AttentionWorkload{}).latency_s,
              (2.0 * 1024 * 768 + 4.0 * 768) * 2 / 1008e9, 1e-15);
}

TEST(CostGpu, MeasuredScaledIsTheMeasuredPointAtItsWorkload) {
  std::string used;
  double scale = -1;
  GpuCost c =
      gpu_attention_baseline(gpu_spec("rtx4090"), AttentionWorkload{}, GpuBaseline::kMeasuredScaled, &used, &scale);
  EXPECT_EQ(used, "measured-scaled");
  EXPECT_EQ(scale, 1.0);
  EXPECT_EQ(c.latency_s, gpu_measured("rtx4090")->latency_s);
  AttentionWorkload w;
  w.cache_tokens = 2048;
  c = gpu_attention_baseline(gpu_spec("rtx4090"), w, GpuBaseline::kMeasuredScaled, &used, &scale);
  EXPECT_EQ(used, "measured-scaled");
  EXPECT_NEAR(scale, (2.0 * 2048 + 4) / (2.0 * 1024 + 4), 1e-12);  // memory-bound roofline: bytes ratio
  c = gpu_attention_baseline(gpu_spec("rtx4090"), w, GpuBaseline::kRoofline, &used, &scale);
  EXPECT_EQ(used, "roofline");
  EXPECT_EQ(c.latency_s, roofline_attention(gpu_spec("rtx4090"), w).latency_s);
  gpu_attention_baseline(gpu_spec("h100"), AttentionWorkload{}, GpuBaseline::kMeasuredScaled, &used);
  EXPECT_EQ(used, "roofline");  // no measured point
  EXPECT_THROW(parse_gpu_baseline("measured"), Error);
  EXPECT_EQ(parse_gpu_baseline("roofline"), GpuBaseline::kRoofline);
}

TEST(CostGpu, UnknownGpuIsOneLineError) {
  try {
    parse_gpu_list("h100,tpu");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'tpu'"), std::string::npos);
  }
}

TEST(CostWholeModel, AttentionShareAndEndToEndGainFollowAmdahl) {
  // End-to-end gain = (n_layer x GPU attention + rest) / (n_layer x gain-cell attention + rest); the shares
  // of attention are n_layer x attention / that total.
  CostSummary s =
      summarize("gpt2", {12, 12, 64}, 50257, HardwareConfig{}, 1024, CostTable{}, parse_gpu_list("rtx4090"), 5e-3);
  const GpuComparison& c = s.gpus[0];
  const double gpu = 12 * c.attention.latency_s, imc = 12 * 65e-9;
  EXPECT_NEAR(c.end_to_end_latency_gain, (gpu + c.rest.latency_s) / (imc + c.rest.latency_s), 1e-9);
  EXPECT_NEAR(c.imc_attention_share_latency, imc / (imc + c.rest.latency_s), 1e-12);
  EXPECT_GT(c.gpu_attention_share_energy, c.imc_attention_share_energy);
  EXPECT_LT(c.end_to_end_energy_gain, c.energy_ratio);  // the rest stays digital
}

TEST(CostSweep, BadSetIsRejected) {
  EXPECT_THROW(parse_sweep_param("windows=1,2"), Error);
  EXPECT_THROW(parse_sweep_param("window=1,x"), Error);
  EXPECT_THROW(parse_sweep_param("window"), Error);
  EXPECT_THROW(parse_sweep_param("adc_bits=0"), Error);
  EXPECT_EQ(parse_sweep_param("adc_bits=4,5,6").values, (std::vector<int>{4, 5, 6}));
}

TEST(CostSweep, GridCsvAndPlotsHoldTheExpectedSeries) {
  SweepBase base;
  base.gpus = parse_gpu_list("h100,rtx4090");
  std::vector<SweepParam> params = {parse_sweep_param("window=256,1024"), parse_sweep_param("adc_bits=4,5")};
  std::vector<SweepPoint> pts = run_sweep(base, params);
  ASSERT_EQ(pts.size(), 4u);
  EXPECT_EQ(pts[3].label, "window=1024 adc_bits=5");
  EXPECT_NEAR(pts[3].summary.token.per_head.total_pj(), 6150.0, 1e-9);  // the paper's point
  std::string dir = test::scratch_dir("cost_sweep");
  std::vector<std::string> files = write_sweep(dir, params, pts);
  EXPECT_EQ(files.size(), 6u);
  std::string csv = read_file(dir + "/sweep.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 5);
  EXPECT_EQ(csv.rfind("window,adc_bits,head_phi_qk_pj", 0), 0u);
  std::map<std::string, std::vector<std::string>> want = {
      {"energy_breakdown.svg", {"phi(Q.K^T)", "phi(S).V", "digital &amp; routing", "DAC"}},
      {"latency_vs_window.svg", {"adc_bits=4", "adc_bits=5"}},
      {"energy_vs_window.svg", {"adc_bits=4", "adc_bits=5"}},
      {"ratio_latency.svg",
       {"window=256 adc_bits=4", "window=256 adc_bits=5", "window=1024 adc_bits=4", "window=1024 adc_bits=5"}},
      {"ratio_energy.svg",
       {"window=256 adc_bits=4", "window=256 adc_bits=5", "window=1024 adc_bits=4", "window=1024 adc_bits=5"}}};
  for (auto& [file, names] : want) {
    std::string svg = read_file(dir + "/" + file);
    std::vector<std::string> series;
    EXPECT_EQ(check_xml(svg, &series), "") << file;
    EXPECT_EQ(series, names) << file;
    EXPECT_NE(svg.find("class=\"title\""), std::string::npos) << file;
    EXPECT_NE(svg.find("class=\"y-label\""), std::string::npos) << file;
    EXPECT_NE(svg.find("("), std::string::npos) << file;  // a unit in parentheses
  }
  EXPECT_NE(read_file(dir + "/latency_vs_window.svg").find("window (tokens)"), std::string::npos);
  EXPECT_NE(read_file(dir + "/ratio_energy.svg").find("log scale"), std::string::npos);
}

TEST(CostSvg, LogAxisTicksAreDecades) {
  LineChart c;
  c.title = "t";
  c.x_label = "x (s)";
  c.y_label = "y (J)";
  c.log_y = true;
  c.series.push_back({"a", {1, 2, 3}, {1e-3, 1, 1e3}});
  std::string svg = line_chart_svg(c);
  EXPECT_EQ(check_xml(svg, nullptr), "");
  for (const char* t : {">0.001<", ">0.01<", ">1<", ">1000<"}) EXPECT_NE(svg.find(t), std::string::npos) << t;
  EXPECT_TRUE(spans_decades(c.series));
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
