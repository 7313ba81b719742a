// The analog side of the CLI end to end: `device fit` on the authors' SPICE table reproduces the paper's
// collapsed cubic and writes a hardware TOML that --hw accepts; generate / perplexity / logits run with every
// analog backend, --hw configs/paper.toml and --window; a bad --hw file or CSV gives one error line, exit 1.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "analog/hw_toml.h"
#include "core/file.h"
#include "expect_close.h"
#include "io/npy.h"
#include "test_paths.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {
namespace fs = std::filesystem;

using test::count_lines;
using test::gc;
using test::Result;

const double kPaperCubic[4] = {0.5213636139, 13.612260634, -2.620445619, 46.05483778};

std::string spice_csv() {
  return test::shared_path("data/gaincell-authors/gaincell_iv_spice.csv");
}
std::string paper_toml() {
  return test::data_path("../../configs/paper.toml");
}

class AnalogCli : public ::testing::Test {
 protected:
  // Same scheme as cli_test.cpp: one tiny model folder shared by all processes (renamed into place).
  static void SetUpTestSuite() {
    dir_ = new std::string(test::scratch_dir("analog_cli_" + std::to_string(::getpid())));
    model_ = new std::string(fs::path(*dir_).parent_path() / "analog_cli_model_tiny_seed5");
    if (fs::exists(*model_ + "/config.json")) return;
    std::string tmp = *dir_ + "/model_tmp";
    Result r = gc("init --preset tiny --seed 5 --out " + tmp);
    ASSERT_EQ(r.rc, 0) << r.err;
    std::error_code ec;
    fs::rename(tmp, *model_, ec);
  }
  static std::string model() { return *model_; }
  static std::string path(const std::string& f) { return *dir_ + "/" + f; }
  static std::string* dir_;
  static std::string* model_;
};
std::string* AnalogCli::dir_ = nullptr;
std::string* AnalogCli::model_ = nullptr;

// The numbers of the "coeffs_ua = [a, b, ...]" line.
std::vector<double> printed_coeffs(const std::string& out) {
  size_t at = out.find("coeffs_ua = [");
  if (at == std::string::npos) return {};
  std::string list = out.substr(at + 13, out.find(']', at) - at - 13);
  for (char& c : list)
    if (c == ',') c = ' ';
  std::istringstream in(list);
  std::vector<double> v;
  for (double x; in >> x;) v.push_back(x);
  return v;
}

TEST_F(AnalogCli, DeviceFitReproducesThePaperCubicAndTheTomlLoads) {
  GAINCELL_REQUIRE_FILE(spice_csv());
  const std::string toml = path("fitted.toml");
  Result r = gc("device fit --csv " + spice_csv() + " --v-in 0.9 --order 3 --out " + toml);
  ASSERT_EQ(r.rc, 0) << r.err;
  std::vector<double> c = printed_coeffs(r.out);
  ASSERT_EQ(c.size(), 4u) << r.out;
  for (int p = 0; p < 4; ++p) EXPECT_NEAR(c[p] / kPaperCubic[p], 1.0, 2e-6) << "printed p " << p;
  EXPECT_NE(r.out.find("rms_error_ua = "), std::string::npos);
  EXPECT_NE(r.out.find("max_error_ua = "), std::string::npos);
  EXPECT_NE(r.out.find("50 used"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("FAILED"), std::string::npos) << r.out;
  HardwareConfig hw = load_hardware_toml(toml);
  EXPECT_NEAR(hw.device.linear_gain_ua_per_v, 19.2079, 1e-3);  // refitted (paper: 19.3)
  ASSERT_EQ(hw.device.coeffs_ua.size(), 4u);
  for (int p = 0; p < 4; ++p) EXPECT_NEAR(hw.device.coeffs_ua[p] / kPaperCubic[p], 1.0, 2e-6) << "toml p " << p;
  Result run = gc("logits --model " + model() + " --tokens 464,3290,318 --attention gaincell --hw " + toml + " --out " +
                  path("fitted.npy"));
  ASSERT_EQ(run.rc, 0) << run.err;
  EXPECT_EQ(read_npy(path("fitted.npy")).shape, (std::vector<int64_t>{3, 50257}));
}

TEST_F(AnalogCli, DeviceFitUpdatesAnExistingTomlKeepingOtherFields) {
  GAINCELL_REQUIRE_FILE(spice_csv());
  HardwareConfig mine;
  mine.array.window_tokens = 256;
  mine.noise.read_noise_s_ua_tmax = 0.5;
  const std::string toml = path("mine.toml");
  save_hardware_toml(toml, mine);
  // A quadratic misses the cubic SPICE curve by 13 % (norm): the fit-quality check fails; --force writes anyway
  // with a one-line warning, and without it nothing is written.
  Result refused = gc("device fit --csv " + spice_csv() + " --order 2 --out " + toml);
  EXPECT_EQ(refused.rc, 1) << refused.err;
  EXPECT_EQ(count_lines(refused.err), 1) << refused.err;
  EXPECT_NE(refused.err.find("fit quality"), std::string::npos) << refused.err;
  EXPECT_NE(refused.out.find("FAILED fit quality"), std::string::npos) << refused.out;
  EXPECT_EQ(load_hardware_toml(toml).device.coeffs_ua.size(), 4u);  // unchanged
  Result r = gc("device fit --csv " + spice_csv() + " --order 2 --force --out " + toml);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("warning: device fit: --force"), std::string::npos) << r.err;
  HardwareConfig back = load_hardware_toml(toml);
  EXPECT_EQ(back.array.window_tokens, 256);
  EXPECT_EQ(back.noise.read_noise_s_ua_tmax, 0.5);
  EXPECT_EQ(back.device.coeffs_ua.size(), 3u);
  std::vector<double> printed = printed_coeffs(r.out);  // 12 significant digits on screen
  ASSERT_EQ(printed.size(), 3u) << r.out;
  for (int p = 0; p < 3; ++p) EXPECT_NEAR(printed[p] / back.device.coeffs_ua[p], 1.0, 1e-9);
}

TEST_F(AnalogCli, EveryAnalogBackendRunsGeneratePerplexityAndLogits) {
  std::string text;
  for (int i = 0; i < 8; ++i) text += "The quick brown fox jumps over the lazy dog. ";
  write_file_atomic(path("text.txt"), text);
  std::string ids;
  for (int i = 0; i < 24; ++i) {
    if (i) ids += ',';
    ids += std::to_string(100 + 37 * i);
  }
  for (const char* kind : {"gaincell", "gaincell-linear", "hardsigmoid"}) {
    const std::string a = std::string(" --model ") + model() + " --attention " + kind + " --hw " + paper_toml();
    Result g = gc("generate" + a + " --window 32 --prompt 'To be' -n 4 --seed 1");
    ASSERT_EQ(g.rc, 0) << kind << ": " << g.err;
    EXPECT_EQ(g.out.rfind("To be", 0), 0u) << g.out;
    Result p = gc("perplexity" + a + " --window 32 --text " + path("text.txt") + " --context 64 --stride 32 --json");
    ASSERT_EQ(p.rc, 0) << kind << ": " << p.err;
    double nll = nlohmann::json::parse(p.out)["mean_nll"];
    EXPECT_TRUE(std::isfinite(nll)) << p.out;
    const std::string w8 = path(std::string(kind) + "_w8.npy"), w16 = path(std::string(kind) + "_w16.npy");
    ASSERT_EQ(gc("logits" + a + " --window 8 --tokens " + ids + " --out " + w8).rc, 0);
    ASSERT_EQ(gc("logits" + a + " --window 16 --tokens " + ids + " --out " + w16).rc, 0);
    NpyArray l8 = read_npy(w8), l16 = read_npy(w16);
    ASSERT_EQ(l16.shape, (std::vector<int64_t>{24, 50257}));
    // --window reaches the backend: identical while every key is inside both windows, different after
    const int64_t V = 50257;
    double before = 0, after = 0;
    for (int64_t i = 0; i < l8.numel(); ++i) {
      double d = std::abs(double(l8.data[i]) - l16.data[i]);
      (i / V < 8 ? before : after) = test::nan_max(i / V < 8 ? before : after, d);  // a NaN fails both below
    }
    EXPECT_EQ(before, 0.0) << kind;
    EXPECT_GT(after, 0.0) << kind;
  }
}

TEST_F(AnalogCli, ReadSnrFlagAddsSeededNoise) {
  std::string ids;
  for (int i = 0; i < 12; ++i) {
    if (i) ids += ',';
    ids += std::to_string(200 + 41 * i);
  }
  const std::string a = " --model " + model() + " --attention gaincell --window 16 --tokens " + ids + " --out ";
  ASSERT_EQ(gc("logits" + a + path("snr_off.npy")).rc, 0);
  Result r = gc("logits" + a + path("snr_a.npy") + " --read-snr-db 10 --seed 4");
  ASSERT_EQ(r.rc, 0) << r.err;
  ASSERT_EQ(gc("logits" + a + path("snr_b.npy") + " --read-snr-db 10 --seed 4").rc, 0);
  NpyArray off = read_npy(path("snr_off.npy")), na = read_npy(path("snr_a.npy")), nb = read_npy(path("snr_b.npy"));
  ASSERT_EQ(off.numel(), na.numel());
  double diff = 0;
  for (int64_t i = 0; i < off.numel(); ++i) diff = std::max(diff, std::abs(double(off.data[i]) - na.data[i]));
  EXPECT_TRUE(diff > 1e-3) << diff;  // the noise reaches the logits
  EXPECT_EQ(na.data, nb.data);       // and is a function of the seed
  EXPECT_EQ(gc("logits" + a + path("snr_bad.npy") + " --read-snr-db -1").rc, 2);
}

TEST_F(AnalogCli, BadHardwareFileOrCsvGivesOneErrorLine) {
  write_file_atomic(path("bad_value.toml"), "[array]\nrows = -3\n");
  write_file_atomic(path("bad_key.toml"), "[array]\nrowz = 64\n");
  write_file_atomic(path("bad_syntax.toml"), "[array\nrows = 64\n");
  write_file_atomic(path("bad.csv"), "v_store_V,v_in_V,i_read_A\n0.1,0.9,abc\n");
  const std::string a = " --model " + model() + " --attention gaincell --tokens 1,2 --out " + path("never.npy");
  struct Bad {
    std::string args;
    int rc;
    std::string fragment;
  };
  const Bad calls[] = {
      {"logits" + a + " --hw " + path("bad_value.toml"), 1, "array.rows"},
      {"logits" + a + " --hw " + path("bad_key.toml"), 1, "rowz"},
      {"logits" + a + " --hw " + path("bad_syntax.toml"), 1, "bad_syntax.toml"},
      {"logits" + a + " --hw /nonexistent.toml", 2, "/nonexistent.toml"},
      {"device fit --csv " + path("bad.csv"), 1, "bad.csv:2"},
      {"device fit --csv /nonexistent.csv", 1, "/nonexistent.csv"},
      {"device fit --csv " + path("bad.csv") + " --order 9", 2, "--order"},
      {"device fit", 2, "--csv"},
      {"device", 2, "subcommand"},
  };
  for (const Bad& c : calls) {
    Result r = gc(c.args);
    EXPECT_EQ(r.rc, c.rc) << c.args << "\n" << r.err;
    EXPECT_EQ(count_lines(r.err), 1) << c.args << "\n" << r.err;
    EXPECT_NE(r.err.find(c.fragment), std::string::npos) << c.args << "\n" << r.err;
  }
  EXPECT_FALSE(fs::exists(path("never.npy")));
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
