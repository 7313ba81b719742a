// The adaptation algorithm of paper-spec §3.3 as a pure function: measured per-head statistics of every
// scaler's output + the targets recorded in the linear model + a config -> new scalers and a done flag.
// The caller runs the forward passes (style R1: calibration simulates nothing). Follows the authors'
// stand-alone calibration script: a criterion is met when |stat - target| <= threshold; a scale is not
// updated when the measured std is 0 (its criterion then stays unmet); all layers update from one forward.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace gaincell {

struct CalibrationConfig {
  double alpha_start = 1.0;  // first step size alpha_0
  double alpha_end = 0.1;    // last step of the schedule and the value used afterwards
  int alpha_steps = 50;      // alpha_it = linspace(alpha_start, alpha_end, alpha_steps)[it]
  double threshold = 1e-4;   // per-head criterion on |std - target_std| and |mean - target_mean|
  int max_iterations = 100;  // stop with "not converged" after this many iterations
  // Every problem, one line each; empty when valid.
  std::vector<std::string> validate() const;
};

// alpha of iteration `it` (0-based): linspace(start, end, steps)[it] for it < steps, else end.
double calibration_alpha(const CalibrationConfig& c, int it);

// One scaler (one layer, one of q/k/v/out) across its heads. scale/shift are updated in place.
struct ScalerCalibration {
  std::string name;  // e.g. "h.3.attn.gaincell.k" (for reports)
  // [heads]: n_head for q and out, n_kv_head for k and v (calibration/head_stats.h); any size works here.
  std::vector<float> scale, shift;             // a, b
  std::vector<float> mean, std;                // statistics measured with the current a, b
  std::vector<float> target_mean, target_std;  // targets recorded in the linear model
};

struct CalibrationStep {
  int iteration = 0;
  double alpha = 0;
  int64_t criteria = 0;       // 2 per head and scaler (1152 for GPT-2: 2 x 4 x 12 x 12; GQA: 2 x (2H + 2H_kv) x L)
  int64_t criteria_met = 0;   // measured before this step's update
  double max_std_error = 0;   // max |std - target_std|
  double max_mean_error = 0;  // max |mean - target_mean|
  bool done = false;          // all criteria met: nothing was updated
  double loss = 0;            // filled by the caller (loss of the forward that measured the statistics)
};

// Checks every criterion on the measured statistics and applies the update rules of §3.3 step 4c:
//   a <- alpha (a t_std / std) + (1 - alpha) a     if |std - t_std| > threshold and std != 0
//   b <- alpha (b + t_mean - mean) + (1 - alpha) b if |mean - t_mean| > threshold
// Throws Error("calibration", ...) when the vectors of a scaler disagree in size.
CalibrationStep calibration_step(std::vector<ScalerCalibration>& scalers, int it, const CalibrationConfig& c);

struct CalibrationResult {
  bool converged = false;
  int iterations = 0;  // forward passes made
  std::vector<CalibrationStep> trace;
};

// The loop: measure(scalers, it) must run the forward with the current scale/shift, fill mean/std of every
// scaler and return the loss of that forward. Stops when a step is done, or after max_iterations.
CalibrationResult run_calibration(std::vector<ScalerCalibration>& scalers,
                                  const std::function<double(std::vector<ScalerCalibration>&, int)>& measure,
                                  const CalibrationConfig& c);

}  // namespace gaincell
