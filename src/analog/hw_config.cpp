#include "analog/hw_config.h"

#include <cmath>
#include <sstream>

#include "core/error.h"

namespace gaincell {
namespace {

std::string num(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

void need(std::vector<std::string>& out, bool ok, const std::string& key, const std::string& expected,
          const std::string& got) {
  if (!ok) out.push_back(key + ": expected " + expected + ", got " + got);
}

void check_quantizer(std::vector<std::string>& out, const QuantizerConfig& q, const std::string& key) {
  need(out, q.levels >= 2 && q.levels <= (1 << 16), key + ".levels", "2..65536", std::to_string(q.levels));
  need(out, std::isfinite(q.lo) && std::isfinite(q.hi) && q.hi > q.lo, key + ".hi", "finite hi > lo",
       "lo " + num(q.lo) + ", hi " + num(q.hi));
}

void check_nonneg(std::vector<std::string>& out, double v, const std::string& key) {
  need(out, std::isfinite(v) && v >= 0.0, key, "a finite value >= 0", num(v));
}

}  // namespace

std::vector<std::string> HardwareConfig::validate() const {
  std::vector<std::string> out;
  need(out, device.characteristic == "poly" || device.characteristic == "sigmoid" || device.characteristic == "exp",
       "device.characteristic", "\"poly\", \"sigmoid\" or \"exp\"", "\"" + device.characteristic + "\"");
  check_nonneg(out, device.stiffness_per_v, "device.stiffness_per_v");
  need(out, std::isfinite(device.swing_ua) && device.swing_ua > 0, "device.swing_ua", "a finite value > 0",
       num(device.swing_ua));
  need(out, !device.coeffs_ua.empty() && device.coeffs_ua.size() <= 8, "device.coeffs_ua", "1..8 coefficients",
       std::to_string(device.coeffs_ua.size()));
  for (double c : device.coeffs_ua) need(out, std::isfinite(c), "device.coeffs_ua", "finite values", num(c));
  need(out, std::isfinite(device.linear_gain_ua_per_v), "device.linear_gain_ua_per_v", "finite",
       num(device.linear_gain_ua_per_v));
  need(out, device.v_offset_v >= converters.store.lo && device.v_offset_v <= converters.store.hi, "device.v_offset_v",
       "inside the store range", num(device.v_offset_v));
  need(out, device.v_in_v > 0, "device.v_in_v", "> 0", num(device.v_in_v));
  need(out, array.rows >= 1 && array.rows <= 4096, "array.rows", "1..4096", std::to_string(array.rows));
  need(out, array.cols >= 1 && array.cols <= 4096, "array.cols", "1..4096", std::to_string(array.cols));
  need(out, array.window_tokens >= 1 && array.window_tokens <= (1 << 20), "array.window_tokens", "1..1048576",
       std::to_string(array.window_tokens));
  need(out, array.tile_mapping == "absolute" || array.tile_mapping == "ring", "array.tile_mapping",
       "\"absolute\" or \"ring\"", "\"" + array.tile_mapping + "\"");
  need(out, array.row_sum == "shared_line" || array.row_sum == "digital", "array.row_sum",
       "\"shared_line\" or \"digital\"", "\"" + array.row_sum + "\"");
  check_quantizer(out, converters.query, "converters.query");
  check_quantizer(out, converters.store, "converters.store");
  check_quantizer(out, converters.adc, "converters.adc");
  need(out, converters.t_max_ns > 0, "converters.t_max_ns", "> 0", num(converters.t_max_ns));
  need(out, converters.s_sat_ua_tmax > 0, "converters.s_sat_ua_tmax", "> 0", num(converters.s_sat_ua_tmax));
  need(out, converters.adc_full_scale_ua_tmax > 0, "converters.adc_full_scale_ua_tmax", "> 0",
       num(converters.adc_full_scale_ua_tmax));
  check_nonneg(out, leakage.decay_per_token, "leakage.decay_per_token");
  check_nonneg(out, leakage.retention_tau_s, "leakage.retention_tau_s");
  check_nonneg(out, leakage.token_period_s, "leakage.token_period_s");
  need(out, leakage.retention_tau_s == 0 || leakage.token_period_s > 0, "leakage.token_period_s",
       "> 0 when retention_tau_s is set", num(leakage.token_period_s));
  need(out, leakage.refresh_every_tokens >= 0, "leakage.refresh_every_tokens", ">= 0",
       std::to_string(leakage.refresh_every_tokens));
  check_nonneg(out, noise.cell_gain_sigma, "noise.cell_gain_sigma");
  check_nonneg(out, noise.cell_offset_sigma_ua, "noise.cell_offset_sigma_ua");
  check_nonneg(out, noise.write_noise_sigma_v, "noise.write_noise_sigma_v");
  check_nonneg(out, noise.read_noise_s_ua_tmax, "noise.read_noise_s_ua_tmax");
  check_nonneg(out, noise.read_noise_a_ua_tmax, "noise.read_noise_a_ua_tmax");
  check_nonneg(out, noise.read_snr_s_db, "noise.read_snr_s_db");
  check_nonneg(out, noise.read_snr_a_db, "noise.read_snr_a_db");
  check_nonneg(out, noise.adc_offset_sigma, "noise.adc_offset_sigma");
  check_nonneg(out, noise.adc_gain_sigma, "noise.adc_gain_sigma");
  check_nonneg(out, noise.c2p_sat_sigma, "noise.c2p_sat_sigma");
  return out;
}

void HardwareConfig::check(const std::string& where) const {
  auto problems = validate();
  if (problems.empty()) return;
  std::string msg = "invalid hardware config in '" + where + "': ";
  for (size_t i = 0; i < problems.size(); ++i) msg += (i ? "; " : "") + problems[i];
  fail("hw", msg);
}

bool HardwareConfig::noise_off() const {
  const NoiseConfig& n = noise;
  return n.cell_gain_sigma == 0 && n.cell_offset_sigma_ua == 0 && n.write_noise_sigma_v == 0 &&
         n.read_noise_s_ua_tmax == 0 && n.read_noise_a_ua_tmax == 0 && n.read_snr_s_db == 0 && n.read_snr_a_db == 0 &&
         n.adc_offset_sigma == 0 && n.adc_gain_sigma == 0 && n.c2p_sat_sigma == 0;
}

double HardwareConfig::stiffness() const {
  if (device.stiffness_per_v > 0) return device.stiffness_per_v;
  return device.characteristic == "exp" ? 3.0 : 10.0;  // paper-spec §2.7: sigmoid stiffness 10, exponential 3
}

double HardwareConfig::lambda_per_token() const {
  if (leakage.retention_tau_s > 0) return leakage.token_period_s / leakage.retention_tau_s;
  return leakage.decay_per_token;
}

void HardwareConfig::set_retention(double retention_s, double token_period_s) {
  leakage.retention_tau_s = retention_s;
  leakage.token_period_s = token_period_s;
}

}  // namespace gaincell
