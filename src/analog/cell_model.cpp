#include "analog/cell_model.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace gaincell {

double CellPoly::eval(double y) const {
  double r = 0, yp = 1;
  for (int p = 0; p < n; ++p, yp *= y) r += double(alpha[p]) * yp;
  return r;
}

CellPoly make_cell_poly(const DeviceParams& d, bool linear) {
  if (!linear && d.characteristic != "poly")
    fail_expected("hw", "a polynomial device (device.characteristic = \"poly\") here", d.characteristic);
  CellPoly c;
  if (linear) {
    c.n = 2;
    c.alpha[1] = float(d.linear_gain_ua_per_v);
  } else {
    if (d.coeffs_ua.empty() || d.coeffs_ua.size() > kMaxPowers)
      fail_expected("hw", "1..8 device coefficients", std::to_string(d.coeffs_ua.size()));
    c.n = int(d.coeffs_ua.size());
    for (int p = 0; p < c.n; ++p) c.alpha[p] = float(d.coeffs_ua[p]);
  }
  for (int p = 0; p < c.n; ++p) c.active[p] = c.alpha[p] != 0.0f;
  return c;
}

namespace {

constexpr int kExpansionOrder = kMaxPowers - 1;  // 7
constexpr int kChebNodes = 64;

double raw_characteristic(const std::string& kind, double sy) {
  return kind == "exp" ? std::exp(sy) : 1.0 / (1.0 + std::exp(-sy));
}

}  // namespace

double cell_characteristic_ua(const HardwareConfig& hw, double y) {
  const DeviceParams& d = hw.device;
  if (d.characteristic == "poly") return make_cell_poly(d, false).eval(y);
  const double s = hw.stiffness(), y_lo = hw.converters.store.lo - d.v_offset_v,
               y_hi = hw.converters.store.hi - d.v_offset_v;
  const double f0 = raw_characteristic(d.characteristic, 0.0);
  const double a =
      d.swing_ua / (raw_characteristic(d.characteristic, s * y_hi) - raw_characteristic(d.characteristic, s * y_lo));
  return a * (raw_characteristic(d.characteristic, s * y) - f0);
}

CellPoly make_cell_poly(const HardwareConfig& hw, bool linear) {
  if (linear || hw.device.characteristic == "poly") return make_cell_poly(hw.device, linear);
  // Chebyshev projection of degree 7 on x = (y - m) / h in [-1, 1] from 64 Chebyshev nodes (near-minimax),
  // then the monomial coefficients in y: T_k(x) by the recurrence, x = (y - m) / h expanded binomially.
  const double y_lo = hw.converters.store.lo - hw.device.v_offset_v,
               y_hi = hw.converters.store.hi - hw.device.v_offset_v;
  const double m = 0.5 * (y_lo + y_hi), h = 0.5 * (y_hi - y_lo);
  const int n = kExpansionOrder + 1;
  double cheb[kMaxPowers] = {};
  for (int j = 0; j < kChebNodes; ++j) {
    const double th = M_PI * (j + 0.5) / kChebNodes, x = std::cos(th), f = cell_characteristic_ua(hw, m + h * x);
    for (int k = 0; k < n; ++k) cheb[k] += (k == 0 ? 1.0 : 2.0) / kChebNodes * f * std::cos(k * th);
  }
  double tx[kMaxPowers][kMaxPowers] = {};  // tx[k][i]: coefficient of x^i in T_k(x)
  tx[0][0] = 1.0;
  tx[1][1] = 1.0;
  for (int k = 2; k < n; ++k)
    for (int i = 0; i < n; ++i) tx[k][i] = (i > 0 ? 2.0 * tx[k - 1][i - 1] : 0.0) - tx[k - 2][i];
  double in_x[kMaxPowers] = {};  // I = sum_i in_x[i] x^i
  for (int k = 0; k < n; ++k)
    for (int i = 0; i < n; ++i) in_x[i] += cheb[k] * tx[k][i];
  double in_y[kMaxPowers] = {};  // x^i = ((y - m) / h)^i = h^-i sum_p C(i, p) y^p (-m)^(i - p)
  for (int i = 0; i < n; ++i) {
    double binom = 1.0;
    for (int p = 0; p <= i; ++p) {
      in_y[p] += in_x[i] * binom * std::pow(-m, i - p) / std::pow(h, i);
      binom = binom * (i - p) / (p + 1);
    }
  }
  CellPoly c;
  c.n = n;
  for (int p = 0; p < n; ++p) {
    c.alpha[p] = float(in_y[p]);
    c.active[p] = c.alpha[p] != 0.0f;
  }
  return c;
}

double cell_expansion_error_ua(const HardwareConfig& hw) {
  if (hw.device.characteristic == "poly") return 0.0;
  const CellPoly c = make_cell_poly(hw, false);
  const double y_lo = hw.converters.store.lo - hw.device.v_offset_v,
               y_hi = hw.converters.store.hi - hw.device.v_offset_v;
  double worst = 0;
  for (int k = 0; k <= 4096; ++k) {
    const double y = y_lo + (y_hi - y_lo) * k / 4096;
    worst = std::max(worst, std::fabs(c.eval(y) - cell_characteristic_ua(hw, y)));
  }
  return worst;
}

std::vector<float> make_decay_table(double lambda, int n_powers, int64_t n_ages) {
  std::vector<float> t(size_t(n_powers) * n_ages);
  for (int64_t a = 0; a < n_ages; ++a) {
    double delta = std::exp(-lambda * double(a));
    double dp = 1.0;
    for (int p = 0; p < n_powers; ++p, dp *= delta) t[size_t(p) * n_ages + a] = float(dp);
  }
  return t;
}

LayerScalers default_scalers(int n_head, float v_offset, int n_kv_head) {
  if (n_kv_head <= 0) n_kv_head = n_head;
  LayerScalers s;
  s.q_scale.assign(n_head, 1.0f);
  s.q_shift.assign(n_head, 0.0f);
  s.k_scale.assign(n_kv_head, 1.0f);
  s.k_shift.assign(n_kv_head, v_offset);
  s.v_scale.assign(n_kv_head, 1.0f);
  s.v_shift.assign(n_kv_head, v_offset);
  s.out_scale.assign(n_head, 1.0f);
  s.out_shift.assign(n_head, 0.0f);
  return s;
}

Converters::Converters(const HardwareConfig& c)
    : query(c.converters.query),
      store(c.converters.store),
      adc(c.converters.adc),
      v_offset(float(c.device.v_offset_v)),
      s_sat(float(c.converters.s_sat_ua_tmax)),
      a_fs(float(c.converters.adc_full_scale_ua_tmax)) {}

void query_pulses(float* out, const float* q, int D, float a, float b, const Converters& cv, float* code) {
  cv.query.apply(out, code, q, D, true, scale_of(a), b);
}

void stored_voltages(float* out, const float* x, int D, float a, float b, const Converters& cv, float* code) {
  cv.store.apply(out, code, x, D, true, scale_of(a), b);
}

}  // namespace gaincell
