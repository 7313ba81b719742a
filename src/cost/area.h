// Area (paper-spec §1.7, §7.5: the sources give no numbers, so every parameter is an assumption in the cost
// table). One tile = one K array (rows x cols: a key per column) + one V array (cols x rows: a value per row).
//   K array: rows x cols cells, rows query pulse drivers, cols charge-to-pulse circuits, rows write drivers
//   V array: cols x rows cells, head_dim ADCs of 2^bits steps, rows write drivers
// A head holds ceil(window / cols) tiles plus its digital block; a model n_layer x n_head heads. Grouped-query
// attention: the tiles belong to the KV heads (n_kv_head per layer, shared by their query heads), the digital
// block (output scaler) to each query head. A head of D > rows stacks ceil(D / rows) K and V arrays per tile
// (cells, pulse and write drivers x blocks; charge-to-pulse circuits x blocks with array.row_sum = "digital").
#pragma once
#include "cost/cost_table.h"
#include "cost/counts.h"

namespace gaincell {

struct AreaBreakdown {
  double cells_um2 = 0, pulse_drivers_um2 = 0, charge_to_pulse_um2 = 0, adcs_um2 = 0, write_drivers_um2 = 0,
         digital_um2 = 0;
  double total_um2() const {
    return cells_um2 + pulse_drivers_um2 + charge_to_pulse_um2 + adcs_um2 + write_drivers_um2 + digital_um2;
  }
  double periphery_um2() const { return total_um2() - cells_um2; }
  AreaBreakdown scaled(double f) const;
};

struct ModelArea {
  int64_t tiles_per_head = 0;  // token tiles per KV head (each ceil(D / rows) K/V array pairs)
  int64_t arrays = 0;          // arrays in the model (K + V)
  AreaBreakdown per_tile, per_head, per_layer, per_model;  // per_head: the arrays of one KV head
  double model_mm2() const { return per_model.total_um2() * 1e-6; }
};

ModelArea model_area(const ModelShape& shape, const HardwareConfig& hw, int window, const AreaTable& t);

}  // namespace gaincell
