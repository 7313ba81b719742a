// Non-idealities beyond the paper (issue 3 item 4), kept apart from the device model (style R12):
// device-to-device draws are made once per array from the chip seed, split by (layer, head, array, kind);
// cycle-to-cycle draws come from the run seed, split by (layer, sequence, head, purpose, time, index), so
// every value depends only on its coordinates, never on the thread count or the order of evaluation.
#pragma once
#include <cstdint>
#include <vector>

#include "analog/hw_config.h"
#include "core/rng.h"

namespace gaincell {

// Device-to-device values of one head's arrays, indexed by physical slot s in [0, W) (K column / V row) and
// ADC index a in [0, n_arrays). Empty vectors mean "off".
struct HeadMismatch {
  int window = 0, dim = 0;
  std::vector<float> k_gain, k_off;      // [W][D]: K cell (slot s, row d): I -> (1 + g) I + off (uA)
  std::vector<float> v_gain, v_off;      // [W][D]: V cell (slot s, column d)
  std::vector<float> s_sat;              // [blocks][W]: S_sat of the charge-to-pulse circuit of K column s
                                         // (of stacked K array blk with array.row_sum = "digital")
  std::vector<float> adc_gain, adc_off;  // [n_arrays][D]: ADC of V-array a, column d
  bool cells() const { return !k_gain.empty(); }
};

// Draws the mismatch of every array of (layer, head); arrays hold `cols` slots each; c2p_blocks charge-to-pulse
// circuits per K column (1, or ceil(D / rows) with a digital row sum; block 0's draws do not depend on it).
HeadMismatch draw_head_mismatch(const HardwareConfig& hw, int window, int cols, int dim, int layer, int head,
                                int c2p_blocks = 1);

// Cycle-to-cycle purposes (tags of the split).
enum class NoiseTag : uint64_t { kWriteK = 1, kWriteV = 2, kReadS = 3, kReadA = 4, kReadSnrS = 5, kReadSnrA = 6 };

// The c2c stream of one (layer, sequence, head).
inline Rng c2c_stream(uint64_t run_seed, int layer, int64_t seq, int head) {
  return Rng(run_seed).split(0xC2C).split(uint64_t(layer)).split(uint64_t(seq)).split(uint64_t(head));
}
// Standard normal quantile of u in (0, 1): Acklam's rational approximation (relative error < 1.2e-9), with no
// transcendental function for the central 95 % of draws (the read noise draws one value per key and per ADC
// conversion, so Box-Muller's log + cos dominated the noisy decode step).
double normal_quantile(double u);

// One standard normal addressed by (tag, a, b) on a stream (inverse CDF of one 53-bit uniform in (0, 1)).
inline double c2c_normal(const Rng& s, NoiseTag tag, uint64_t a, uint64_t b) {
  Rng r = s.split(uint64_t(tag)).split(a).split(b);
  return normal_quantile((double(r.next_u64() >> 11) + 0.5) * (1.0 / 9007199254740992.0));
}

// out[i] = c2c_normal(s, tag, a, b[i]) for i < n, or of b0 + i when b is null: the same values, 8 at a time
// (the hashes on 64-bit lanes, the central 95 % of the quantiles as vectors, the tails through normal_quantile).
void c2c_normals(double* out, const Rng& s, NoiseTag tag, uint64_t a, const uint64_t* b, uint64_t b0, int64_t n);

}  // namespace gaincell
