// Per-action cost table of the gain-cell attention chip (docs/cost-model.md): energy per event, latency per
// phase and area per block. Every value has a source or is marked as an assumption in cost_table_fields();
// the defaults are calibrated so that the paper's configuration (GPT-2 head of 64, window 1024, 64x64
// arrays, 4/3/5-bit converters) gives 1120 / 700 / 4000 / 330 pJ per head per token and 65 ns per token and
// layer (paper-spec §1.5, §1.6). Loaded from / saved to TOML (configs/cost_paper.toml).
#pragma once
#include <string>
#include <vector>

namespace gaincell {

// Energy per action (pJ unless the name says otherwise).
struct EnergyTable {
  double cell_read_pj = 0.00813232421875;      // one gain cell under one pulse (K or V array)
  double cell_write_pj = 0.05;                 // one gain cell written (write DAC drive + storage node)
  double query_pulse_pj = 0.322265625;         // one query pulse driven onto one K-array row (DAC)
  double charge_to_pulse_pj = 0.57015625;      // one charge-to-pulse conversion (one K column)
  double adc_fom_fj_per_step = 5.0;            // Walden figure of merit: E_adc = FoM * 2^bits
  double digital_add_pj = 0.03;                // one addition of two ADC outputs (8-bit class adder)
  double scaler_op_pj = 1.5;                   // one output affine a*x + b (FP16 multiply + add)
  double routed_bit_pj = 0.36475903614457834;  // one bit moved between arrays, adders and I/O
  double output_word_bits = 16.0;              // width of one attention output element leaving a head
};

// Latency of the phases of one token step of one layer (ns); all heads and arrays work in parallel.
struct LatencyTable {
  double write_ns = 10.0;           // write of the new k, v column / row (before the read: it is attended)
  double pulse_phases = 2.0;        // pulse phases per step (query phase, attention phase), each T_max long
  double charge_to_pulse_ns = 5.0;  // integrate-and-compare reset between the phases
  double adc_ns_per_bit = 1.0;      // SAR ADC, one bit per cycle
  double adder_level_ns = 1.0;      // one level of the adder tree over a head's arrays
  double output_ns = 11.0;          // output scaler, routing to the digital host
};

// Area per block (um^2).
struct AreaTable {
  double cell_um2 = 1.0;                 // one gain cell with its storage capacitor
  double pulse_driver_um2 = 50.0;        // query pulse generator of one K-array row (4-bit DAC)
  double charge_to_pulse_um2 = 300.0;    // charge-to-pulse circuit of one K-array column
  double adc_um2_per_step = 20.0;        // SAR ADC of one V-array column: area = this * 2^bits
  double write_driver_um2 = 30.0;        // write driver (3-bit DAC) of one array line
  double digital_um2_per_head = 5000.0;  // adder tree, output scaler and control of one head
};

struct CostTable {
  EnergyTable energy;
  LatencyTable latency;
  AreaTable area;

  // Every problem, one line each ("section.key: expected ..., got ..."); empty when valid.
  std::vector<std::string> validate() const;
};

// Calls f(path, field, help_with_source) for every field (all doubles).
template <typename C, typename F>
void for_each_cost_field(C& c, F&& f) {
  auto& e = c.energy;
  f("energy.cell_read_pj", e.cell_read_pj,
    "one cell under one pulse [calibrated: phi(S)V = 700 pJ at M=1024 minus ADC and V writes]");
  f("energy.cell_write_pj", e.cell_write_pj, "one cell written [assumption: ~50 fJ, write line + storage node]");
  f("energy.query_pulse_pj", e.query_pulse_pj, "one query pulse on one K-array row [calibrated: DAC = 330 pJ]");
  f("energy.charge_to_pulse_pj", e.charge_to_pulse_pj,
    "one charge-to-pulse conversion [calibrated: phi(QK^T) = 1120 pJ minus K reads and K writes]");
  f("energy.adc_fom_fj_per_step", e.adc_fom_fj_per_step,
    "Walden FoM, E = FoM * 2^bits [assumption: 5 fJ/step, SAR ADCs of the Murmann ADC survey]");
  f("energy.digital_add_pj", e.digital_add_pj, "one digital addition [source: Horowitz ISSCC 2014, 8-bit add 45 nm]");
  f("energy.scaler_op_pj", e.scaler_op_pj,
    "one output a*x+b [source: Horowitz ISSCC 2014, FP16 mul 1.1 + add 0.4 pJ, 45 nm]");
  f("energy.routed_bit_pj", e.routed_bit_pj, "one bit routed [calibrated: digital & routing = 4 nJ]");
  f("energy.output_word_bits", e.output_word_bits, "bits per output element routed out [assumption: FP16]");
  auto& t = c.latency;
  f("latency.write_ns", t.write_ns, "write of the new token [assumption]");
  f("latency.pulse_phases", t.pulse_phases, "pulse phases of T_max per step [paper: Q.K^T then phi(S).V]");
  f("latency.charge_to_pulse_ns", t.charge_to_pulse_ns, "charge-to-pulse reset/compare [assumption]");
  f("latency.adc_ns_per_bit", t.adc_ns_per_bit, "SAR ADC time per bit [assumption: 1 GHz bit cycle]");
  f("latency.adder_level_ns", t.adder_level_ns, "one adder-tree level [assumption]");
  f("latency.output_ns", t.output_ns, "output scaler + routing [calibrated: 65 ns per token and layer]");
  auto& a = c.area;
  f("area.cell_um2", a.cell_um2, "one gain cell [assumption: 3T1C with capacitor, 28 nm class]");
  f("area.pulse_driver_um2", a.pulse_driver_um2, "query pulse driver per K-array row [assumption]");
  f("area.charge_to_pulse_um2", a.charge_to_pulse_um2, "charge-to-pulse per K-array column [assumption]");
  f("area.adc_um2_per_step", a.adc_um2_per_step, "SAR ADC area = this * 2^bits per V column [assumption]");
  f("area.write_driver_um2", a.write_driver_um2, "write driver per array line [assumption]");
  f("area.digital_um2_per_head", a.digital_um2_per_head, "adders, scaler, control per head [assumption]");
}

// Parses TOML text over the defaults; unknown keys, non-numbers and invalid values throw Error("cost", ...)
// naming the key and `where`.
CostTable cost_table_from_toml(const std::string& text, const std::string& where);
CostTable load_cost_table(const std::string& path);
// Full TOML text, every key with its source comment.
std::string cost_table_to_toml(const CostTable& c);
void save_cost_table(const std::string& path, const CostTable& c);

}  // namespace gaincell
