// gaincell cost / sweep end to end, --report on the model commands (its counters equal the analytic counts
// of the same run), --retention-s, and the one-line errors with their exit codes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/file.h"
#include "cost/counts.h"
#include "test_paths.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {
namespace fs = std::filesystem;

using test::count_lines;
using test::gc;
using test::Result;

class CostCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(test::scratch_dir("cost_cli_" + std::to_string(::getpid())));
    model_ = new std::string(fs::path(*dir_).parent_path() / "cost_cli_model_tiny_seed3");
    if (fs::exists(*model_ + "/config.json")) return;
    std::string tmp = *dir_ + "/model_tmp";
    Result r = gc("init --preset tiny --seed 3 --out " + tmp);
    ASSERT_EQ(r.rc, 0) << r.err;
    std::error_code ec;
    fs::rename(tmp, *model_, ec);  // another process may have won the race: harmless
  }
  static std::string model() { return *model_; }
  static std::string path(const std::string& f) { return *dir_ + "/" + f; }
  static std::string* dir_;
  static std::string* model_;
};
std::string* CostCli::dir_ = nullptr;
std::string* CostCli::model_ = nullptr;

TEST_F(CostCli, CostPrintsThePaperFiguresAndRatios) {
  Result r = gc("cost --model gpt2 --gpu rtx4090,jetson-nano");
  ASSERT_EQ(r.rc, 0) << r.err;
  for (const char* s : {"= 6.15 nJ", "73.8 nJ per layer", "65 ns per layer", "344x latency", "97266x energy",
                        "7521x latency", "43981x energy", "decay 0.00016 per token (hardware",
                        "GPU baseline:               measured-scaled", "measured-scaled x1:"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
}

TEST_F(CostCli, CostJsonForAModelFolder) {
  Result r = gc("cost --model " + model() + " --gpu h100 --json --window 256");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["n_layer"], 2);
  EXPECT_EQ(j["window"], 256);
  // 256 / 64 = 4 tiles per head, 2 arrays each, 2 heads x 2 layers = 32 arrays.
  EXPECT_EQ(j["area"]["arrays"], 32);
  EXPECT_EQ(j["gpus"][0]["baseline"], "roofline");
  // Window 256: 2 adder levels -> 10 + 30 + 5 + 5 + 2 + 11 = 63 ns per layer.
  EXPECT_DOUBLE_EQ(j["latency_per_token"]["per_layer"]["total_ns"].get<double>(), 63.0);
}

TEST_F(CostCli, SweepWritesCsvAndPlots) {
  std::string out = path("sweep");
  Result r = gc("sweep --set window=256,512,1024,2048 --set adc_bits=4,5,6 --gpu rtx4090,h100 --out " + out);
  ASSERT_EQ(r.rc, 0) << r.err;
  std::string csv = read_file(out + "/sweep.csv");
  EXPECT_EQ(count_lines(csv), 13);  // header + 4 x 3 points
  for (const char* f : {"energy_breakdown.svg", "latency_vs_window.svg", "energy_vs_window.svg", "ratio_latency.svg",
                        "ratio_energy.svg"})
    EXPECT_TRUE(fs::exists(out + "/" + f)) << f;
  // One baseline per GPU in every row: measured-scaled for the RTX 4090 (it has a measured point), the
  // roofline for the H100; --gpu-baseline roofline puts the roofline in every row.
  auto count = [&](const std::string& what) {
    size_t n = 0;
    for (size_t at = csv.find(what); at != std::string::npos; at = csv.find(what, at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count(",measured-scaled,"), 12u) << csv;
  EXPECT_EQ(count(",roofline,"), 12u) << csv;
  Result roof = gc("sweep --set window=1024,2048 --gpu rtx4090 --gpu-baseline roofline --out " + path("sweep_roof"));
  ASSERT_EQ(roof.rc, 0) << roof.err;
  std::string rcsv = read_file(path("sweep_roof") + "/sweep.csv");
  EXPECT_EQ(rcsv.find("measured"), std::string::npos) << rcsv;
  EXPECT_NE(read_file(path("sweep_roof") + "/ratio_latency.svg").find("RTX 4090 (roofline)"), std::string::npos);
}

TEST_F(CostCli, GenerateReportCountersEqualAnalyticCounts) {
  std::string rep = path("gen_report.json");
  Result r = gc("generate --model " + model() + " --attention gaincell --window 16 --prompt 'Hello world' -n 20 " +
                "--report " + rep);
  ASSERT_EQ(r.rc, 0) << r.err;
  auto j = nlohmann::json::parse(read_file(rep));
  ASSERT_EQ(j["layers"].size(), 2u);
  const int64_t tokens = j["tokens"];
  EXPECT_GT(tokens, 16);  // crosses the window
  HardwareConfig hw;
  AttentionActivity want = analytic_activity({2, 2, 64}, hw, 16, RunMode::kDecode, 1, tokens);
  for (auto& l : j["layers"]) {
    EXPECT_EQ(l["activity"]["cell_reads"], want.cell_reads);
    EXPECT_EQ(l["activity"]["adc_conversions"], want.adc_conversions);
    EXPECT_EQ(l["activity"]["charge_to_pulse"], want.charge_to_pulse);
    EXPECT_EQ(l["activity"]["digital_adds"], want.digital_adds);
    EXPECT_EQ(l["activity"]["cell_writes"], want.cell_writes);
    // Converter histograms: one count per event (docs/cost-model.md §10).
    EXPECT_EQ(l["histograms"]["adc_code"]["total"], want.adc_conversions);
    EXPECT_EQ(l["histograms"]["attention_pulse_width"]["total"], want.charge_to_pulse);
    EXPECT_EQ(2 * l["histograms"]["stored_level_v"]["total"].get<int64_t>(), want.cell_writes);
  }
  EXPECT_GT(j["energy_per_token"]["per_head"]["total_pj"].get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(j["leakage"]["decay_per_token"].get<double>(), 1.6e-4);  // the hardware default
}

TEST_F(CostCli, PerplexityReportWithRetention) {
  std::string text = path("text.txt"), rep = path("ppl_report.json");
  write_file_atomic(text, "The quick brown fox jumps over the lazy dog. The dog sleeps.");
  Result r = gc("perplexity --model " + model() + " --attention gaincell --window 64 --text " + text +
                " --retention-s 5e-3 --report " + rep);
  ASSERT_EQ(r.rc, 0) << r.err;
  auto j = nlohmann::json::parse(read_file(rep));
  // 2 layers x (10 + 30 + 5 + 5 + 0 adder levels (one array) + 11) = 2 x 61 ns = 122 ns; / 5 ms = 2.44e-5.
  EXPECT_NEAR(j["leakage"]["token_period_s"].get<double>(), 122e-9, 1e-20);
  EXPECT_NEAR(j["leakage"]["decay_per_token"].get<double>(), 2.44e-5, 1e-18);
}

TEST_F(CostCli, ErrorsAreOneLineWithExitCodes) {
  struct Bad {
    std::string args;
    int rc;
    std::string needle;
  };
  std::vector<Bad> bad = {
      {"cost --gpu h100,tpu", 1, "'tpu'"},
      {"cost --model gpt5", 1, "'gpt5'"},
      {"sweep --set windw=1,2 --out " + path("bad1"), 1, "windw"},
      {"sweep --set window=1,x --out " + path("bad2"), 1, "'x'"},
      {"sweep --set adc_bits=0 --out " + path("bad3"), 1, "adc_bits"},
      {"sweep --out " + path("bad4"), 2, "--set"},
      {"cost --retention-s -1", 2, "retention"},
      {"cost --gpu-baseline measured", 1, "--gpu-baseline measured-scaled|roofline"},
  };
  for (auto& b : bad) {
    Result r = gc(b.args);
    EXPECT_EQ(r.rc, b.rc) << b.args << ": " << r.err;
    EXPECT_EQ(count_lines(r.err), 1) << b.args << ": " << r.err;
    EXPECT_NE(r.err.find(b.needle), std::string::npos) << b.args << ": " << r.err;
  }
  EXPECT_FALSE(fs::exists(path("bad2") + "/sweep.csv"));
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
