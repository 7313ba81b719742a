// The experiment driver's pieces that need no training run: figure axes (1-2-5 ticks), curve downsampling and
// the size of the loss-curve figure at a full run's step counts, the profile and budget validation, and the
// provenance helper (command-line quoting, version and commit, fields). `gaincell reproduce --quick` itself is
// tests/e2e/reproduce_test.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "analog/hw_toml.h"
#include "core/error.h"
#include "cost/report.h"
#include "cost/svg_plot.h"
#include "experiments/reproduce.h"
#include "experiments/reproduce_report.h"
#include "io/provenance.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {

using Json = nlohmann::ordered_json;

// True when step is 1, 2 or 5 times a power of ten (to 1e-6: a tick difference far from zero rounds).
bool one_two_five(double step) {
  const double e = std::floor(std::log10(step) + 1e-6), m = step / std::pow(10.0, e);
  return std::fabs(m - 1) < 1e-6 || std::fabs(m - 2) < 1e-6 || std::fabs(m - 5) < 1e-6;
}

TEST(NiceTicks, OneTwoFiveStepsCoveringTheRange) {
  struct Case {
    double lo, hi;
    std::vector<double> want;
  };
  const std::vector<Case> cases = {
      {0, 6000, {0, 1000, 2000, 3000, 4000, 5000, 6000}},  // the loss curves' steps: not one tick per step
      {0, 1080, {0, 200, 400, 600, 800, 1000, 1200}},
      {0, 80, {0, 20, 40, 60, 80}},  // step 10 would give 9 ticks
      {0, 5.55, {0, 1, 2, 3, 4, 5, 6}},
      {0, 1.47, {0, 0.5, 1, 1.5}},
      {1.2, 1.9, {1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9}},
      {-3, 7, {-4, -2, 0, 2, 4, 6, 8}},
      {2, 2, {2, 2.2, 2.4, 2.6, 2.8, 3}},  // a flat range widens to [lo, lo + 1]
  };
  for (const Case& c : cases) {
    const std::vector<double> t = nice_ticks(c.lo, c.hi);
    ASSERT_EQ(t.size(), c.want.size()) << c.lo << ".." << c.hi;
    for (size_t i = 0; i < t.size(); ++i) EXPECT_NEAR(t[i], c.want[i], 1e-9) << c.lo << ".." << c.hi << " #" << i;
  }
  // Any range: at most max_ticks ticks, a 1-2-5 step, covering [lo, hi].
  for (double lo : {-1e5, -7.3, 0.0, 0.001, 3.0})
    for (double span : {1e-3, 0.37, 1.0, 9.99, 123.0, 5e4, 1e7})
      for (int max_ticks : {3, 5, 8, 11}) {
        const std::vector<double> t = nice_ticks(lo, lo + span, max_ticks);
        ASSERT_GE(t.size(), 2u);
        EXPECT_LE(t.size(), static_cast<size_t>(max_ticks)) << lo << " " << span << " " << max_ticks;
        EXPECT_TRUE(t.front() <= lo + 1e-9 * span && t.back() >= lo + span - 1e-9 * span) << lo << " " << span;
        EXPECT_TRUE(one_two_five(t[1] - t[0])) << t[1] - t[0];
      }
  EXPECT_EQ(nice_ticks(-7, 2, 2).size(), 3u);  // a range across zero needs three; max_ticks below 3 counts as 3
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<double> fallback = nice_ticks(nan, 1);  // non-finite bounds: [0, 1]
  ASSERT_EQ(fallback.size(), 6u);
  for (size_t i = 0; i < fallback.size(); ++i) EXPECT_NEAR(fallback[i], 0.2 * i, 1e-12);
}

TEST(DownsampleMean, AveragesRunsAndKeepsTheEnds) {
  Series s{"c", {}, {}};
  for (int i = 0; i < 12; ++i) s.x.push_back(i), s.y.push_back(i * i);
  const Series d = downsample_mean(s, 7);  // ends + 5 runs of 2 over points 1..10
  ASSERT_EQ(d.x.size(), 7u);
  ASSERT_EQ(d.y.size(), 7u);
  EXPECT_EQ(d.x.front(), 0);
  EXPECT_EQ(d.x.back(), 11);
  EXPECT_EQ(d.y.back(), 121);
  EXPECT_DOUBLE_EQ(d.x[1], 1.5);  // points 1, 2
  EXPECT_DOUBLE_EQ(d.y[1], (1 + 4) / 2.0);
  EXPECT_DOUBLE_EQ(d.y[5], (81 + 100) / 2.0);  // points 9, 10
  const Series same = downsample_mean(s, 12);
  EXPECT_EQ(same.y, s.y);
  // A NaN loss is skipped, not spread over its run.
  s.y[3] = std::numeric_limits<double>::quiet_NaN();
  const Series skip = downsample_mean(s, 7);
  EXPECT_DOUBLE_EQ(skip.y[2], 16.0);  // points 3 (NaN), 4
}

// A results JSON with training curves of a full run's lengths (pre-training 6000 steps, 500 + 500 adaptation,
// 1000 control), the other sections empty.
Json long_curves() {
  Json r;
  r["profile_name"] = "test";
  r["data"] = {{"tokenization", "bytes"}};
  r["model"] = {{"label", "test model"}};
  auto curve = [](int n, double start) {
    Json c = Json::array();
    for (int i = 1; i <= n; ++i) c.push_back({i, start / (1 + 0.01 * i) + 0.05 * std::sin(i * 0.7)});
    return c;
  };
  r["curves"] = {{"pretrain", curve(6000, 5.5)},
                 {"linear", curve(500, 2.5)},
                 {"finetune", curve(500, 2.0)},
                 {"control", curve(1000, 5.5)}};
  return r;
}

// The x tick labels of an SVG line chart (texts inside <g class="x-axis">).
std::vector<double> x_ticks(const std::string& svg) {
  const size_t from = svg.find("<g class=\"x-axis\">"), to = svg.find("</g>", from);
  std::vector<double> t;
  const std::string axis = svg.substr(from, to - from);
  static const std::regex label(">([-0-9.e+]+)</text>");
  for (auto it = std::sregex_iterator(axis.begin(), axis.end(), label); it != std::sregex_iterator(); ++it)
    t.push_back(std::stod((*it)[1].str()));
  return t;
}

TEST(ReproduceFigures, LossCurvesStaySmallWithReadableTicks) {
  const std::string svg = reproduce_figure_svg(long_curves(), "loss_curves");
  EXPECT_LT(svg.size(), 100u * 1024) << "loss_curves.svg of a full run";  // was 938 KB
  EXPECT_EQ(svg.find("<circle"), std::string::npos);                      // no markers on long curves
  const std::vector<double> t = x_ticks(svg);
  ASSERT_GE(t.size(), 3u);
  EXPECT_LE(t.size(), 8u);
  EXPECT_EQ(t.front(), 0);
  EXPECT_TRUE(t.back() >= 6000);
  for (size_t i = 1; i < t.size(); ++i) EXPECT_TRUE(one_two_five(t[i] - t[i - 1])) << t[i] - t[i - 1];
  EXPECT_NE(svg.find(">1000</text>"), std::string::npos);  // whole numbers in full, not 1e+03
  // Each curve is at most kCurvePoints points.
  static const std::regex points("points=\"([^\"]*)\"");
  int curves = 0;
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), points); it != std::sregex_iterator(); ++it, ++curves) {
    const std::string p = (*it)[1].str();
    EXPECT_LE(static_cast<size_t>(std::count(p.begin(), p.end(), ' ') + 1), kCurvePoints);
  }
  EXPECT_EQ(curves, 4);
}

TEST(ReproduceFigures, FewPointsKeepTheirOwnTicksAndMarkers) {
  LineChart c{"t", "retention time (s)", "loss (nats)", true, false, {{"a", {5e-3, 1e-5, 1e-6}, {2.1, 2.2, 2.4}}}};
  const std::string svg = line_chart_svg(c);
  const std::vector<double> t = x_ticks(svg);
  ASSERT_EQ(t.size(), 3u);  // a sweep is labelled at its own settings
  EXPECT_NEAR(t[0], 5e-3, 1e-12);
  EXPECT_NE(svg.find("<circle"), std::string::npos);
}

TEST(ReproduceProfile, BundledProfilesValidateAndBadOnesSayWhy) {
  for (bool quick : {false, true}) {
    const ReproduceProfile p = shakespeare_profile(quick);
    EXPECT_TRUE(p.validate().empty()) << quick;
    EXPECT_EQ(p.budget.linear_steps, quick ? 50 : 500);
  }
  ReproduceProfile p = shakespeare_profile(true);
  p.train_fraction = 1.0;
  p.tokenization = "words";
  p.budget.retention_s = {1e-6, 0.0};
  p.budget.linear_steps = 10;
  const std::vector<std::string> problems = p.validate();
  ASSERT_EQ(problems.size(), 4u);
  std::string all;
  for (const std::string& s : problems) all += s + "\n";
  for (const char* f : {"train_fraction", "tokenization", "retention_s", "linear_steps"})
    EXPECT_NE(all.find(f), std::string::npos) << all;
  ReproduceOptions o;
  o.out_dir = "";
  EXPECT_EQ(o.validate().size(), 1u);
  o.out_dir = "x";
  o.profile = "stories";  // not a profile name
  ASSERT_EQ(o.validate().size(), 1u);
  EXPECT_NE(o.validate()[0].find("stories260k"), std::string::npos) << o.validate()[0];
}

// The second profile: a llama2c checkpoint through the model's tokenizer, with a monitor part between the
// adaptation's and the held-out tokens; "all" selects every profile, --model needs a named one.
TEST(ReproduceProfile, Stories260kAndSelection) {
  for (bool quick : {false, true}) {
    const ReproduceProfile p = stories260k_profile(quick, "/shared");
    EXPECT_TRUE(p.validate().empty()) << quick;
    EXPECT_EQ(p.tokenization, "model");
    EXPECT_EQ(p.llama2c_checkpoint, "/shared/data/DaveBben__esp32-llm/stories260K.bin");
    EXPECT_GT(p.monitor_fraction, 0.0);
    EXPECT_LT(p.train_fraction + p.monitor_fraction, 1.0);
  }
  ReproduceProfile p = stories260k_profile(true, "/shared");
  p.monitor_fraction = 0.5;  // 0.6 + 0.5 leaves nothing held out
  p.llama2c_tokenizer = "";
  const std::vector<std::string> problems = p.validate();
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_NE(problems[0].find("llama2c_tokenizer"), std::string::npos) << problems[0];
  EXPECT_NE(problems[1].find("monitor_fraction"), std::string::npos) << problems[1];
  ReproduceOptions o;
  o.shared_dir = "/shared";
  ASSERT_EQ(selected_profiles(o).size(), 2u);
  EXPECT_EQ(selected_profiles(o)[1].name, "stories260k");
  o.profile = "shakespeare";
  ASSERT_EQ(selected_profiles(o).size(), 1u);
  EXPECT_EQ(selected_profiles(o)[0].name, "shakespeare-bytes");
  o.profile = "all";
  o.model_dir = "m";
  EXPECT_THROW(selected_profiles(o), Error);
}

// Two profiles' results (one failed) side by side: a column per model, the losses to four digits, the failure
// named, the figure's bars.
TEST(ReproduceCombined, SideBySideTableAndFigure) {
  Json a;
  a["profile"] = "quick";
  a["profile_name"] = "alpha";
  a["model"] = {{"label", "model A"}, {"n_layer", 2},      {"n_head", 8},       {"n_kv_head", 4},
                {"head_dim", 8},      {"vocab_size", 512}, {"parameters", 1000}};
  const double losses[] = {1.25, 3.5, 1.75, 2.5};
  const char* keys[] = {"baseline", "direct_mapping", "adaptation", "control"};
  for (int i = 0; i < 4; ++i) a[keys[i]] = {{"val_loss", losses[i]}};
  a["generation"] = {{"baseline", "once | upon"}, {"adapted", "a time"}};
  Json all;
  all["profiles"] = Json::array({a, {{"profile_name", "beta"}, {"error", "reproduce: no arrays"}}});
  const std::string md = reproduce_combined_markdown(all);
  EXPECT_NE(md.find("| quantity | alpha (quick) | beta (?) |"), std::string::npos) << md;
  for (const char* v : {"| 1.2500 |", "| 3.5000 |", "| 1.7500 |", "| 2.5000 |", "| 2 x 8 (4) x 8 |", "once \\| upon",
                        "FAILED: reproduce: no arrays", "| 78% |"})
    EXPECT_NE(md.find(v), std::string::npos) << v << "\n" << md;
  const std::string html = reproduce_combined_html(all);
  EXPECT_NE(html.find("<td>1.7500</td>"), std::string::npos);
  EXPECT_NE(html.find(std::string("<figure id=\"") + kCombinedFigure + "\"><svg"), std::string::npos);
  EXPECT_EQ(reproduce_combined_figure_svg(all).find("nan"), std::string::npos);
}

TEST(Provenance, CommandLineVersionCommitAndFields) {
  const char* argv[] = {"gaincell", "eval", "--prompt", "it's a test", "--seed", "3", ""};
  set_command_line(7, argv);
  EXPECT_EQ(command_line(), "gaincell eval --prompt 'it'\\''s a test' --seed 3 ''");
  ASSERT_EQ(command_line_args().size(), 7u);
  EXPECT_EQ(command_line_args()[3], "it's a test");
  EXPECT_TRUE(std::regex_match(std::string(gaincell_version()), std::regex(R"([0-9]+\.[0-9]+\.[0-9]+)")));
  EXPECT_TRUE(std::regex_match(std::string(gaincell_git_commit()), std::regex("[0-9a-f]{40}(-dirty)?|unknown")))
      << gaincell_git_commit();
  EXPECT_FALSE(cpu_model().empty());
  RunProvenance run;
  run.gemm = "naive";
  run.threads = 3;
  run.seeds = {{"seed", 3}};
  run.hardware = {{"array.rows", 64}};
  const Json j = provenance_json(run);
  for (const char* k :
       {"gaincell_version", "git_commit", "command_line", "argv", "cpu", "gemm", "threads", "seeds", "hardware"})
    EXPECT_TRUE(j.contains(k)) << k;
  EXPECT_EQ(j["command_line"], command_line());
  EXPECT_EQ(j["argv"].size(), 7u);
  EXPECT_EQ(j["gemm"], "naive");
  EXPECT_EQ(j["threads"], 3);
  EXPECT_EQ(j["seeds"]["seed"], 3);
  EXPECT_EQ(j["hardware"]["array.rows"], 64);
}

// The provenance's "hardware": every field of the hardware TOML under its "section.key" name, with its value.
TEST(Provenance, HardwareJsonListsEveryTomlField) {
  HardwareConfig hw;
  hw.array.window_tokens = 77;
  hw.noise.cell_gain_sigma = 0.3;
  hw.device.characteristic = "sigmoid";
  const Json j = hardware_json(hw);
  size_t fields = 0;
  for_each_hw_field(hw, [&](const std::string& path, const auto&, const auto&) {
    ++fields;
    EXPECT_TRUE(j.contains(path)) << path;
  });
  EXPECT_EQ(j.size(), fields);
  EXPECT_EQ(j["array.window_tokens"], 77);
  EXPECT_EQ(j["noise.cell_gain_sigma"], 0.3);
  EXPECT_EQ(j["device.characteristic"], "sigmoid");
  EXPECT_EQ(j["device.coeffs_ua"].size(), hw.device.coeffs_ua.size());
  EXPECT_EQ(j["converters.adc.levels"], hw.converters.adc.levels);
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
