// The gain-cell device model shared by every analog path: the cell polynomial I(y), leakage powers by age,
// per-head affine scalers and the write of one K/V token (scaler -> clip -> quantise -> offset).
// Noise and mismatch are applied by callers (mismatch.h); this file is the paper model only.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "analog/hw_config.h"
#include "analog/quantize.h"

namespace gaincell {

constexpr int kMaxPowers = 8;
constexpr int kMaxRows = 4096;  // upper bound of array.rows (validate())

// I(y) = sum_p alpha[p] y^p in uA; active[p] says which powers are non-zero (p = 0 does not decay).
struct CellPoly {
  int n = 0;  // number of coefficients (highest power + 1)
  float alpha[kMaxPowers] = {};
  bool active[kMaxPowers] = {};
  double eval(double y) const;
};

// linear = the intermediate model I(y) = g*y; otherwise the configured polynomial (collapsed cubic). Only
// for device.characteristic = "poly" (throws otherwise: use the HardwareConfig overload).
CellPoly make_cell_poly(const DeviceParams& d, bool linear);
// The cell of a hardware config: as above for "poly"; for "sigmoid" / "exp" the order-7 Chebyshev expansion
// of the characteristic on the stored-voltage window (cell_characteristic_ua), whose largest error over the
// window is cell_expansion_error_ua (the leakage y -> delta y needs a power series, paper-spec §2.4 step 5).
CellPoly make_cell_poly(const HardwareConfig& hw, bool linear);

// The exact non-polynomial characteristic in uA, in double (paper-spec §2.7 ablation, the authors'
// NLAttention_sigmoid / _expo): I(y) = a (f(s y) - f(0)) with f = sigmoid or exp, s = hw.stiffness(), and a
// such that I(y_hi) - I(y_lo) = device.swing_ua on the window y in [store.lo - v_offset, store.hi - v_offset].
double cell_characteristic_ua(const HardwareConfig& hw, double y);
// Largest |expansion - exact| over the window (sampled at 4097 points); 0 for "poly".
double cell_expansion_error_ua(const HardwareConfig& hw);

// delta^p for p < n and age in [0, n_ages): table[p * n_ages + age] = (exp(-lambda * age))^p (float).
std::vector<float> make_decay_table(double lambda, int n_powers, int64_t n_ages);

// Per-head affine scalers a*x + b of one layer (paper-spec §2.3); a is clamped to >= 1e-20. q and out are per
// query head [n_head]; k and v per KV head [n_kv_head] (a KV head's arrays are written once, grouped-query
// attention), so n_kv_head == n_head gives one of each per head.
struct LayerScalers {
  std::vector<float> q_scale, q_shift, k_scale, k_shift, v_scale, v_shift, out_scale, out_shift;
};
// Defaults q (1, 0), k (1, v_offset), v (1, v_offset), out (1, 0): a zero k or v is stored at the device's
// zero-weight voltage device.v_offset_v (0.45 V in the paper, paper-spec §2.3), whatever that offset is.
// n_kv_head = 0 means n_head.
LayerScalers default_scalers(int n_head, float v_offset, int n_kv_head = 0);
inline float scale_of(float a) {
  return a < 1e-20f ? 1e-20f : a;
}

// The quantisers and constants of one hardware config, in float.
struct Converters {
  Quantizer query, store, adc;
  float v_offset = 0.45f, s_sat = 80.0f, a_fs = 40.0f;
  explicit Converters(const HardwareConfig& c);
};

// Query pulse widths of one token: out[d] = Q_q(clip(a*q[d] + b)), d < D (and their codes when code is given).
void query_pulses(float* out, const float* q, int D, float a, float b, const Converters& cv, float* code = nullptr);
// Stored voltage of one K or V token: out[d] = Q_store(clip(a*x[d] + b)) (before write noise), d < D (and the
// codes when code is given).
void stored_voltages(float* out, const float* x, int D, float a, float b, const Converters& cv, float* code = nullptr);

}  // namespace gaincell
