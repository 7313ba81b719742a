// Hardware description of the gain-cell attention chip (paper-spec §1-2): one plain struct per concern,
// defaults equal to the paper. Zero / false means "this non-ideality is off". Derived quantities are
// functions, never stored fields. TOML I/O lives in hw_toml.h and is driven by for_each_hw_field().
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace gaincell {

// Cell characteristic (paper-spec §1.1): I(y) = sum_p coeffs_ua[p] * y^p in uA, y = v_store - v_offset_v; or,
// for the nonlinearity ablation (paper-spec §2.7), a sigmoid or exponential cell (docs/device-model.md).
struct DeviceParams {
  std::string characteristic = "poly";  // "poly" (coeffs_ua), "sigmoid" or "exp"
  std::vector<double> coeffs_ua = {0.5213636139, 13.612260634, -2.620445619, 46.05483778};  // collapsed cubic
  double stiffness_per_v = 0.0;        // sigmoid / exp: s in f(s y); 0 = the authors' value (sigmoid 10, exp 3)
  double swing_ua = 19.3;              // sigmoid / exp: I(y_hi) - I(y_lo) over the stored-voltage window
  double linear_gain_ua_per_v = 19.3;  // g of the intermediate linear model I(y) = g*y
  double v_offset_v = 0.45;            // stored voltage of a zero weight (VDD/2)
  double v_in_v = 0.9;                 // read pulse amplitude the coefficients were fitted at
};

// Geometry and mapping of the arrays (paper-spec §1.2).
struct ArrayConfig {
  int rows = 64;                          // cells per column = head dimension handled by one K array
  int cols = 64;                          // tokens per array (K columns / V rows) = tiling granularity
  int window_tokens = 1024;               // sliding window M (--window overrides)
  std::string tile_mapping = "absolute";  // training form tiles: "absolute" (paper, j/cols) or "ring" ((j mod M)/cols)
  // A head of D > rows spans ceil(D/rows) K arrays stacked along the rows. "shared_line": their column charges
  // add on one line before one charge-to-pulse conversion per key; "digital": each array converts its own
  // partial charge and the pulse widths are summed digitally (clipped to T_max). No effect for D <= rows.
  std::string row_sum = "shared_line";
  int row_blocks(int head_dim) const { return (head_dim + rows - 1) / rows; }  // K arrays per column
  bool digital_row_sum(int head_dim) const { return row_sum == "digital" && head_dim > rows; }
};

// One uniform quantiser: step = (hi - lo)/(levels - 1), value = step * round_half_even(x / step)
// (paper-spec §2.6; rounding relative to 0). The clip to [lo, hi] is always applied.
struct QuantizerConfig {
  bool enabled = true;  // false = ideal (clip only)
  int levels = 2;       // number of levels L
  double lo = 0.0;      // range low end (unit of the quantity)
  double hi = 1.0;      // range high end
};

// Pulse generators, write DAC, charge-to-pulse stage and output ADC (paper-spec §1.3-1.4).
struct ConverterConfig {
  QuantizerConfig query{true, 16, 0.0, 1.0};  // query pulse width, fraction of t_max_ns
  QuantizerConfig store{true, 8, 0.0, 0.9};   // stored K/V voltage, volts
  QuantizerConfig adc{true, 32, -1.0, 1.0};   // output ADC, fraction of adc_full_scale_ua_tmax
  double t_max_ns = 15.0;                     // longest pulse
  double s_sat_ua_tmax = 80.0;                // charge-to-pulse saturation S_sat (uA x T_max)
  double adc_full_scale_ua_tmax = 40.0;       // second-stage full scale A_fs (uA x T_max)
};

// Leakage of the storage capacitor (paper-spec §1.1): stored y decays by exp(-lambda) per token.
struct LeakageConfig {
  double decay_per_token = 1.6e-4;  // lambda; used when retention_tau_s == 0
  double retention_tau_s = 0.0;     // > 0: lambda = token_period_s / retention_tau_s
  double token_period_s = 0.0;      // time per generated token (needed with retention_tau_s)
  int refresh_every_tokens = 0;     // > 0: every R tokens all cells are restored to their written value
};

// Non-idealities beyond the paper; every sigma 0 = off. d2d = device-to-device (fixed per chip_seed when an
// array is created), c2c = cycle-to-cycle (drawn per write / read from the run seed).
struct NoiseConfig {
  uint64_t chip_seed = 1;             // seed of the d2d draws (one chip)
  double cell_gain_sigma = 0.0;       // d2d relative gain mismatch of each cell's current
  double cell_offset_sigma_ua = 0.0;  // d2d additive current offset of each cell (uA)
  double write_noise_sigma_v = 0.0;   // c2c noise on each written voltage (V), clipped to the store range
  double read_noise_s_ua_tmax = 0.0;  // c2c noise on each integrated K-column charge S (uA x T_max)
  double read_noise_a_ua_tmax = 0.0;  // c2c noise on each integrated V-column charge A (uA x T_max)
  // Read noise relative to the signal (paper-spec §2.8, evaluation only; 0 = off): the S of one read (all keys
  // of one query) and the A of one array read get Gaussian noise of power P_signal / 10^(snr/10), P_signal
  // = the mean square of those values.
  double read_snr_s_db = 0.0;
  double read_snr_a_db = 0.0;
  double adc_offset_sigma = 0.0;  // d2d offset of each ADC (fraction of full scale)
  double adc_gain_sigma = 0.0;    // d2d relative gain error of each ADC
  double c2p_sat_sigma = 0.0;     // d2d relative mismatch of S_sat of each charge-to-pulse circuit
};

struct HardwareConfig {
  DeviceParams device;
  ArrayConfig array;
  ConverterConfig converters;
  LeakageConfig leakage;
  NoiseConfig noise;

  // Every problem, one line each ("section.key: expected ..., got ..."); empty when valid.
  std::vector<std::string> validate() const;
  // Throws Error("hw", ...) listing all problems; `where` names the source (file) in the message.
  void check(const std::string& where = "hardware config") const;
  // The stiffness s of a sigmoid / exp characteristic (the authors' default when stiffness_per_v is 0).
  double stiffness() const;
  // True when no noise / mismatch is on (quantisers and leakage are part of the paper model, not noise).
  bool noise_off() const;
  // Leakage per token step lambda (derived from retention_tau_s when set). The one source of lambda for the
  // simulator and the cost model.
  double lambda_per_token() const;
  // Leakage from the clock (--retention-s): lambda = token_period_s / retention_s from now on.
  void set_retention(double retention_s, double token_period_s);
};

// Step of a quantiser (derived).
inline double quant_step(const QuantizerConfig& q) {
  return (q.hi - q.lo) / (q.levels - 1);
}

}  // namespace gaincell
