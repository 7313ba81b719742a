#include "analog/device_fit.h"

#include <cmath>
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

}  // namespace

DeviceFit fit_device_csv_text(const std::string& text, const std::string& where, double v_in_v, int order,
                              double v_offset_v) {
  if (order < 1 || order > 7) fail_expected("device-fit", "order in 1..7", std::to_string(order));
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
    if (std::fabs(vi - v_in_v) > 1e-9) continue;
    y.push_back(vs - v_offset_v);
    i_ua.push_back(ia * 1e6);
    distinct.insert(vs);
  }
  if (int(distinct.size()) < order + 1)
    fail_expected(
        "device-fit",
        "at least " + std::to_string(order + 1) + " distinct v_store_V points at v_in_V = " + std::to_string(v_in_v),
        std::to_string(distinct.size()), "in " + where);
  DeviceFit fit;
  fit.coeffs_ua = least_squares(y, i_ua, order);
  fit.n_points = int(y.size());
  fit.v_in_v = v_in_v;
  fit.v_offset_v = v_offset_v;
  double ss_res = 0;
  for (size_t k = 0; k < y.size(); ++k) {
    double pred = 0, yp = 1;
    for (double c : fit.coeffs_ua) pred += c * yp, yp *= y[k];
    double r = pred - i_ua[k];
    ss_res += r * r;
    fit.max_error_ua = std::max(fit.max_error_ua, std::fabs(r));
  }
  fit.rms_error_ua = std::sqrt(ss_res / double(y.size()));
  return fit;
}

DeviceFit fit_device_csv(const std::string& csv_path, double v_in_v, int order, double v_offset_v) {
  return fit_device_csv_text(read_file(csv_path, 64u << 20), csv_path, v_in_v, order, v_offset_v);
}

void write_device_fit_toml(const std::string& toml_path, const DeviceFit& fit) {
  HardwareConfig c = file_exists(toml_path) ? load_hardware_toml(toml_path) : HardwareConfig{};
  c.device.coeffs_ua = fit.coeffs_ua;
  c.device.v_in_v = fit.v_in_v;
  c.device.v_offset_v = fit.v_offset_v;
  save_hardware_toml(toml_path, c);
}

}  // namespace gaincell
