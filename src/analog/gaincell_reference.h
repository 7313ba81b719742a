// Step-by-step reference of one gain-cell attention head in training form (paper-spec §2.4, style R8):
// full [T, T] matrices, one stage per function, obviously correct and slow. The fast paths
// (array_read.h) are tested against it. Shapes: q, k, v, out [T, D] row-major; S, P [T, T].
#pragma once
#include <vector>

#include "analog/cell_model.h"

namespace gaincell {

struct ReferenceHeadParams {
  CellPoly poly;
  Converters cv{HardwareConfig{}};
  double lambda = 1.6e-4;        // leakage per token
  int window = 1024;             // M
  int cols = 64;                 // tokens per tile
  bool ring_tiles = false;       // tile of key j: false = j / cols (paper), true = (j mod M) / cols (physical arrays)
  int rows = 64;                 // K rows per array: a head of D > rows spans ceil(D / rows) stacked K arrays
  bool digital_row_sum = false;  // D > rows: P = min(sum over the stacked arrays of clip(S_blk / s_sat, 0, 1), 1)
  float a_q = 1, b_q = 0, a_k = 1, b_k = 0.45f, a_v = 1, b_v = 0.45f, a_out = 1, b_out = 0;
};

// Steps 5-6: S[i, j] = sum_p alpha_p delta_ij^p sum_d qp[i, d] y[j, d]^p for keys in the window, else 0.
void reference_first_product(float* S, const float* qp, const float* y, int T, int D, const CellPoly& poly,
                             double lambda, int window);
// Steps 7-8: P = clip(S / s_sat, 0, 1).
void reference_charge_to_pulse(float* P, const float* S, int64_t n, float s_sat);
// Steps 9-11: out[i, d] = sum over tiles of Q_adc(clip(A_tile / a_fs, -1, 1)), with
// A_tile[i, d] = sum_p alpha_p sum_{j in tile} P[i, j] delta_ij^p y[j, d]^p.
void reference_second_product(float* out, const float* P, const float* y, int T, int D, const CellPoly& poly,
                              double lambda, int window, int cols, bool ring_tiles, const Quantizer& adc, float a_fs);
// The whole head, steps 1-12; S and P are returned when the pointers are non-null (with a digital row sum, S is
// the sum of the blocks' charges).
void reference_gaincell_head(float* out, const float* q, const float* k, const float* v, int T, int D,
                             const ReferenceHeadParams& p, std::vector<float>* S = nullptr,
                             std::vector<float>* P = nullptr);

}  // namespace gaincell
