// GPU baselines (paper-spec §4.2): the two measured points of the authors' repository and a roofline model
// from public specifications. Roofline per token: time = max(bytes / bandwidth, FLOPs / peak), energy =
// board power x time (a lower bound on time and a board-power estimate of energy).
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "cost/counts.h"

namespace gaincell {

struct GpuSpec {
  std::string name;        // CLI name: h100, a100, rtx4090, jetson-nano
  std::string label;       // printable name
  double mem_bw_gb_per_s;  // DRAM bandwidth
  double peak_tflops;      // dense FP16 tensor throughput
  double board_power_w;    // TDP / maximum power mode
  std::string source;
};

const std::vector<GpuSpec>& gpu_specs();
std::vector<std::string> gpu_names();
// Throws Error("cost", "expected one of h100|a100|..., got 'x'").
const GpuSpec& gpu_spec(const std::string& name);
// Parses "h100,a100" into specs (each name checked).
std::vector<GpuSpec> parse_gpu_list(const std::string& list);

// A measured point: one attention layer, per token.
struct GpuMeasured {
  double latency_s;
  double energy_j;
  std::string source;
};
// The measured point for `name` (rtx4090, jetson-nano), if any.
std::optional<GpuMeasured> gpu_measured(const std::string& name);

// The measured workload: 12 heads x 64, batch 64, 1024-token KV cache, FP16.
struct AttentionWorkload {
  int n_head = 12;
  int head_dim = 64;
  int cache_tokens = 1024;
  int batch = 64;
  double bytes_per_value = 2.0;
  bool operator==(const AttentionWorkload&) const = default;
};

struct GpuCost {
  double latency_s = 0;
  double energy_j = 0;
  bool memory_bound = false;
};

// One attention layer per token: reads K and V of the cache (2 x cache x H x D values) plus q, new k, v and
// the output (4 x H x D); 4 x cache x H x D FLOPs (Q.K^T and P.V).
GpuCost roofline_attention(const GpuSpec& g, const AttentionWorkload& w);
// The rest of a GPT-2 token (QKV, projection, MLP of every layer, and the LM head): 2 FLOPs per weight,
// weights read once per batch step (FP16), shared by `batch` tokens.
GpuCost roofline_rest_of_model(const GpuSpec& g, const ModelShape& s, int vocab, int batch);

// Which GPU attention cost the comparisons use, chosen once for a whole report or sweep (`--gpu-baseline`):
//   kMeasuredScaled: the authors' measured point scaled to the workload by the roofline,
//                    measured x roofline(w) / roofline(measured workload) (latency and energy alike; exactly the
//                    measured point at the measured workload). GPUs without a measured point (h100, a100) use
//                    the roofline, and their rows say so.
//   kRoofline:       the roofline for every GPU and workload.
enum class GpuBaseline { kMeasuredScaled, kRoofline };
// "measured-scaled" | "roofline"; anything else throws Error("cost", ...).
GpuBaseline parse_gpu_baseline(const std::string& name);
std::string gpu_baseline_name(GpuBaseline b);

// The GPU attention cost of one comparison row under `b`. `used` receives the baseline this row really used
// ("measured-scaled" or "roofline") and `scale` the factor applied to the measured point (0 for the roofline).
GpuCost gpu_attention_baseline(const GpuSpec& g, const AttentionWorkload& w, GpuBaseline b, std::string* used,
                               double* scale = nullptr);

}  // namespace gaincell
