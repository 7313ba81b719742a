// Design-space sweeps: the grid of --set KEY=V1,V2,... values over a base configuration, one CostSummary per
// point, written as CSV and SVG plots (stacked energy breakdown, latency and energy against the first swept
// key, ratio bars against each GPU).
#pragma once
#include <string>
#include <vector>

#include "cost/report.h"

namespace gaincell {

struct SweepParam {
  std::string key;
  std::vector<int> values;
};

// Keys a sweep can set: window, adc_bits, query_bits, store_bits, array_cols, array_rows, n_layer, n_head,
// head_dim.
std::vector<std::string> sweep_keys();
// Parses "window=256,512" (errors name the argument: Error("sweep", ...)).
SweepParam parse_sweep_param(const std::string& spec);

struct SweepBase {
  std::string model = "gpt2";
  ModelShape shape;
  int vocab = 50257;
  HardwareConfig hw;
  int window = 1024;
  CostTable table;
  std::vector<GpuSpec> gpus;
  double retention_s = 0;                                   // 0: the hardware's leakage
  GpuBaseline gpu_baseline = GpuBaseline::kMeasuredScaled;  // one baseline for every point
};

struct SweepPoint {
  std::vector<int> values;  // one per parameter
  std::string label;        // "window=256 adc_bits=4"
  CostSummary summary;
};

std::vector<SweepPoint> run_sweep(const SweepBase& base, const std::vector<SweepParam>& params);
std::string sweep_csv(const std::vector<SweepParam>& params, const std::vector<SweepPoint>& points);
// Writes sweep.csv, energy_breakdown.svg, latency_vs_<key>.svg, energy_vs_<key>.svg, ratio_latency.svg,
// ratio_energy.svg into dir (atomically); returns the paths written.
std::vector<std::string> write_sweep(const std::string& dir, const std::vector<SweepParam>& params,
                                     const std::vector<SweepPoint>& points);

}  // namespace gaincell
