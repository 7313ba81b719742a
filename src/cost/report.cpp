#include "cost/report.h"

#include <cstdio>

#include "analog/hw_toml.h"

namespace gaincell {
namespace {

std::string fmt_g(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

nlohmann::ordered_json energy_json(const EnergyBreakdown& e) {
  nlohmann::ordered_json j;
  j["phi_qk_pj"] = e.qk_pj;
  j["phi_sv_pj"] = e.sv_pj;
  j["digital_routing_pj"] = e.digital_pj;
  j["dac_pj"] = e.dac_pj;
  j["total_pj"] = e.total_pj();
  return j;
}

nlohmann::ordered_json latency_json(const LatencyBreakdown& l) {
  nlohmann::ordered_json j;
  j["write_ns"] = l.write_ns;
  j["pulses_ns"] = l.pulses_ns;
  j["charge_to_pulse_ns"] = l.charge_to_pulse_ns;
  j["adc_ns"] = l.adc_ns;
  j["adder_tree_ns"] = l.adder_tree_ns;
  j["adder_levels"] = l.adder_levels;
  j["output_ns"] = l.output_ns;
  j["total_ns"] = l.total_ns();
  return j;
}

nlohmann::ordered_json area_json(const AreaBreakdown& a) {
  nlohmann::ordered_json j;
  j["cells_um2"] = a.cells_um2;
  j["periphery_um2"] = a.periphery_um2();
  j["pulse_drivers_um2"] = a.pulse_drivers_um2;
  j["charge_to_pulse_um2"] = a.charge_to_pulse_um2;
  j["adcs_um2"] = a.adcs_um2;
  j["write_drivers_um2"] = a.write_drivers_um2;
  j["digital_um2"] = a.digital_um2;
  j["total_um2"] = a.total_um2();
  return j;
}

nlohmann::ordered_json activity_json(const AttentionActivity& a) {
  nlohmann::ordered_json j;
  j["tokens"] = a.tokens;
  j["macs"] = a.macs;
  j["cell_writes"] = a.cell_writes;
  j["query_pulses"] = a.query_pulses;
  j["cell_reads"] = a.cell_reads;
  j["charge_to_pulse"] = a.charge_to_pulse;
  j["adc_conversions"] = a.adc_conversions;
  j["digital_adds"] = a.digital_adds;
  return j;
}

nlohmann::ordered_json code_json(const CodeHistogram& h) {
  nlohmann::ordered_json j;
  j["code_lo"] = h.code_lo;
  j["code_hi"] = h.code_lo + int(h.counts.size()) - 1;
  j["counts"] = h.counts;
  j["invalid"] = h.invalid;
  j["total"] = h.total();
  return j;
}

nlohmann::ordered_json histograms_json(const QuantHistograms& h) {
  nlohmann::ordered_json j;
  j["stored_level_k"] = code_json(h.store_k);
  j["stored_level_v"] = code_json(h.store_v);
  j["query_pulse_code"] = code_json(h.query);
  nlohmann::ordered_json p;
  p["bins"] = kPulseBins;
  p["bin_width"] = 1.0 / kPulseBins;
  p["counts"] = h.pulse;
  p["zero"] = h.pulse_zero;
  p["saturated"] = h.pulse_saturated;
  p["invalid"] = h.pulse_invalid;
  int64_t total = h.pulse_invalid;
  for (int64_t c : h.pulse) total += c;
  p["total"] = total;
  j["attention_pulse_width"] = p;
  j["adc_code"] = code_json(h.adc);
  return j;
}

GpuComparison compare(const GpuSpec& g, const CostSummary& s) {
  const ModelShape& m = s.token.shape;
  GpuComparison c;
  c.gpu = g;
  AttentionWorkload w;
  w.n_head = m.n_head;
  w.head_dim = m.head_dim;
  w.cache_tokens = s.token.window;
  c.attention = gpu_attention_baseline(g, w, s.gpu_baseline, &c.baseline, &c.measured_scale);
  c.roofline = roofline_attention(g, w);
  c.rest = roofline_rest_of_model(g, m, s.vocab, w.batch);
  const double imc_t = s.token.layer_latency.total_ns() * 1e-9, imc_e = s.token.per_layer.total_pj() * 1e-12;
  c.latency_ratio = c.attention.latency_s / imc_t;
  c.energy_ratio = c.attention.energy_j / imc_e;
  const double gpu_att_t = m.n_layer * c.attention.latency_s, gpu_att_e = m.n_layer * c.attention.energy_j;
  const double imc_att_t = m.n_layer * imc_t, imc_att_e = m.n_layer * imc_e;
  c.gpu_attention_share_latency = gpu_att_t / (gpu_att_t + c.rest.latency_s);
  c.gpu_attention_share_energy = gpu_att_e / (gpu_att_e + c.rest.energy_j);
  c.imc_attention_share_latency = imc_att_t / (imc_att_t + c.rest.latency_s);
  c.imc_attention_share_energy = imc_att_e / (imc_att_e + c.rest.energy_j);
  c.end_to_end_latency_gain = (gpu_att_t + c.rest.latency_s) / (imc_att_t + c.rest.latency_s);
  c.end_to_end_energy_gain = (gpu_att_e + c.rest.energy_j) / (imc_att_e + c.rest.energy_j);
  return c;
}

}  // namespace

CostSummary summarize(const std::string& model, const ModelShape& shape, int vocab, const HardwareConfig& hw,
                      int window, const CostTable& table, const std::vector<GpuSpec>& gpus, double retention_s,
                      GpuBaseline baseline) {
  CostSummary s;
  s.model = model;
  s.vocab = vocab;
  s.token = token_cost(shape, hw, window, table);
  s.area = model_area(shape, hw, window, table.area);
  s.gpu_baseline = baseline;
  s.retention_s = retention_s;
  HardwareConfig leak = hw;
  if (retention_s > 0) leak.set_retention(retention_s, token_period_s(s.token));
  s.decay_per_token = leak.lambda_per_token();
  for (const GpuSpec& g : gpus) s.gpus.push_back(compare(g, s));
  return s;
}

nlohmann::ordered_json hardware_json(const HardwareConfig& hw) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for_each_hw_field(hw, [&](const std::string& path, const auto& field, const auto&) { j[path] = field; });
  return j;
}

nlohmann::ordered_json summary_json(const CostSummary& s) {
  const TokenCost& t = s.token;
  nlohmann::ordered_json j;
  j["model"] = s.model;
  j["n_layer"] = t.shape.n_layer;
  j["n_head"] = t.shape.n_head;
  j["n_kv_head"] = t.shape.kv_heads();
  j["head_dim"] = t.shape.head_dim;
  j["window"] = t.window;
  j["energy_per_token"]["per_head"] = energy_json(t.per_head);
  j["energy_per_token"]["per_layer"] = energy_json(t.per_layer);
  j["energy_per_token"]["per_model"] = energy_json(t.per_model);
  j["latency_per_token"]["per_layer"] = latency_json(t.layer_latency);
  j["latency_per_token"]["per_model_ns"] = t.model_latency_ns;
  j["area"]["tiles_per_head"] = s.area.tiles_per_head;
  j["area"]["arrays"] = s.area.arrays;
  j["area"]["per_tile"] = area_json(s.area.per_tile);
  j["area"]["per_head"] = area_json(s.area.per_head);
  j["area"]["per_layer"] = area_json(s.area.per_layer);
  j["area"]["per_model"] = area_json(s.area.per_model);
  j["area"]["model_mm2"] = s.area.model_mm2();
  j["leakage"]["token_period_s"] = token_period_s(t);
  j["leakage"]["retention_s"] = s.retention_s;
  j["leakage"]["decay_per_token"] = s.decay_per_token;
  j["leakage"]["source"] = s.retention_s > 0 ? "token period / retention_s" : "hardware leakage";
  j["gpu_baseline"] = gpu_baseline_name(s.gpu_baseline);
  j["gpus"] = nlohmann::ordered_json::array();
  for (const GpuComparison& c : s.gpus) {
    nlohmann::ordered_json g;
    g["gpu"] = c.gpu.name;
    g["baseline"] = c.baseline;
    g["measured_scale"] = c.measured_scale;
    g["attention_latency_s"] = c.attention.latency_s;
    g["attention_energy_j"] = c.attention.energy_j;
    g["roofline_latency_s"] = c.roofline.latency_s;
    g["roofline_energy_j"] = c.roofline.energy_j;
    g["latency_ratio"] = c.latency_ratio;
    g["energy_ratio"] = c.energy_ratio;
    g["rest_of_model_latency_s"] = c.rest.latency_s;
    g["rest_of_model_energy_j"] = c.rest.energy_j;
    g["gpu_attention_share_latency"] = c.gpu_attention_share_latency;
    g["gpu_attention_share_energy"] = c.gpu_attention_share_energy;
    g["gaincell_attention_share_latency"] = c.imc_attention_share_latency;
    g["gaincell_attention_share_energy"] = c.imc_attention_share_energy;
    g["end_to_end_latency_gain"] = c.end_to_end_latency_gain;
    g["end_to_end_energy_gain"] = c.end_to_end_energy_gain;
    g["source"] = c.gpu.source;
    j["gpus"].push_back(g);
  }
  return j;
}

std::string summary_text(const CostSummary& s) {
  const TokenCost& t = s.token;
  char buf[512];
  std::string out;
  auto line = [&](const char* fmt, auto... args) {
    std::snprintf(buf, sizeof(buf), fmt, args...);
    out += buf;
  };
  if (t.shape.kv_heads() != t.shape.n_head)  // grouped-query attention: arrays per KV head
    line("model %s: %d layers x %d heads (%d KV heads) x %d, window %d\n", s.model.c_str(), t.shape.n_layer,
         t.shape.n_head, t.shape.kv_heads(), t.shape.head_dim, t.window);
  else
    line("model %s: %d layers x %d heads x %d, window %d\n", s.model.c_str(), t.shape.n_layer, t.shape.n_head,
         t.shape.head_dim, t.window);
  const EnergyBreakdown& h = t.per_head;
  line(
      "energy per head per token:  phi(QK^T) %.2f pJ, phi(S)V %.2f pJ, digital & routing %.2f pJ, DAC %.2f pJ"
      " = %.4g nJ\n",
      h.qk_pj, h.sv_pj, h.digital_pj, h.dac_pj, h.total_pj() * 1e-3);
  line("energy per token:           %.4g nJ per layer, %.4g nJ per model\n", t.per_layer.total_pj() * 1e-3,
       t.per_model.total_pj() * 1e-3);
  line("latency per token:          %.4g ns per layer (%d adder levels), %.4g ns per model\n",
       t.layer_latency.total_ns(), t.layer_latency.adder_levels, t.model_latency_ns);
  line("area:                       %lld arrays, %.4g mm^2 (cells %.4g mm^2, periphery %.4g mm^2)\n",
       static_cast<long long>(s.area.arrays), s.area.model_mm2(), s.area.per_model.cells_um2 * 1e-6,
       s.area.per_model.periphery_um2() * 1e-6);
  if (s.retention_s > 0)
    line("leakage:                    token period %.4g s / retention %.4g s = decay %.4g per token\n",
         token_period_s(t), s.retention_s, s.decay_per_token);
  else
    line("leakage:                    decay %.4g per token (hardware; token period %.4g s, --retention-s to derive)\n",
         s.decay_per_token, token_period_s(t));
  line("GPU baseline:               %s (--gpu-baseline)\n", gpu_baseline_name(s.gpu_baseline).c_str());
  for (const GpuComparison& c : s.gpus) {
    std::string used = c.baseline == "roofline" ? c.baseline : c.baseline + " x" + fmt_g(c.measured_scale);
    line("vs %-22s %s: %.0fx latency, %.0fx energy (attention layer); roofline %.4g s, %.4g J\n", c.gpu.label.c_str(),
         used.c_str(), c.latency_ratio, c.energy_ratio, c.roofline.latency_s, c.roofline.energy_j);
    line(
        "   whole model: attention share on GPU %.1f%% time, %.1f%% energy; with gain cells %.2f%% time, %.2f%% "
        "energy; end-to-end gain %.3gx time, %.3gx energy\n",
        100 * c.gpu_attention_share_latency, 100 * c.gpu_attention_share_energy, 100 * c.imc_attention_share_latency,
        100 * c.imc_attention_share_energy, c.end_to_end_latency_gain, c.end_to_end_energy_gain);
  }
  return out;
}

nlohmann::ordered_json run_report_json(const std::vector<AttentionActivity>& layers, const ModelShape& shape,
                                       const HardwareConfig& hw, const CostTable& table, const std::string& attention,
                                       const std::vector<QuantHistograms>* hist) {
  nlohmann::ordered_json j;
  j["attention"] = attention;
  j["n_layer"] = shape.n_layer;
  j["n_head"] = shape.n_head;
  j["n_kv_head"] = shape.kv_heads();
  j["head_dim"] = shape.head_dim;
  j["window"] = hw.array.window_tokens;
  j["layers"] = nlohmann::ordered_json::array();
  ActionCounts total;
  EnergyBreakdown e_total;
  double latency_ns = 0;
  for (size_t l = 0; l < layers.size(); ++l) {
    ActionCounts c = action_counts(layers[l], shape, hw, table.energy.output_word_bits);
    EnergyBreakdown e = energy_of(c, table.energy);
    LatencyBreakdown t = layer_step_latency(c, table.latency, hw.converters.t_max_ns);
    nlohmann::ordered_json lj;
    lj["layer"] = l;
    lj["activity"] = activity_json(layers[l]);
    lj["energy"] = energy_json(e);
    lj["latency_per_token_ns"] = t.total_ns();
    if (hist && l < hist->size() && !(*hist)[l].empty()) lj["histograms"] = histograms_json((*hist)[l]);
    j["layers"].push_back(lj);
    total.add(c);
    e_total = EnergyBreakdown{e_total.qk_pj + e.qk_pj, e_total.sv_pj + e.sv_pj, e_total.digital_pj + e.digital_pj,
                              e_total.dac_pj + e.dac_pj};
    latency_ns += t.total_ns();
  }
  const bool analog = total.cell_reads > 0;
  j["analog_counters"] = analog;
  const int64_t tokens = layers.empty() ? 0 : layers[0].tokens;
  j["tokens"] = tokens;
  if (analog && tokens > 0) {
    j["energy_total"] = energy_json(e_total);
    j["energy_per_token"]["per_model"] = energy_json(e_total.scaled(1.0 / tokens));
    j["energy_per_token"]["per_layer"] = energy_json(e_total.scaled(1.0 / (double(tokens) * layers.size())));
    j["energy_per_token"]["per_head"] =
        energy_json(e_total.scaled(1.0 / (double(tokens) * layers.size() * shape.n_head)));
    j["latency_per_token"]["per_layer_ns"] = latency_ns / layers.size();
    j["latency_per_token"]["per_model_ns"] = latency_ns;
  }
  j["leakage"]["decay_per_token"] = hw.lambda_per_token();
  j["leakage"]["retention_s"] = hw.leakage.retention_tau_s;
  j["leakage"]["token_period_s"] = hw.leakage.token_period_s;
  return j;
}

}  // namespace gaincell
