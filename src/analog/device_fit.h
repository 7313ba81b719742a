// "Bring your own device" (issue 3 item 5, issue 17 item 2): least-squares polynomial fit of a measured cell
// I-V table (CSV with columns v_store_V, v_in_V, i_read_A) at one read voltage, in y = v_store - v_offset and
// uA, with a quality report and the checks the simulator relies on (docs/device-model.md, "Device fit"), the
// refit of the linear gain g, and the write of the result into a hardware TOML. Fit in double, normal
// equations in long double.
#pragma once
#include <string>
#include <vector>

#include "analog/hw_config.h"

namespace gaincell {

struct DeviceFitOptions {
  double v_in_v = 0.9;        // read voltage whose rows are fitted
  double v_in_tol_v = 1e-4;   // rows with |v_in_V - v_in_v| <= this are fitted (the others are dropped)
  int order = 3;              // polynomial order, 1..7; needs >= 2 (order + 1) distinct v_store points
  double v_offset_v = 0.45;   // y = v_store - v_offset
  double max_rel_rms = 0.05;  // fit-quality gate: ||residual|| / ||I|| over the fitted rows
  double min_r2 = 0.99;       // fit-quality gate: coefficient of determination
  void validate() const;      // throws Error("device-fit", ...) on an out-of-range option
};

// Rows of the table left out of the fit, grouped by reason.
struct DroppedRows {
  std::string reason;
  int count = 0;
  std::vector<int> lines;  // the first few line numbers (1 = header)
};

// One check of the fitted characteristic against the ranges the model uses.
struct DeviceFitCheck {
  std::string name;
  bool ok = false;
  std::string detail;  // the numbers compared
};

struct DeviceFit {
  std::vector<double> coeffs_ua;            // I(y) = sum_p coeffs_ua[p] y^p (uA), p = 0..order
  double rms_error_ua = 0;                  // RMS residual over the fitted points
  double max_error_ua = 0;                  // largest |residual|
  double rel_rms = 0;                       // ||residual||_2 / ||I||_2 (NaN when every current is 0)
  double r2 = 0;                            // 1 - SS_res / SS_tot (NaN when the currents are constant)
  double linear_gain_ua_per_v = 0;          // g of the least-squares line g*y to I(y) over the stored-voltage window
  int n_rows = 0;                           // data rows read
  int n_points = 0;                         // rows used
  int n_distinct = 0;                       // distinct v_store_V values among them
  double v_store_min = 0, v_store_max = 0;  // range of the fitted v_store_V
  std::vector<DroppedRows> dropped;         // rows not used, by reason
  std::vector<DeviceFitCheck> checks;
  DeviceFitOptions opts;
  bool ok() const;
  // Multi-line text: rows used and dropped, coefficients, error figures, linear gain, one line per check.
  std::string report(const std::string& source) const;
};

// Fits the rows of CSV text whose v_in_V is within opts.v_in_tol_v of opts.v_in_v and runs the checks
// against `hw` (store range, rows, cols, S_sat, A_fs). Malformed input (bad header, non-numeric or missing
// value, fewer than 2 (order + 1) distinct points) throws Error("device-fit", ...) naming `where` and the
// line; failed checks do not throw (see require_device_fit_ok).
DeviceFit fit_device_csv_text(const std::string& text, const std::string& where, const DeviceFitOptions& opts = {},
                              const HardwareConfig& hw = {});
DeviceFit fit_device_csv(const std::string& csv_path, const DeviceFitOptions& opts = {}, const HardwareConfig& hw = {});

// Throws Error("device-fit", ...) listing the failed checks, unless `force` (then it returns the failed
// checks' one-line summary for a warning; "" when every check passed).
std::string require_device_fit_ok(const DeviceFit& fit, bool force);

// Writes fit.coeffs_ua, the refitted linear gain, v_in_v and v_offset_v into the hardware TOML at
// `toml_path` (atomically): an existing file is loaded and its other fields kept; a missing file starts
// from the paper defaults.
void write_device_fit_toml(const std::string& toml_path, const DeviceFit& fit);

}  // namespace gaincell
