#include "cost/area.h"

#include <cmath>

namespace gaincell {

AreaBreakdown AreaBreakdown::scaled(double f) const {
  AreaBreakdown a = *this;
  a.cells_um2 *= f;
  a.pulse_drivers_um2 *= f;
  a.charge_to_pulse_um2 *= f;
  a.adcs_um2 *= f;
  a.write_drivers_um2 *= f;
  a.digital_um2 *= f;
  return a;
}

ModelArea model_area(const ModelShape& shape, const HardwareConfig& hw, int window, const AreaTable& t) {
  const double rows = hw.array.rows, cols = hw.array.cols;
  const int blocks = hw.array.row_blocks(shape.head_dim);
  const int c2p = hw.array.digital_row_sum(shape.head_dim) ? blocks : 1;
  ModelArea m;
  AreaBreakdown& tile = m.per_tile;
  tile.cells_um2 = 2 * rows * cols * blocks * t.cell_um2;
  tile.pulse_drivers_um2 = rows * blocks * t.pulse_driver_um2;
  tile.charge_to_pulse_um2 = cols * c2p * t.charge_to_pulse_um2;
  tile.adcs_um2 = shape.head_dim * t.adc_um2_per_step * std::ldexp(1.0, converter_bits(hw.converters.adc.levels));
  tile.write_drivers_um2 = 2 * rows * blocks * t.write_driver_um2;
  m.tiles_per_head = (int64_t{window} + hw.array.cols - 1) / hw.array.cols;
  m.per_head = tile.scaled(double(m.tiles_per_head));
  m.per_head.digital_um2 = t.digital_um2_per_head;
  m.per_layer = m.per_head.scaled(shape.kv_heads());
  m.per_layer.digital_um2 = t.digital_um2_per_head * shape.n_head;  // one output block per query head
  m.per_model = m.per_layer.scaled(shape.n_layer);
  m.arrays = 2 * m.tiles_per_head * blocks * shape.kv_heads() * shape.n_layer;
  return m;
}

}  // namespace gaincell
