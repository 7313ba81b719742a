// Backward pass of one gain-cell attention head in training form (paper-spec §2.4, §2.6, §2.7), recomputing
// the forward from q, k, v. Gradients:
//   * linear model: exact, through the output scaler, the per-tile ADC clip (mask -1 <= A/a_fs <= 1), the
//     charge-to-pulse clip (mask 0 <= S/s_sat <= 1), both decay factors (delta before and after the clip, so
//     dq and dk carry delta^2), the input clips and the scalers; quantisers are straight-through (§2.6).
//   * nonlinear model (surrogate, §2.7, as the authors' Triton backward): the forward value, the ADC mask and
//     the output-scaler gradient come from the cubic forward; everything below the ADC uses the linear model
//     with gain g: the charge-to-pulse mask is recomputed from the linear S and dv uses the linear P.
// Clip masks are inclusive at both ends (torch.clamp). The scale a is clamped to >= 1e-20 in the forward;
// its gradient passes where a >= 1e-20 and is 0 below. Noise and mismatch are ignored (noise-free model).
#pragma once
#include <cstdint>
#include <vector>

#include "analog/cell_model.h"

namespace gaincell {

struct HeadBackwardParams {
  CellPoly poly;           // forward cell: linear (g y) or the cubic
  bool surrogate = false;  // true for the nonlinear model: backward through the linear model
  float gain = 19.3f;      // g of the linear model used by the (surrogate) backward
  Converters cv{HardwareConfig{}};
  std::vector<float> decay;  // make_decay_table(lambda, n_pow, window)
  int n_pow = 2;             // max(poly.n, 2)
  int window = 1024, cols = 64;
  bool ring = false;             // tile of key j = (j mod window) / cols, else j / cols
  int refresh = 0;               // > 0: ages restart every `refresh` tokens (leakage.refresh_every_tokens)
  int rows = 64;                 // K rows per array (array.rows)
  bool digital_row_sum = false;  // D > rows: P = min(sum over stacked arrays of clip(S_blk / s_sat, 0, 1), 1);
                                 // gradient through the outer clip (mask sum <= 1) and each block's clip
  float a[4] = {1, 1, 1, 1}, b[4] = {0, 0.45f, 0.45f, 0};  // scalers q, k, v, out (ScalerKind order)
};

// Builds the parameters of head h of `layer` from a hardware config, a cell poly and the layer's scalers.
HeadBackwardParams make_head_backward_params(const HardwareConfig& hw, int window, bool linear);

// Accumulated scaler gradients of one head (double sums over tokens and dims).
struct HeadScalerGrads {
  double scale[4] = {}, shift[4] = {};
};

// q, k, v: [T, D] rows with stride ld; dout: [T, D] rows with stride ld_out. Writes dq, dk, dv ([T, D], stride
// ld) and adds the scaler gradients to g.
void gaincell_head_backward(float* dq, float* dk, float* dv, HeadScalerGrads& g, const float* dout, int64_t ld_out,
                            const float* q, const float* k, const float* v, int64_t ld, int T, int D,
                            const HeadBackwardParams& p);

}  // namespace gaincell
