// Hardware TOML files (docs/hardware-toml.md): one field list (for_each_hw_field) drives loading, saving
// and printing. Missing keys keep the paper defaults; unknown keys, wrong types and invalid values are
// errors naming the key and the file.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "analog/hw_config.h"

namespace gaincell {

template <typename Q, typename F>
void for_each_quantizer_field(Q& q, const std::string& prefix, const std::string& what, F&& f) {
  f(prefix + ".enabled", q.enabled, what + ": false = ideal (clip only)");
  f(prefix + ".levels", q.levels, "number of levels L");
  f(prefix + ".lo", q.lo, "range low end");
  f(prefix + ".hi", q.hi, "range high end (step = (hi - lo)/(L - 1), rounding relative to 0)");
}

// Calls f(path, field, help) for every field, with path "section.key" (or "section.sub.key") and field a
// reference of type bool, int, uint64_t, double, std::string or std::vector<double>.
template <typename C, typename F>
void for_each_hw_field(C& c, F&& f) {
  f("device.characteristic", c.device.characteristic, "\"poly\" (coeffs_ua), \"sigmoid\" or \"exp\" (ablation)");
  f("device.coeffs_ua", c.device.coeffs_ua, "I(y) = sum_p coeffs_ua[p]*y^p in uA, y = v_store - v_offset_v");
  f("device.stiffness_per_v", c.device.stiffness_per_v, "sigmoid/exp: s in f(s*y); 0 = authors' (10 / 3)");
  f("device.swing_ua", c.device.swing_ua, "sigmoid/exp: I(y_hi) - I(y_lo) over the store window (uA)");
  f("device.linear_gain_ua_per_v", c.device.linear_gain_ua_per_v, "gain g of the linear model I(y) = g*y");
  f("device.v_offset_v", c.device.v_offset_v, "stored voltage of a zero weight (VDD/2)");
  f("device.v_in_v", c.device.v_in_v, "read pulse amplitude the coefficients were fitted at");
  f("array.rows", c.array.rows, "cells per K-array column (a head of D < rows uses D; D > rows stacks arrays)");
  f("array.cols", c.array.cols, "tokens per array = tile size");
  f("array.window_tokens", c.array.window_tokens, "sliding window M in tokens");
  f("array.tile_mapping", c.array.tile_mapping, "\"absolute\" (paper: tile j/cols) or \"ring\" ((j mod M)/cols)");
  f("array.row_sum", c.array.row_sum,
    "head_dim > rows: \"shared_line\" (charges of the stacked K arrays add before charge-to-pulse) or \"digital\" "
    "(per-array conversions summed digitally)");
  f("converters.t_max_ns", c.converters.t_max_ns, "longest query / attention pulse (ns)");
  f("converters.s_sat_ua_tmax", c.converters.s_sat_ua_tmax, "charge-to-pulse saturation S_sat (uA x T_max)");
  f("converters.adc_full_scale_ua_tmax", c.converters.adc_full_scale_ua_tmax, "ADC full scale A_fs (uA x T_max)");
  for_each_quantizer_field(c.converters.query, "converters.query", "query pulse width (fraction of T_max)", f);
  for_each_quantizer_field(c.converters.store, "converters.store", "stored K/V voltage (V)", f);
  for_each_quantizer_field(c.converters.adc, "converters.adc", "output ADC (fraction of full scale)", f);
  f("leakage.decay_per_token", c.leakage.decay_per_token, "lambda: y decays by exp(-lambda) per token");
  f("leakage.retention_tau_s", c.leakage.retention_tau_s, "> 0: lambda = token_period_s / retention_tau_s");
  f("leakage.token_period_s", c.leakage.token_period_s, "time per token (s), used with retention_tau_s");
  f("leakage.refresh_every_tokens", c.leakage.refresh_every_tokens, "> 0: restore all cells every R tokens");
  f("noise.chip_seed", c.noise.chip_seed, "seed of the device-to-device draws");
  f("noise.cell_gain_sigma", c.noise.cell_gain_sigma, "d2d relative gain mismatch per cell");
  f("noise.cell_offset_sigma_ua", c.noise.cell_offset_sigma_ua, "d2d current offset per cell (uA)");
  f("noise.write_noise_sigma_v", c.noise.write_noise_sigma_v, "c2c noise on each written voltage (V)");
  f("noise.read_noise_s_ua_tmax", c.noise.read_noise_s_ua_tmax, "c2c noise on each K-column charge S");
  f("noise.read_noise_a_ua_tmax", c.noise.read_noise_a_ua_tmax, "c2c noise on each V-column charge A");
  f("noise.read_snr_s_db", c.noise.read_snr_s_db, "evaluation only: S noise at this SNR per read (dB, 0 = off)");
  f("noise.read_snr_a_db", c.noise.read_snr_a_db, "evaluation only: A noise at this SNR per array read (dB, 0 = off)");
  f("noise.adc_offset_sigma", c.noise.adc_offset_sigma, "d2d ADC offset (fraction of full scale)");
  f("noise.adc_gain_sigma", c.noise.adc_gain_sigma, "d2d relative ADC gain error");
  f("noise.c2p_sat_sigma", c.noise.c2p_sat_sigma, "d2d relative mismatch of S_sat per charge-to-pulse circuit");
}

// Parses TOML text over the paper defaults and validates; `where` names the file in errors.
HardwareConfig hardware_from_toml(const std::string& text, const std::string& where);
// Reads a hardware TOML file (errors name the path).
HardwareConfig load_hardware_toml(const std::string& path);
// Full TOML text with every field and a comment per field.
std::string hardware_to_toml(const HardwareConfig& c);
// Atomic write of hardware_to_toml(c).
void save_hardware_toml(const std::string& path, const HardwareConfig& c);

}  // namespace gaincell
