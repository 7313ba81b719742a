#include "calibration/calibration.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace gaincell {

std::vector<std::string> CalibrationConfig::validate() const {
  std::vector<std::string> p;
  if (!(alpha_start > 0 && alpha_start <= 1))
    p.push_back("alpha_start: expected in (0, 1], got " + std::to_string(alpha_start));
  if (!(alpha_end > 0 && alpha_end <= 1))
    p.push_back("alpha_end: expected in (0, 1], got " + std::to_string(alpha_end));
  if (alpha_steps < 1) p.push_back("alpha_steps: expected >= 1, got " + std::to_string(alpha_steps));
  if (!(threshold > 0)) p.push_back("threshold: expected > 0, got " + std::to_string(threshold));
  if (max_iterations < 1) p.push_back("max_iterations: expected >= 1, got " + std::to_string(max_iterations));
  return p;
}

double calibration_alpha(const CalibrationConfig& c, int it) {
  if (it >= c.alpha_steps - 1) return c.alpha_end;
  return c.alpha_start + (c.alpha_end - c.alpha_start) * double(it) / double(c.alpha_steps - 1);
}

namespace {

void check_sizes(const ScalerCalibration& s) {
  const size_t n = s.scale.size();
  for (const std::vector<float>* v : {&s.shift, &s.mean, &s.std, &s.target_mean, &s.target_std})
    if (v->size() != n)
      fail_expected("calibration", std::to_string(n) + " heads in every vector of '" + s.name + "'",
                    std::to_string(v->size()));
}

}  // namespace

CalibrationStep calibration_step(std::vector<ScalerCalibration>& scalers, int it, const CalibrationConfig& c) {
  CalibrationStep st;
  st.iteration = it;
  st.alpha = calibration_alpha(c, it);
  const double alpha = st.alpha;
  for (ScalerCalibration& s : scalers) {
    check_sizes(s);
    for (size_t h = 0; h < s.scale.size(); ++h) {
      const double std_err = std::fabs(double(s.std[h]) - s.target_std[h]);
      const double mean_err = std::fabs(double(s.mean[h]) - s.target_mean[h]);
      st.max_std_error = std::max(st.max_std_error, std_err);
      st.max_mean_error = std::max(st.max_mean_error, mean_err);
      st.criteria += 2;
      if (std_err > c.threshold) {
        if (s.std[h] != 0.0f) {
          const double a = s.scale[h];
          s.scale[h] = float(alpha * (a * s.target_std[h] / s.std[h]) + (1 - alpha) * a);
        }
      } else {
        ++st.criteria_met;
      }
      if (mean_err > c.threshold) {
        const double b = s.shift[h];
        s.shift[h] = float(alpha * (b + s.target_mean[h] - s.mean[h]) + (1 - alpha) * b);
      } else {
        ++st.criteria_met;
      }
    }
  }
  st.done = st.criteria_met == st.criteria;
  return st;
}

CalibrationResult run_calibration(std::vector<ScalerCalibration>& scalers,
                                  const std::function<double(std::vector<ScalerCalibration>&, int)>& measure,
                                  const CalibrationConfig& c) {
  std::vector<std::string> problems = c.validate();
  if (!problems.empty()) fail("calibration", "invalid config: " + problems.front());
  CalibrationResult r;
  for (int it = 0; it < c.max_iterations; ++it) {
    double loss = measure(scalers, it);
    CalibrationStep st = calibration_step(scalers, it, c);
    st.loss = loss;
    r.trace.push_back(st);
    r.iterations = it + 1;
    if (st.done) {
      r.converged = true;
      break;
    }
  }
  return r;
}

}  // namespace gaincell
