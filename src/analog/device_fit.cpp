#include "analog/device_fit.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <sstream>

#include "analog/hw_toml.h"
#include "core/error.h"
#include "core/file.h"

namespace gaincell {
namespace {

std::vector<std::string> split_csv(const std::string& line) {
  std::vector<std::string> out;
  std::string cell;
  std::stringstream ss(line);
  while (std::getline(ss, cell, ',')) out.push_back(cell);
  if (!line.empty() && line.back() == ',') out.push_back("");
  return out;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ')) s.pop_back();
  size_t b = s.find_first_not_of(' ');
  return b == std::string::npos ? "" : s.substr(b);
}

double parse_number(const std::string& cell, const std::string& column, const std::string& where, int line) {
  std::string s = trim(cell);
  char* end = nullptr;
  double v = s.empty() ? NAN : std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || !std::isfinite(v))
    fail_expected("device-fit", "a number in column " + column, "'" + s + "'",
                  "at " + where + ":" + std::to_string(line));
  return v;
}

// Solves the (order+1)^2 normal equations by Gaussian elimination with partial pivoting.
std::vector<double> least_squares(const std::vector<double>& y, const std::vector<double>& i_ua, int order) {
  const int n = order + 1;
  std::vector<long double> a(size_t(n) * (n + 1), 0.0L);
  for (size_t k = 0; k < y.size(); ++k) {
    std::vector<long double> pw(2 * n, 1.0L);
    for (int p = 1; p < 2 * n; ++p) pw[p] = pw[p - 1] * y[k];
    for (int r = 0; r < n; ++r) {
      for (int c = 0; c < n; ++c) a[r * (n + 1) + c] += pw[r + c];
      a[r * (n + 1) + n] += pw[r] * i_ua[k];
    }
  }
  for (int c = 0; c < n; ++c) {
    int piv = c;
    for (int r = c + 1; r < n; ++r)
      if (std::fabs(a[r * (n + 1) + c]) > std::fabs(a[piv * (n + 1) + c])) piv = r;
    for (int k = 0; k <= n; ++k) std::swap(a[c * (n + 1) + k], a[piv * (n + 1) + k]);
    for (int r = 0; r < n; ++r) {
      if (r == c) continue;
      long double f = a[r * (n + 1) + c] / a[c * (n + 1) + c];
      for (int k = c; k <= n; ++k) a[r * (n + 1) + k] -= f * a[c * (n + 1) + k];
    }
  }
  std::vector<double> coeffs(n);
  for (int r = 0; r < n; ++r) coeffs[r] = double(a[r * (n + 1) + n] / a[r * (n + 1) + r]);
  return coeffs;
}

double poly_eval(const std::vector<double>& c, double y) {
  double r = 0;
  for (size_t p = c.size(); p-- > 0;) r = r * y + c[p];
  return r;
}

double poly_slope(const std::vector<double>& c, double y) {
  double r = 0;
  for (size_t p = c.size(); p-- > 1;) r = r * y + double(p) * c[p];
  return r;
}

std::string fit_num(double v, int digits = 6) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", digits, v);
  return buf;
}

void drop(std::vector<DroppedRows>& d, const std::string& reason, int line) {
  for (auto& r : d)
    if (r.reason == reason) {
      if (r.lines.size() < 5) r.lines.push_back(line);
      ++r.count;
      return;
    }
  d.push_back({reason, 1, {line}});
}

// The checks of docs/device-model.md ("Device fit"), on the fitted characteristic over the stored-voltage
// window y in [store.lo - v_off, store.hi - v_off].
std::vector<DeviceFitCheck> run_checks(const DeviceFit& f, const HardwareConfig& hw) {
  std::vector<DeviceFitCheck> out;
  const DeviceFitOptions& o = f.opts;
  const QuantizerConfig& st = hw.converters.store;
  const double y0 = st.lo - o.v_offset_v, y1 = st.hi - o.v_offset_v;
  // Fit quality (NaN-aware: a NaN figure fails).
  out.push_back({"fit quality", f.rel_rms <= o.max_rel_rms && f.r2 >= o.min_r2,
                 "relative RMS " + fit_num(f.rel_rms, 4) + " (limit " + fit_num(o.max_rel_rms) + "), R^2 " +
                     fit_num(f.r2, 6) + " (limit " + fit_num(o.min_r2) + ")"});
  // Coverage of the stored-voltage window by the data (no extrapolation beyond half a store step).
  const double half = 0.5 * quant_step(st);
  out.push_back({"data covers the store window", f.v_store_min <= st.lo + half && f.v_store_max >= st.hi - half,
                 "v_store_V in [" + fit_num(f.v_store_min) + ", " + fit_num(f.v_store_max) + "] V, window [" +
                     fit_num(st.lo) + ", " + fit_num(st.hi) + "] V (half a store step " + fit_num(half, 3) +
                     " V allowed)"});
  // Strictly increasing over the window: sampled slope > 0 (the model's signed multiply needs I'(y) > 0).
  constexpr int kSamples = 1001;
  double min_slope = INFINITY, at = y0, i_min = INFINITY, i_max = -INFINITY;
  for (int k = 0; k < kSamples; ++k) {
    double y = y0 + (y1 - y0) * k / (kSamples - 1), s = poly_slope(f.coeffs_ua, y), i = poly_eval(f.coeffs_ua, y);
    if (!(s >= min_slope)) min_slope = s, at = y;
    i_min = std::min(i_min, i), i_max = std::max(i_max, i);
  }
  out.push_back({"increasing on the store window", min_slope > 0,
                 "min dI/dy " + fit_num(min_slope, 4) + " uA/V at y = " + fit_num(at, 4) + " V, y in [" +
                     fit_num(y0, 4) + ", " + fit_num(y1, 4) + "] V"});
  out.push_back({"signed (zero crossing inside the window)", i_min < 0 && i_max > 0,
                 "I from " + fit_num(i_min, 4) + " to " + fit_num(i_max, 4) + " uA"});
  // Read currents against the charge-to-pulse saturation and the ADC full scale (uA x T_max, full pulses).
  const double s_sat = hw.converters.s_sat_ua_tmax, a_fs = hw.converters.adc_full_scale_ua_tmax;
  const double i_abs = std::max(std::fabs(i_min), std::fabs(i_max));
  const int rows = hw.array.rows, cols = hw.array.cols;
  out.push_back({"K column can reach S_sat", double(rows) * i_max >= s_sat,
                 std::to_string(rows) + " cells x I_max " + fit_num(i_max, 4) + " uA = " + fit_num(rows * i_max, 4) +
                     " >= S_sat " + fit_num(s_sat)});
  out.push_back(
      {"one cell stays below S_sat", i_abs < s_sat, "max |I| " + fit_num(i_abs, 4) + " < S_sat " + fit_num(s_sat)});
  out.push_back({"V array can reach the ADC full scale", double(cols) * i_abs >= a_fs,
                 std::to_string(cols) + " cells x max |I| " + fit_num(i_abs, 4) + " uA = " + fit_num(cols * i_abs, 4) +
                     " >= A_fs " + fit_num(a_fs)});
  out.push_back({"one cell stays inside the ADC full scale", i_abs <= a_fs,
                 "max |I| " + fit_num(i_abs, 4) + " <= A_fs " + fit_num(a_fs)});
  return out;
}

}  // namespace

void DeviceFitOptions::validate() const {
  if (order < 1 || order > 7) fail_expected("device-fit", "order in 1..7", std::to_string(order));
  if (!(v_in_tol_v >= 0 && v_in_tol_v < 0.1))
    fail_expected("device-fit", "a v_in tolerance in [0, 0.1) V", fit_num(v_in_tol_v));
  if (!std::isfinite(v_in_v) || !std::isfinite(v_offset_v))
    fail_expected("device-fit", "finite v_in and v_offset", fit_num(v_in_v) + ", " + fit_num(v_offset_v));
  if (!(max_rel_rms > 0)) fail_expected("device-fit", "a relative RMS limit > 0", fit_num(max_rel_rms));
  if (!(min_r2 <= 1)) fail_expected("device-fit", "an R^2 limit <= 1", fit_num(min_r2));
}

bool DeviceFit::ok() const {
  for (auto& c : checks)
    if (!c.ok) return false;
  return true;
}

std::string DeviceFit::report(const std::string& source) const {
  std::ostringstream s;
  s << "fit of " << source << ": order " << opts.order << ", y = v_store - " << fit_num(opts.v_offset_v)
    << " V, rows with |v_in_V - " << fit_num(opts.v_in_v) << "| <= " << fit_num(opts.v_in_tol_v) << " V\n";
  s << "rows: " << n_rows << " read, " << n_points << " used (" << n_distinct << " distinct v_store_V), "
    << (n_rows - n_points) << " dropped\n";
  for (auto& d : dropped) {
    s << "  dropped " << d.count << ": " << d.reason << " (line";
    for (size_t k = 0; k < d.lines.size(); ++k) s << (k ? ", " : " ") << d.lines[k];
    s << (size_t(d.count) > d.lines.size() ? ", ...)\n" : ")\n");
  }
  s << "coeffs_ua = [";
  for (size_t p = 0; p < coeffs_ua.size(); ++p) s << (p ? ", " : "") << fit_num(coeffs_ua[p], 12);
  s << "]\n";
  s << "rms_error_ua = " << fit_num(rms_error_ua) << "\nmax_error_ua = " << fit_num(max_error_ua) << "\n";
  s << "relative_rms = " << fit_num(rel_rms) << "  (||residual|| / ||I||)\n";
  s << "r_squared = " << fit_num(r2, 8) << "\n";
  s << "linear_gain_ua_per_v = " << fit_num(linear_gain_ua_per_v, 8)
    << "  (least-squares g*y to I(y) over the stored-voltage window)\n";
  s << "checks:\n";
  for (auto& c : checks) s << "  " << (c.ok ? "ok    " : "FAILED") << " " << c.name << ": " << c.detail << "\n";
  return s.str();
}

DeviceFit fit_device_csv_text(const std::string& text, const std::string& where, const DeviceFitOptions& opts,
                              const HardwareConfig& hw) {
  opts.validate();
  hw.check(where);
  const int order = opts.order;
  std::stringstream ss(text);
  std::string line;
  if (!std::getline(ss, line)) fail_expected("device-fit", "a header line", "an empty file", "in " + where);
  auto header = split_csv(trim(line));
  int col[3] = {-1, -1, -1};
  const char* names[3] = {"v_store_V", "v_in_V", "i_read_A"};
  for (size_t c = 0; c < header.size(); ++c)
    for (int k = 0; k < 3; ++k)
      if (trim(header[c]) == names[k]) col[k] = int(c);
  for (int k = 0; k < 3; ++k)
    if (col[k] < 0)
      fail_expected("device-fit", "header columns v_store_V,v_in_V,i_read_A", "'" + trim(line) + "'", "in " + where);
  DeviceFit fit;
  fit.opts = opts;
  const QuantizerConfig& st = hw.converters.store;
  const std::string other_v_in =
      "v_in_V further than " + fit_num(opts.v_in_tol_v) + " V from " + fit_num(opts.v_in_v) + " V";
  const std::string near_v_in = "v_in_V within 10x the tolerance of " + fit_num(opts.v_in_v) +
                                " V but outside it (raise --v-in-tol if these are the same read voltage)";
  const std::string outside = "v_store_V outside the store window [" + fit_num(st.lo) + ", " + fit_num(st.hi) + "] V";
  std::vector<double> y, i_ua;
  std::set<double> distinct;
  for (int ln = 2; std::getline(ss, line); ++ln) {
    if (trim(line).empty()) continue;
    auto cells = split_csv(trim(line));
    if (cells.size() != header.size())
      fail_expected("device-fit", std::to_string(header.size()) + " values", std::to_string(cells.size()),
                    "at " + where + ":" + std::to_string(ln));
    double vs = parse_number(cells[col[0]], names[0], where, ln);
    double vi = parse_number(cells[col[1]], names[1], where, ln);
    double ia = parse_number(cells[col[2]], names[2], where, ln);
    ++fit.n_rows;
    const double dv = std::fabs(vi - opts.v_in_v);
    if (dv > opts.v_in_tol_v) {
      drop(fit.dropped, dv <= 10 * opts.v_in_tol_v ? near_v_in : other_v_in, ln);
      continue;
    }
    if (vs < st.lo - 1e-9 || vs > st.hi + 1e-9) {
      drop(fit.dropped, outside, ln);
      continue;
    }
    y.push_back(vs - opts.v_offset_v);
    i_ua.push_back(ia * 1e6);
    distinct.insert(vs);
  }
  if (int(distinct.size()) < 2 * (order + 1))
    fail_expected("device-fit",
                  "at least " + std::to_string(2 * (order + 1)) +
                      " distinct v_store_V points (2 x (order + 1)) at v_in_V = " + fit_num(opts.v_in_v) + " +- " +
                      fit_num(opts.v_in_tol_v) + " V",
                  std::to_string(distinct.size()), "in " + where);
  fit.coeffs_ua = least_squares(y, i_ua, order);
  fit.n_points = int(y.size());
  fit.n_distinct = int(distinct.size());
  fit.v_store_min = *distinct.begin();
  fit.v_store_max = *distinct.rbegin();
  double ss_res = 0, ss_i = 0, mean = 0;
  for (double i : i_ua) mean += i;
  mean /= double(i_ua.size());
  double ss_tot = 0;
  for (size_t k = 0; k < y.size(); ++k) {
    double r = poly_eval(fit.coeffs_ua, y[k]) - i_ua[k];
    ss_res += r * r;
    ss_i += i_ua[k] * i_ua[k];
    ss_tot += (i_ua[k] - mean) * (i_ua[k] - mean);
    fit.max_error_ua = std::max(fit.max_error_ua, std::fabs(r));
  }
  fit.rms_error_ua = std::sqrt(ss_res / double(y.size()));
  fit.rel_rms = ss_i > 0 ? std::sqrt(ss_res / ss_i) : NAN;
  fit.r2 = ss_tot > 0 ? 1.0 - ss_res / ss_tot : NAN;
  // g = argmin integral over the window of (I(y) - g y)^2 dy = int y I(y) dy / int y^2 dy (closed form).
  const double y0 = st.lo - opts.v_offset_v, y1 = st.hi - opts.v_offset_v;
  double num_int = 0;
  for (size_t p = 0; p < fit.coeffs_ua.size(); ++p)
    num_int += fit.coeffs_ua[p] * (std::pow(y1, double(p + 2)) - std::pow(y0, double(p + 2))) / double(p + 2);
  fit.linear_gain_ua_per_v = num_int / ((y1 * y1 * y1 - y0 * y0 * y0) / 3.0);
  fit.checks = run_checks(fit, hw);
  return fit;
}

DeviceFit fit_device_csv(const std::string& csv_path, const DeviceFitOptions& opts, const HardwareConfig& hw) {
  return fit_device_csv_text(read_file(csv_path, 64u << 20), csv_path, opts, hw);
}

std::string require_device_fit_ok(const DeviceFit& fit, bool force) {
  std::string failed;
  for (auto& c : fit.checks)
    if (!c.ok) failed += (failed.empty() ? "" : "; ") + c.name + " (" + c.detail + ")";
  if (!failed.empty() && !force)
    fail_expected("device-fit", "a fitted characteristic that passes every check (or --force)", "failed: " + failed);
  return failed;
}

void write_device_fit_toml(const std::string& toml_path, const DeviceFit& fit) {
  HardwareConfig c = file_exists(toml_path) ? load_hardware_toml(toml_path) : HardwareConfig{};
  c.device.characteristic = "poly";  // the fitted polynomial replaces an ablation cell
  c.device.coeffs_ua = fit.coeffs_ua;
  c.device.linear_gain_ua_per_v = fit.linear_gain_ua_per_v;
  c.device.v_in_v = fit.opts.v_in_v;
  c.device.v_offset_v = fit.opts.v_offset_v;
  save_hardware_toml(toml_path, c);
}

}  // namespace gaincell
