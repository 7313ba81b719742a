// Reports built from counts x table: the configuration summary of `gaincell cost` (per head / layer / model,
// area, GPU comparisons, whole-model share, leakage) and the per-run report of --report.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "analog/quant_histograms.h"
#include "cost/area.h"
#include "cost/cost_model.h"
#include "cost/gpu.h"

namespace gaincell {

struct GpuComparison {
  GpuSpec gpu;
  std::string baseline;                        // the baseline this row used: "measured-scaled" or "roofline"
  double measured_scale = 0;                   // measured-scaled: factor on the measured point (1 at its workload)
  GpuCost attention;                           // one attention layer per token (the baseline used)
  GpuCost roofline;                            // one attention layer per token, roofline
  GpuCost rest;                                // the rest of one GPT-2 token on this GPU (roofline)
  double latency_ratio = 0, energy_ratio = 0;  // GPU attention / gain-cell attention, per layer
  // Whole model per token: attention share and end-to-end gain when only attention moves to gain cells.
  double gpu_attention_share_latency = 0, gpu_attention_share_energy = 0;
  double imc_attention_share_latency = 0, imc_attention_share_energy = 0;
  double end_to_end_latency_gain = 0, end_to_end_energy_gain = 0;
};

struct CostSummary {
  std::string model;
  int vocab = 50257;
  TokenCost token;
  ModelArea area;
  std::vector<GpuComparison> gpus;
  GpuBaseline gpu_baseline = GpuBaseline::kMeasuredScaled;
  double retention_s = 0;      // > 0: leakage from the clock, token period / retention_s (--retention-s)
  double decay_per_token = 0;  // lambda the simulator uses for this configuration (HardwareConfig::lambda_per_token)
};

// retention_s 0 keeps the hardware's leakage (leakage.decay_per_token = 1.6e-4, paper-spec §2.2, or its
// retention_tau_s); > 0 sets lambda = token period of this configuration / retention_s, as --retention-s does
// for the simulator (HardwareConfig::set_retention).
CostSummary summarize(const std::string& model, const ModelShape& shape, int vocab, const HardwareConfig& hw,
                      int window, const CostTable& table, const std::vector<GpuSpec>& gpus, double retention_s,
                      GpuBaseline baseline = GpuBaseline::kMeasuredScaled);
nlohmann::ordered_json summary_json(const CostSummary& s);
std::string summary_text(const CostSummary& s);

// --report: the run's counters per layer and the energy / latency they cost; with `hist` (the gain-cell
// backends, one per layer) also each layer's converter histograms (docs/cost-model.md, "Run report").
nlohmann::ordered_json run_report_json(const std::vector<AttentionActivity>& layers, const ModelShape& shape,
                                       const HardwareConfig& hw, const CostTable& table, const std::string& attention,
                                       const std::vector<QuantHistograms>* hist = nullptr);

// Every field of a hardware configuration as a flat JSON object keyed "section.key" (the hardware TOML's
// names, analog/hw_toml.h): the "hardware" of a result's provenance (io/provenance.h).
nlohmann::ordered_json hardware_json(const HardwareConfig& hw);

}  // namespace gaincell
