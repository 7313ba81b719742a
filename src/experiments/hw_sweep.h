// Accuracy + cost sweeps over the hardware (`gaincell sweep --eval`, docs/scaling.md): for every point of a grid
// of hardware TOML settings (and seeds), the model's loss on a text (or an eval task's score) on the simulated
// hardware and the energy, latency and area of the same run's activity counters. One self-describing JSON per
// point under DIR/points (with the point's hardware TOML beside it), so a sweep resumes (a point whose result
// exists is skipped), splits over processes (shard I of N: points i with i mod N == I; an MPI rank is a shard),
// and merges from any set of point files into a CSV and SVG plots.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "analog/hw_config.h"
#include "cost/counts.h"

namespace gaincell {

// One swept key and its values. Keys: every numeric field of the hardware TOML by its path
// ("noise.cell_gain_sigma", "array.rows", ...), the aliases of hw_sweep_aliases(), and "seed".
struct HwSweepAxis {
  std::string key;
  std::vector<double> values;
};

// Aliases and the TOML path each sets: adc_bits, query_bits, store_bits (levels = 2^bits), window, array_rows,
// array_cols, retention_s (leakage.retention_tau_s with the latency model's token period), cell_gain_sigma,
// cell_offset_sigma, write_noise, read_noise (S and A charge noise), read_snr_db (S and A), seed.
std::vector<std::pair<std::string, std::string>> hw_sweep_aliases();
// Parses "KEY=V1,V2,..."; errors are Error("sweep", ...) naming the argument.
HwSweepAxis parse_hw_sweep_axis(const std::string& spec);

// "I/N" (0 <= I < N): throws Error("sweep", ...) otherwise.
void parse_shard(const std::string& spec, int& index, int& count);
// The indices of a grid of n points that shard `index` of `count` runs: i with i mod count == index.
std::vector<int64_t> shard_indices(int64_t n, int index, int count);

struct HwSweepOptions {
  std::string model_dir;               // model folder
  std::string attention = "gaincell";  // attention backend (an analog kind)
  std::string eval_path;               // text file (task perplexity) or JSON Lines task file (lambada, mc)
  std::string task = "perplexity";     // perplexity | lambada | mc
  int context = 0, stride = 0;         // perplexity windows (0: n_positions, context / 2)
  int64_t limit = 0;                   // first N tokens (perplexity) or items (tasks); 0 = all
  std::string hw_path;                 // base hardware TOML (empty: the paper's)
  std::vector<HwSweepAxis> axes;       // the grid: the last axis varies fastest
  std::string out_dir;
  int shard_index = 0, shard_count = 1;
  // Re-calibration per point (--adapt-steps): > 0 runs the adaptation pipeline (calibration/adapt_pipeline.h)
  // on the point's hardware and seed, with adapt_steps steps in each training stage, on adapt_data_dir's
  // train.bin/val.bin, before the evaluation; the point file records the adaptation and its losses.
  int adapt_steps = 0;
  std::string adapt_data_dir;
  // Precision of the digital projections at every point (kernels/bf16.h, docs/precision.md): "f32" or "bf16".
  // The gain-cell simulation stays f32. Set for the sweep, restored when it returns; point files record it.
  std::string precision = "f32";
  std::vector<std::string> validate() const;  // one line per problem
};

// A point of the grid: its index and one value per axis.
struct HwSweepPoint {
  int64_t index = 0;
  std::vector<double> values;
};
int64_t grid_size(const std::vector<HwSweepAxis>& axes);
HwSweepPoint grid_point(const std::vector<HwSweepAxis>& axes, int64_t index);
// "point_00007": the file stem of a point (DIR/points/<stem>.json and <stem>.hw.toml).
std::string point_stem(int64_t index);

// The base hardware with a point's settings applied (retention_s needs the model's shape for the token period);
// the seed (0 when not swept) is returned through `seed` and also sets noise.chip_seed when swept.
HardwareConfig point_hardware(const HardwareConfig& base, const std::vector<HwSweepAxis>& axes, const HwSweepPoint& p,
                              const ModelShape& shape, uint64_t& seed);

struct HwSweepHooks {
  std::function<void(const std::string&)> note;  // one line per point
};
struct HwSweepSummary {
  int64_t points = 0, ran = 0, skipped = 0, failed = 0;  // of this shard
};
// Runs this shard's points that have no result yet; under mpirun (core/dist.h) rank r of N runs the shard's points
// r, r + N, ... of it, and the summary is the shard's over every rank. A point that fails writes {"status": "error",
// "error": ...} and the sweep goes on (an error record is run again on resume). Options errors throw Error("sweep",
// ...).
HwSweepSummary run_hw_sweep(const HwSweepOptions& o, const HwSweepHooks& hooks = {});

// Reads the point files DIR/points/*.json of every folder in `dirs` (a point found twice: the ok record wins,
// then the first) and writes out/points.csv, out/summary.csv and the SVG plots (hw_sweep_merge.cpp's comment
// lists them); returns the paths written. Throws Error("sweep", ...) when there is no point file.
std::vector<std::string> merge_hw_sweep(const std::vector<std::string>& dirs, const std::string& out);

}  // namespace gaincell
