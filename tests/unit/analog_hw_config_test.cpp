// Hardware config: paper defaults, validate() lists every problem, TOML round trip, hostile TOML files.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "analog/hw_config.h"
#include "analog/hw_toml.h"
#include "core/error.h"
#include "core/file.h"
#include "test_paths.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {

std::string repo_path(const std::string& rel) {
  return (std::filesystem::path(__FILE__).parent_path() / "../.." / rel).string();
}

std::string error_of(const std::string& text) {
  try {
    hardware_from_toml(text, "bad.toml");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(AnalogHwConfig, DefaultsAreThePaper) {
  HardwareConfig c;
  EXPECT_TRUE(c.validate().empty());
  EXPECT_EQ(c.array.window_tokens, 1024);
  EXPECT_EQ(c.array.rows, 64);
  EXPECT_EQ(c.converters.query.levels, 16);
  EXPECT_EQ(c.converters.store.levels, 8);
  EXPECT_DOUBLE_EQ(c.converters.store.hi, 0.9);
  EXPECT_EQ(c.converters.adc.levels, 32);
  EXPECT_DOUBLE_EQ(c.device.v_offset_v, 0.45);
  EXPECT_DOUBLE_EQ(c.device.linear_gain_ua_per_v, 19.3);
  EXPECT_DOUBLE_EQ(c.converters.s_sat_ua_tmax, 80.0);
  EXPECT_DOUBLE_EQ(c.converters.adc_full_scale_ua_tmax, 40.0);
  EXPECT_DOUBLE_EQ(c.lambda_per_token(), 1.6e-4);
  EXPECT_TRUE(c.noise_off());
}

TEST(AnalogHwConfig, ValidateReportsEveryProblem) {
  HardwareConfig c;
  c.converters.adc.levels = 1;
  c.array.window_tokens = 0;
  c.noise.read_noise_s_ua_tmax = -1;
  c.leakage.retention_tau_s = 5e-3;  // without token_period_s
  auto p = c.validate();
  ASSERT_EQ(p.size(), 4u);
  EXPECT_NE(p[0].find("array.window_tokens"), std::string::npos);
  EXPECT_THROW(c.check("x.toml"), Error);
}

TEST(AnalogHwConfig, TomlRoundTripIsExact) {
  HardwareConfig c;
  c.device.coeffs_ua = {0.1, -2.5e-7, 3.0};
  c.array.window_tokens = 200;
  c.converters.adc.enabled = false;
  c.leakage.refresh_every_tokens = 7;
  c.noise.chip_seed = 123456789012345ull;
  c.noise.cell_gain_sigma = 0.0123456789;
  HardwareConfig d = hardware_from_toml(hardware_to_toml(c), "mem");
  EXPECT_EQ(hardware_to_toml(c), hardware_to_toml(d));
  EXPECT_EQ(d.device.coeffs_ua, c.device.coeffs_ua);
  EXPECT_EQ(d.noise.chip_seed, c.noise.chip_seed);
  EXPECT_EQ(d.noise.cell_gain_sigma, c.noise.cell_gain_sigma);
  EXPECT_FALSE(d.converters.adc.enabled);
}

TEST(AnalogHwConfig, SaveIsAtomicAndLoads) {
  std::string dir = test::scratch_dir("analog_hw_save");
  HardwareConfig c;
  c.array.window_tokens = 128;
  save_hardware_toml(dir + "/hw.toml", c);
  EXPECT_EQ(load_hardware_toml(dir + "/hw.toml").array.window_tokens, 128);
}

TEST(AnalogHwConfig, ShippedPaperTomlEqualsDefaults) {
  HardwareConfig c = load_hardware_toml(repo_path("configs/paper.toml"));
  EXPECT_EQ(hardware_to_toml(c), hardware_to_toml(HardwareConfig{}));
}

TEST(AnalogHwConfig, PartialFileKeepsDefaults) {
  HardwareConfig c = hardware_from_toml("[array]\nwindow_tokens = 256\n[converters]\ns_sat_ua_tmax = 60\n", "p");
  EXPECT_EQ(c.array.window_tokens, 256);
  EXPECT_DOUBLE_EQ(c.converters.s_sat_ua_tmax, 60.0);  // integer accepted for a float field
  EXPECT_EQ(c.converters.adc.levels, 32);
}

TEST(AnalogHwConfig, HostileFilesGiveCleanErrors) {
  struct Case {
    const char* text;
    const char* fragment;
  } cases[] = {
      {"[array]\nwindw_tokens = 3\n", "unknown key 'array.windw_tokens'"},
      {"[bogus]\nx = 1\n", "unknown key 'bogus.x'"},
      {"[array]\nrows = \"64\"\n", "key 'array.rows': expected an integer, got a string"},
      {"[converters.adc]\nlevels = 2.5\n", "key 'converters.adc.levels': expected an integer, got a float"},
      {"[device]\ncoeffs_ua = [1.0, \"a\"]\n", "key 'device.coeffs_ua'"},
      {"[converters.query]\nenabled = 1\n", "expected a boolean"},
      {"[noise]\nchip_seed = -4\n", "non-negative integer"},
      {"[array\nrows = 1\n", "syntax error at line 1"},
      {"[converters.adc]\nlevels = 0\n", "converters.adc.levels: expected 2..65536, got 0"},
      {"array = 3\n", "unknown key 'array'"},
  };
  for (auto& c : cases) {
    std::string e = error_of(c.text);
    EXPECT_NE(e.find(c.fragment), std::string::npos) << c.text << " -> " << e;
    EXPECT_NE(e.find("bad.toml"), std::string::npos) << e;
  }
  EXPECT_THROW(load_hardware_toml("/nonexistent/hw.toml"), Error);
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
