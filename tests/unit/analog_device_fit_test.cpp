// Device fit: the authors' SPICE table reproduces the collapsed cubic (paper-spec §1.1, "Golden data") with
// its quality report, bad characteristics (non-monotonic, flat, decreasing, out of range) fail the checks,
// the v_in tolerance and dropped rows are reported, the refitted linear gain reaches the linear backend, and
// hostile CSV files give clean errors.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <iomanip>
#include <sstream>

#include "analog/cell_model.h"
#include "analog/device_fit.h"
#include "analog/gaincell_backward.h"
#include "analog/hw_toml.h"
#include "core/error.h"
#include "core/file.h"
#include "test_paths.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {

const double kSpec[4] = {0.5213636139, 13.612260634, -2.620445619, 46.05483778};  // paper-spec §1.1

// CSV of I(v_store) in amperes at v_in = 0.9 V on n points of [lo, hi], plus a row at 0.5 V per point.
std::string table(const std::function<double(double)>& i_amp, int n = 46, double lo = 0.0, double hi = 0.9) {
  std::ostringstream s;
  s << std::setprecision(17) << "v_store_V,v_in_V,i_read_A\n";
  for (int k = 0; k < n; ++k) {
    double vs = lo + (hi - lo) * k / (n - 1);
    s << vs << ",0.9," << i_amp(vs) << "\n" << vs << ",0.5,0\n";
  }
  return s.str();
}

// The failed checks' names, "; "-joined.
std::string failed(const DeviceFit& f) {
  std::string s;
  for (auto& c : f.checks)
    if (!c.ok) s += (s.empty() ? "" : "; ") + c.name;
  return s;
}

TEST(AnalogDeviceFit, SpiceTablePassesWithItsReport) {
  GAINCELL_REQUIRE_FILE(test::shared_path("data/gaincell-authors/gaincell_iv_spice.csv"));
  DeviceFit f = fit_device_csv(test::shared_path("data/gaincell-authors/gaincell_iv_spice.csv"));
  ASSERT_EQ(f.coeffs_ua.size(), 4u);
  for (int p = 0; p < 4; ++p) EXPECT_NEAR(f.coeffs_ua[p] / kSpec[p], 1.0, 2e-6) << "p " << p;
  EXPECT_EQ(f.n_rows, 2550);
  EXPECT_EQ(f.n_points, 50);
  EXPECT_EQ(f.n_distinct, 50);
  ASSERT_EQ(f.dropped.size(), 1u);  // the 50 other read voltages
  EXPECT_EQ(f.dropped[0].count, 2500);
  EXPECT_NE(f.dropped[0].reason.find("further than"), std::string::npos) << f.dropped[0].reason;
  // Figures from numpy.polyfit on the same 50 rows (tools-free re-derivation in the commit message).
  EXPECT_NEAR(f.rms_error_ua, 0.1295787227, 1e-8);
  EXPECT_NEAR(f.max_error_ua, 0.3397663864, 1e-8);
  EXPECT_NEAR(f.rel_rms, 0.0248708158, 1e-9);  // paper-spec: "~2.5 % (norm)"
  EXPECT_NEAR(f.r2, 0.9993788339, 1e-9);
  EXPECT_TRUE(f.ok()) << f.report("spice");
  EXPECT_EQ(require_device_fit_ok(f, false), "");
  // Linear gain: least-squares g y to I(y) over y in [-0.45, 0.45]; for a cubic on a symmetric window this is
  // a1 + a3 * 3 h^2 / 5 (the even powers cancel). Spec's cubic: 19.2079. The spec's 19.219 is the same fit
  // over 1000 sampled points; check that relation too.
  const double h = 0.45;
  EXPECT_NEAR(f.linear_gain_ua_per_v, kSpec[1] + kSpec[3] * 3 * h * h / 5, 1e-4);
  double num = 0, den = 0;
  for (int k = 0; k < 1000; ++k) {
    double y = -h + 2 * h * k / 999, i = 0;
    for (int p = 3; p >= 0; --p) i = i * y + f.coeffs_ua[p];
    num += y * i, den += y * y;
  }
  EXPECT_NEAR(num / den, 19.219, 5e-4);
  std::string rep = f.report("spice.csv");
  for (const char* s : {"50 used", "2500 dropped", "relative_rms = 0.0248708", "r_squared = 0.99937883",
                        "linear_gain_ua_per_v = 19.20792", "ok     increasing"})
    EXPECT_NE(rep.find(s), std::string::npos) << s << "\n" << rep;
}

TEST(AnalogDeviceFit, ExactPolynomialIsRecovered) {
  std::string csv = "i_read_A,v_store_V,v_in_V\n";
  for (int k = 0; k <= 20; ++k) {
    double vs = 0.045 * k, y = vs - 0.45, i = (1.0 - 2.0 * y + 3.0 * y * y) * 1e-6;
    std::ostringstream row;
    row << std::setprecision(17) << i << "," << vs << ",0.9\n0," << vs << ",0.5\n";
    csv += row.str();
  }
  DeviceFitOptions o;
  o.order = 2;
  DeviceFit f = fit_device_csv_text(csv, "mem", o);
  EXPECT_NEAR(f.coeffs_ua[0], 1.0, 1e-5);
  EXPECT_NEAR(f.coeffs_ua[1], -2.0, 1e-5);
  EXPECT_NEAR(f.coeffs_ua[2], 3.0, 1e-5);
  EXPECT_TRUE(f.rms_error_ua <= 1e-9);
  EXPECT_NEAR(f.r2, 1.0, 1e-12);
}

TEST(AnalogDeviceFit, NonMonotonicFlatAndDecreasingCellsFail) {
  struct Case {
    const char* name;
    std::function<double(double)> i;
    const char* check;
  } cases[] = {
      {"10 uA sine", [](double vs) { return 10e-6 * std::sin(2 * M_PI * vs / 0.3); }, "fit quality"},
      {"flat", [](double) { return 1e-6; }, "increasing on the store window"},
      {"decreasing", [](double vs) { return -19.3e-6 * (vs - 0.45); }, "increasing on the store window"},
  };
  for (auto& c : cases) {
    DeviceFit f = fit_device_csv_text(table(c.i), c.name);
    EXPECT_FALSE(f.ok()) << c.name;
    EXPECT_NE(failed(f).find(c.check), std::string::npos) << c.name << ": " << failed(f);
    try {
      require_device_fit_ok(f, false);
      ADD_FAILURE() << "no error for " << c.name;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(c.check), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("--force"), std::string::npos) << e.what();
    }
    EXPECT_NE(require_device_fit_ok(f, true).find(c.check), std::string::npos) << c.name;  // --force: a warning
    EXPECT_NE(f.report(c.name).find("FAILED " + std::string(c.check)), std::string::npos) << f.report(c.name);
  }
  // The flat cell has no sign change and cannot reach S_sat; the decreasing one is signed.
  DeviceFit flat = fit_device_csv_text(table([](double) { return 1e-6; }), "flat");
  EXPECT_NE(failed(flat).find("signed"), std::string::npos) << failed(flat);
  EXPECT_NE(failed(flat).find("K column can reach S_sat"), std::string::npos) << failed(flat);
  EXPECT_TRUE(std::isnan(flat.r2));  // constant currents: R^2 undefined, and the NaN fails the gate
  EXPECT_NE(failed(flat).find("fit quality"), std::string::npos) << failed(flat);
}

TEST(AnalogDeviceFit, RangeChecksUseTheHardwareConfig) {
  auto cubic = [](double scale) {
    return [scale](double vs) {
      double y = vs - 0.45, i = 0;
      for (int p = 3; p >= 0; --p) i = i * y + kSpec[p];
      return scale * i * 1e-6;
    };
  };
  EXPECT_EQ(failed(fit_device_csv_text(table(cubic(1.0)), "paper")), "");
  // Data on [0.2, 0.7] V only: the fit would extrapolate over the store window.
  EXPECT_EQ(failed(fit_device_csv_text(table(cubic(1.0), 46, 0.2, 0.7), "narrow")), "data covers the store window");
  // A 100x stronger cell saturates S_sat (80) and the ADC (40) alone; a 10x weaker one never reaches S_sat.
  std::string strong = failed(fit_device_csv_text(table(cubic(100.0)), "strong"));
  EXPECT_EQ(strong, "one cell stays below S_sat; one cell stays inside the ADC full scale");
  EXPECT_EQ(failed(fit_device_csv_text(table(cubic(0.1)), "weak")), "K column can reach S_sat");
  // The ranges come from the hardware config: with S_sat 1100 and A_fs 2000 the strong cell passes.
  HardwareConfig hw;
  hw.converters.s_sat_ua_tmax = 1100;
  hw.converters.adc_full_scale_ua_tmax = 2000;
  EXPECT_EQ(failed(fit_device_csv_text(table(cubic(100.0)), "strong", {}, hw)), "");
}

TEST(AnalogDeviceFit, VinToleranceAndDroppedRowsAreReported) {
  // 0.9000001 is the same read voltage (within the documented 1e-4 V); 0.9005 is a near miss; 0.5 another.
  std::ostringstream s;
  s << std::setprecision(17) << "v_store_V,v_in_V,i_read_A\n";
  for (int k = 0; k < 10; ++k) {
    double vs = 0.1 * k;
    s << vs << "," << (k % 2 ? "0.9000001" : "0.9") << "," << 19.3e-6 * (vs - 0.45) << "\n";
  }
  s << "0.45,0.9005,0\n0.45,0.5,0\n0.3,0.5,0\n";
  DeviceFitOptions o;
  o.order = 1;
  DeviceFit f = fit_device_csv_text(s.str(), "tol.csv", o);
  EXPECT_EQ(f.n_rows, 13);
  EXPECT_EQ(f.n_points, 10);  // main dropped the five 0.9000001 rows silently (tolerance 1e-9)
  ASSERT_EQ(f.dropped.size(), 2u);
  EXPECT_NE(f.dropped[0].reason.find("within 10x the tolerance"), std::string::npos) << f.dropped[0].reason;
  EXPECT_EQ(f.dropped[0].count, 1);
  EXPECT_EQ(f.dropped[0].lines, std::vector<int>{12});
  EXPECT_NE(f.dropped[1].reason.find("further than 0.0001 V from 0.9 V"), std::string::npos) << f.dropped[1].reason;
  EXPECT_EQ(f.dropped[1].count, 2);
  EXPECT_EQ(f.dropped[1].lines, (std::vector<int>{13, 14}));
  EXPECT_NEAR(f.coeffs_ua[1], 19.3, 1e-9);
  std::string rep = f.report("tol.csv");
  EXPECT_NE(rep.find("13 read, 10 used (10 distinct v_store_V), 3 dropped"), std::string::npos) << rep;
  EXPECT_NE(rep.find("dropped 2: v_in_V further than 0.0001 V from 0.9 V (line 13, 14)"), std::string::npos) << rep;
  // A tighter tolerance drops the 0.9000001 rows, now with a reason.
  o.v_in_tol_v = 1e-9;
  DeviceFit tight = fit_device_csv_text(s.str(), "tol.csv", o);
  EXPECT_EQ(tight.n_points, 5);
  ASSERT_EQ(tight.dropped.size(), 1u);  // 5 x 0.9000001, 0.9005 and 2 x 0.5: all "further than 1e-09 V"
  EXPECT_EQ(tight.dropped[0].count, 8);
  EXPECT_EQ(tight.dropped[0].lines, (std::vector<int>{3, 5, 7, 9, 11}));  // the first five line numbers
}

TEST(AnalogDeviceFit, TooFewPointsForThePolynomialIsAnError) {
  // Seven distinct points for a cubic (which needs 2 x 4 = 8): the residual would be meaningless.
  std::string csv = table([](double vs) { return 19.3e-6 * (vs - 0.45); }, 7);
  try {
    fit_device_csv_text(csv, "few.csv");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("at least 8 distinct"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("got 7"), std::string::npos) << e.what();
  }
  DeviceFitOptions o;
  o.order = 2;  // needs 6
  EXPECT_EQ(fit_device_csv_text(csv, "few.csv", o).n_points, 7);
}

TEST(AnalogDeviceFit, WritesCoefficientsAndLinearGainIntoHardwareToml) {
  std::string dir = test::scratch_dir("analog_device_fit");
  HardwareConfig base;
  base.array.window_tokens = 512;
  base.device.characteristic = "sigmoid";  // replaced by the fitted polynomial
  save_hardware_toml(dir + "/hw.toml", base);
  DeviceFit f = fit_device_csv_text(table([](double vs) {
                                      double y = vs - 0.4;
                                      return (0.2 + 21.0 * y + 30.0 * y * y * y) * 1e-6;
                                    }),
                                    "mine");
  write_device_fit_toml(dir + "/hw.toml", f);
  HardwareConfig c = load_hardware_toml(dir + "/hw.toml");
  EXPECT_EQ(c.device.coeffs_ua, f.coeffs_ua);
  EXPECT_EQ(c.device.linear_gain_ua_per_v, f.linear_gain_ua_per_v);
  EXPECT_EQ(c.array.window_tokens, 512);  // other fields kept
  EXPECT_EQ(c.device.characteristic, "poly");
  // y = vs - 0.45 for a cell centred at 0.4: I = 0.2 + 21 (y + 0.05) + 30 (y + 0.05)^3; window y in
  // [-0.45, 0.45]. Independent g: Simpson integration of y I(y) / int y^2.
  auto I = [](double y) { return 0.2 + 21.0 * (y + 0.05) + 30.0 * std::pow(y + 0.05, 3); };
  double num = 0;
  const int n = 2000;
  for (int k = 0; k <= n; ++k) {
    double y = -0.45 + 0.9 * k / n, w = (k == 0 || k == n) ? 1 : (k % 2 ? 4 : 2);
    num += w * y * I(y);
  }
  num *= 0.9 / n / 3;
  const double g = num / (2 * 0.45 * 0.45 * 0.45 / 3);
  EXPECT_NEAR(f.linear_gain_ua_per_v, g, 1e-6 * g);
  EXPECT_TRUE(std::fabs(g - 19.3) > 1.0);  // really a different gain from the paper's
  // The gain reaches the linear backend's forward cell and the surrogate backward.
  EXPECT_EQ(make_cell_poly(c.device, true).alpha[1], float(f.linear_gain_ua_per_v));
  EXPECT_EQ(make_head_backward_params(c, 64, false).gain, float(f.linear_gain_ua_per_v));
  write_device_fit_toml(dir + "/new.toml", f);
  EXPECT_EQ(load_hardware_toml(dir + "/new.toml").device.linear_gain_ua_per_v, f.linear_gain_ua_per_v);
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
      {"v_store_V,v_in_V,i_read_A\n0,0.9,1e-6\n0.1,0.9,2e-6\n0.2,0.9,3e-6\n", "at least 8 distinct"},
      {"v_store_V,v_in_V,i_read_A\n0,0.5,1e-6\n", "at least 8 distinct"},
  };
  for (auto& c : cases) {
    try {
      fit_device_csv_text(c.text, "iv.csv");
      ADD_FAILURE() << "no error for: " << c.text;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(c.fragment), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("iv.csv"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(fit_device_csv("/nonexistent.csv"), Error);
  DeviceFitOptions bad;
  bad.order = 0;
  EXPECT_THROW(fit_device_csv_text("v_store_V,v_in_V,i_read_A\n", "x", bad), Error);
  bad = {};
  bad.v_in_tol_v = -1;
  EXPECT_THROW(fit_device_csv_text("v_store_V,v_in_V,i_read_A\n", "x", bad), Error);
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
