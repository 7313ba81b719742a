// Device fit: the authors' SPICE table reproduces the collapsed cubic (paper-spec §1.1, "Golden data"),
// the coefficients land in a hardware TOML, and hostile CSV files give clean errors.
#include <gtest/gtest.h>

#include <cmath>
#include <iomanip>
#include <sstream>

#include "analog/device_fit.h"
#include "analog/hw_toml.h"
#include "core/error.h"
#include "core/file.h"
#include "test_paths.h"

namespace gaincell {
namespace {

TEST(AnalogDeviceFit, SpiceTableReproducesTheCollapsedCubic) {
  GAINCELL_REQUIRE_FILE(test::shared_path("data/gaincell-authors/gaincell_iv_spice.csv"));
  DeviceFit f = fit_device_csv(test::shared_path("data/gaincell-authors/gaincell_iv_spice.csv"), 0.9, 3);
  const double spec[4] = {0.5213636139, 13.612260634, -2.620445619, 46.05483778};
  ASSERT_EQ(f.coeffs_ua.size(), 4u);
  for (int p = 0; p < 4; ++p) EXPECT_NEAR(f.coeffs_ua[p] / spec[p], 1.0, 2e-6) << "p " << p;
  EXPECT_EQ(f.n_points, 50);
  EXPECT_GT(f.rms_error_ua, 0.0);
  EXPECT_GE(f.max_error_ua, f.rms_error_ua);
  EXPECT_LT(f.max_error_ua, 1.0);  // uA; the cubic is ~2.5 % off a 10 uA curve
}

TEST(AnalogDeviceFit, ExactPolynomialIsRecovered) {
  std::string csv = "i_read_A,v_store_V,v_in_V\n";
  for (int k = 0; k <= 20; ++k) {
    double vs = 0.045 * k, y = vs - 0.45, i = (1.0 - 2.0 * y + 3.0 * y * y) * 1e-6;
    std::ostringstream row;
    row << std::setprecision(17) << i << "," << vs << ",0.9\n0," << vs << ",0.5\n";
    csv += row.str();
  }
  DeviceFit f = fit_device_csv_text(csv, "mem", 0.9, 2);
  EXPECT_NEAR(f.coeffs_ua[0], 1.0, 1e-5);
  EXPECT_NEAR(f.coeffs_ua[1], -2.0, 1e-5);
  EXPECT_NEAR(f.coeffs_ua[2], 3.0, 1e-5);
}

TEST(AnalogDeviceFit, WritesCoefficientsIntoHardwareToml) {
  std::string dir = test::scratch_dir("analog_device_fit");
  HardwareConfig base;
  base.array.window_tokens = 512;
  save_hardware_toml(dir + "/hw.toml", base);
  DeviceFit f;
  f.coeffs_ua = {0.1, 20.0, 0.5};
  write_device_fit_toml(dir + "/hw.toml", f);
  HardwareConfig c = load_hardware_toml(dir + "/hw.toml");
  EXPECT_EQ(c.device.coeffs_ua, f.coeffs_ua);
  EXPECT_EQ(c.array.window_tokens, 512);  // other fields kept
  write_device_fit_toml(dir + "/new.toml", f);
  EXPECT_EQ(load_hardware_toml(dir + "/new.toml").device.coeffs_ua, f.coeffs_ua);
}

TEST(AnalogDeviceFit, HostileCsvGivesCleanErrors) {
  struct Case {
    std::string text, fragment;
  } cases[] = {
      {"", "an empty file"},
      {"v_store,v_in_V,i_read_A\n0,0.9,1e-6\n", "header columns"},
      {"v_store_V,v_in_V,i_read_A\n0,0.9,abc\n", "a number in column i_read_A"},
      {"v_store_V,v_in_V,i_read_A\n0,,1e-6\n", "a number in column v_in_V"},
      {"v_store_V,v_in_V,i_read_A\n0,0.9\n", "3 values"},
      {"v_store_V,v_in_V,i_read_A\n0,0.9,1e-6\n0.1,0.9,2e-6\n0.2,0.9,3e-6\n", "at least 4 distinct"},
      {"v_store_V,v_in_V,i_read_A\n0,0.5,1e-6\n", "at least 4 distinct"},
  };
  for (auto& c : cases) {
    try {
      fit_device_csv_text(c.text, "iv.csv", 0.9, 3);
      ADD_FAILURE() << "no error for: " << c.text;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(c.fragment), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("iv.csv"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(fit_device_csv("/nonexistent.csv"), Error);
  EXPECT_THROW(fit_device_csv_text("v_store_V,v_in_V,i_read_A\n", "x", 0.9, 0), Error);
}

}  // namespace
}  // namespace gaincell
