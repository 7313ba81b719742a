#include "cost/cost_model.h"

#include <cmath>

#include "core/error.h"

namespace gaincell {

double adc_energy_pj(const EnergyTable& e, int bits) {
  return e.adc_fom_fj_per_step * 1e-3 * std::ldexp(1.0, bits);
}

EnergyBreakdown energy_of(const ActionCounts& c, const EnergyTable& e) {
  const double reads_per_array = 0.5 * double(c.cell_reads), writes_per_array = 0.5 * double(c.cell_writes);
  EnergyBreakdown b;
  b.qk_pj = reads_per_array * e.cell_read_pj + double(c.charge_to_pulse) * e.charge_to_pulse_pj +
            writes_per_array * e.cell_write_pj;
  b.sv_pj = reads_per_array * e.cell_read_pj + c.adc_steps * e.adc_fom_fj_per_step * 1e-3 +
            writes_per_array * e.cell_write_pj;
  b.digital_pj = double(c.digital_adds) * e.digital_add_pj + double(c.scaler_ops) * e.scaler_op_pj +
                 c.routed_bits * e.routed_bit_pj;
  b.dac_pj = double(c.query_pulses) * e.query_pulse_pj;
  return b;
}

LatencyBreakdown layer_step_latency(const ActionCounts& c, const LatencyTable& t, double t_max_ns) {
  LatencyBreakdown l;
  if (c.head_steps <= 0) return l;
  const int64_t arrays = (c.array_reads + c.head_steps - 1) / c.head_steps;
  int levels = 0;
  while ((int64_t{1} << levels) < arrays) ++levels;
  l.adder_levels = levels;
  l.write_ns = t.write_ns;
  // Grouped-query attention: the query heads of a KV head read its arrays one after the other.
  l.pulses_ns = c.read_rounds * t.pulse_phases * t_max_ns;
  l.charge_to_pulse_ns = c.read_rounds * t.charge_to_pulse_ns;
  l.adc_ns = c.read_rounds * t.adc_ns_per_bit * c.adc_bits;
  l.adder_tree_ns = t.adder_level_ns * levels;
  l.output_ns = t.output_ns;
  return l;
}

TokenCost token_cost(const ModelShape& shape, const HardwareConfig& hw, int window, const CostTable& table) {
  TokenCost c;
  c.shape = shape;
  c.window = window;
  AttentionActivity a = steady_state_activity(shape, hw, window);
  c.layer_counts = action_counts(a, shape, hw, table.energy.output_word_bits);
  c.per_layer = energy_of(c.layer_counts, table.energy);
  c.per_head = c.per_layer.scaled(1.0 / shape.n_head);
  c.per_model = c.per_layer.scaled(shape.n_layer);
  c.layer_latency = layer_step_latency(c.layer_counts, table.latency, hw.converters.t_max_ns);
  c.model_latency_ns = c.layer_latency.total_ns() * shape.n_layer;
  return c;
}

double token_period_s(const TokenCost& c) {
  return c.model_latency_ns * 1e-9;
}

double decay_per_token(double token_period_s, double retention_s) {
  if (!(retention_s > 0) || !std::isfinite(retention_s))
    fail_expected("cost", "a retention time > 0 s", std::to_string(retention_s));
  return token_period_s / retention_s;
}

}  // namespace gaincell
