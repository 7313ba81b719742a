// "Bring your own device" (issue 3 item 5): least-squares polynomial fit of a measured cell I-V table
// (CSV with columns v_store_V, v_in_V, i_read_A) at one read voltage, in y = v_store - v_offset and uA,
// and the write of the coefficients into a hardware TOML. Fit in double, normal equations in long double.
#pragma once
#include <string>
#include <vector>

#include "analog/hw_config.h"

namespace gaincell {

struct DeviceFit {
  std::vector<double> coeffs_ua;  // I(y) = sum_p coeffs_ua[p] y^p (uA), p = 0..order
  double rms_error_ua = 0;        // RMS residual over the fitted points
  double max_error_ua = 0;        // largest |residual|
  int n_points = 0;               // rows used (those with v_in_V == v_in_v within 1e-9 V)
  double v_in_v = 0.9;
  double v_offset_v = 0.45;
};

// Fits the rows of `csv_path` whose v_in_V equals v_in_v; order in 1..7. Errors (missing file, bad header,
// non-numeric or missing value, too few distinct points) throw Error("device-fit", ...) naming the file
// and line.
DeviceFit fit_device_csv(const std::string& csv_path, double v_in_v = 0.9, int order = 3, double v_offset_v = 0.45);
// Same, on CSV text; `where` names the source in errors.
DeviceFit fit_device_csv_text(const std::string& text, const std::string& where, double v_in_v = 0.9, int order = 3,
                              double v_offset_v = 0.45);

// Writes fit.coeffs_ua, v_in_v and v_offset_v into the hardware TOML at `toml_path` (atomically): an existing
// file is loaded and its other fields kept; a missing file starts from the paper defaults.
void write_device_fit_toml(const std::string& toml_path, const DeviceFit& fit);

}  // namespace gaincell
