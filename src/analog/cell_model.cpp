#include "analog/cell_model.h"

#include <cmath>

#include "core/error.h"

namespace gaincell {

double CellPoly::eval(double y) const {
  double r = 0, yp = 1;
  for (int p = 0; p < n; ++p, yp *= y) r += double(alpha[p]) * yp;
  return r;
}

CellPoly make_cell_poly(const DeviceParams& d, bool linear) {
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

std::vector<float> make_decay_table(double lambda, int n_powers, int64_t n_ages) {
  std::vector<float> t(size_t(n_powers) * n_ages);
  for (int64_t a = 0; a < n_ages; ++a) {
    double delta = std::exp(-lambda * double(a));
    double dp = 1.0;
    for (int p = 0; p < n_powers; ++p, dp *= delta) t[size_t(p) * n_ages + a] = float(dp);
  }
  return t;
}

LayerScalers default_scalers(int n_head, float v_offset) {
  LayerScalers s;
  s.q_scale.assign(n_head, 1.0f);
  s.q_shift.assign(n_head, 0.0f);
  s.k_scale.assign(n_head, 1.0f);
  s.k_shift.assign(n_head, v_offset);
  s.v_scale.assign(n_head, 1.0f);
  s.v_shift.assign(n_head, v_offset);
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

void query_pulses(float* out, const float* q, int D, float a, float b, const Converters& cv) {
  a = scale_of(a);
  for (int d = 0; d < D; ++d) out[d] = cv.query(a * q[d] + b);
}

void stored_voltages(float* out, const float* x, int D, float a, float b, const Converters& cv) {
  a = scale_of(a);
  for (int d = 0; d < D; ++d) out[d] = cv.store(a * x[d] + b);
}

}  // namespace gaincell
