// Cost = counts x table (style R13). Energy is booked in the paper's four categories (paper-spec §1.6):
//   phi(Q.K^T)  = K-array cell reads + charge-to-pulse conversions + K-array cell writes
//   phi(S).V    = V-array cell reads + ADC conversions + V-array cell writes
//   digital     = digital additions + output scaler ops + routed bits
//   DAC         = query pulses
// Each read of a key touches the same number of cells in its K and its V array, so half of cell_reads and
// half of cell_writes are booked to each array. Latency of one token step of one layer (all heads and all
// arrays in parallel) is the sum of its phases; the adder tree has ceil(log2(arrays per head read)) levels.
#pragma once
#include <string>
#include <vector>

#include "cost/cost_table.h"
#include "cost/counts.h"

namespace gaincell {

struct EnergyBreakdown {
  double qk_pj = 0;       // phi(Q.K^T)
  double sv_pj = 0;       // phi(S).V
  double digital_pj = 0;  // digital & routing
  double dac_pj = 0;      // DAC (query pulses)
  double total_pj() const { return qk_pj + sv_pj + digital_pj + dac_pj; }
  EnergyBreakdown scaled(double f) const { return {qk_pj * f, sv_pj * f, digital_pj * f, dac_pj * f}; }
};

// Energy of one ADC conversion at `bits` bits: FoM * 2^bits.
double adc_energy_pj(const EnergyTable& e, int bits);
EnergyBreakdown energy_of(const ActionCounts& c, const EnergyTable& e);

struct LatencyBreakdown {
  double write_ns = 0, pulses_ns = 0, charge_to_pulse_ns = 0, adc_ns = 0, adder_tree_ns = 0, output_ns = 0;
  int adder_levels = 0;
  double total_ns() const { return write_ns + pulses_ns + charge_to_pulse_ns + adc_ns + adder_tree_ns + output_ns; }
};

// Latency of one token step of one layer from a layer's counts (arrays per head read = array_reads /
// head_steps, rounded up); zero when the counts hold no step. The read phases (pulses, charge-to-pulse,
// ADC) repeat c.read_rounds times (the query heads of a KV head share its arrays).
LatencyBreakdown layer_step_latency(const ActionCounts& c, const LatencyTable& t, double t_max_ns);

// Energy and latency per token for a configuration, from the analytic steady-state counts.
struct TokenCost {
  ModelShape shape;
  int window = 0;
  ActionCounts layer_counts;       // one token, one layer (all heads)
  EnergyBreakdown per_head;        // per head per token
  EnergyBreakdown per_layer;       // all heads of one layer per token
  EnergyBreakdown per_model;       // all layers per token
  LatencyBreakdown layer_latency;  // per token per layer
  double model_latency_ns = 0;     // per token, all layers in sequence
};
TokenCost token_cost(const ModelShape& shape, const HardwareConfig& hw, int window, const CostTable& table);

// Leakage from the clock (paper-spec §1.1): lambda = token period / retention time.
double token_period_s(const TokenCost& c);
double decay_per_token(double token_period_s, double retention_s);

}  // namespace gaincell
