#include "analog/mismatch.h"

#include <algorithm>

namespace gaincell {
namespace {

enum : uint64_t { kKCells = 1, kVCells = 2, kC2p = 3, kAdc = 4 };

void draw_cells(std::vector<float>& gain, std::vector<float>& off, const Rng& arr, uint64_t kind, int s0, int s1,
                int dim, double sg, double so) {
  Rng r = arr.split(kind);
  for (int s = s0; s < s1; ++s)
    for (int d = 0; d < dim; ++d) {
      gain[size_t(s) * dim + d] = float(sg * r.normal());
      off[size_t(s) * dim + d] = float(so * r.normal());
    }
}

}  // namespace

HeadMismatch draw_head_mismatch(const HardwareConfig& hw, int window, int cols, int dim, int layer, int head) {
  const NoiseConfig& n = hw.noise;
  HeadMismatch m;
  m.window = window;
  m.dim = dim;
  bool cells = n.cell_gain_sigma > 0 || n.cell_offset_sigma_ua > 0;
  bool c2p = n.c2p_sat_sigma > 0, adc = n.adc_gain_sigma > 0 || n.adc_offset_sigma > 0;
  int n_arrays = (window + cols - 1) / cols;
  if (cells) {
    m.k_gain.resize(size_t(window) * dim);
    m.k_off.resize(m.k_gain.size());
    m.v_gain.resize(m.k_gain.size());
    m.v_off.resize(m.k_gain.size());
  }
  if (c2p) m.s_sat.resize(window);
  if (adc) {
    m.adc_gain.resize(size_t(n_arrays) * dim);
    m.adc_off.resize(m.adc_gain.size());
  }
  Rng chip = Rng(n.chip_seed).split(uint64_t(layer)).split(uint64_t(head));
  for (int a = 0; a < n_arrays; ++a) {  // one array at a time, as when the array is created
    Rng arr = chip.split(uint64_t(a));
    int s0 = a * cols, s1 = std::min(window, s0 + cols);
    if (cells) {
      draw_cells(m.k_gain, m.k_off, arr, kKCells, s0, s1, dim, n.cell_gain_sigma, n.cell_offset_sigma_ua);
      draw_cells(m.v_gain, m.v_off, arr, kVCells, s0, s1, dim, n.cell_gain_sigma, n.cell_offset_sigma_ua);
    }
    if (c2p) {
      Rng r = arr.split(kC2p);
      for (int s = s0; s < s1; ++s)
        m.s_sat[s] = float(hw.converters.s_sat_ua_tmax * (1.0 + n.c2p_sat_sigma * r.normal()));
    }
    if (adc) {
      Rng r = arr.split(kAdc);
      for (int d = 0; d < dim; ++d) {
        m.adc_gain[size_t(a) * dim + d] = float(n.adc_gain_sigma * r.normal());
        m.adc_off[size_t(a) * dim + d] = float(n.adc_offset_sigma * r.normal());
      }
    }
  }
  return m;
}

}  // namespace gaincell
