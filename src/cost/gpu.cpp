#include "cost/gpu.h"

#include <algorithm>

#include "core/error.h"

namespace gaincell {

const std::vector<GpuSpec>& gpu_specs() {
  static const std::vector<GpuSpec> specs = {
      {"h100", "NVIDIA H100 SXM", 3350.0, 989.4, 700.0,
       "NVIDIA H100 Tensor Core GPU datasheet: 3.35 TB/s HBM3, 989.4 TFLOPS FP16 dense, 700 W"},
      {"a100", "NVIDIA A100 SXM 80GB", 2039.0, 312.0, 400.0,
       "NVIDIA A100 Tensor Core GPU datasheet: 2,039 GB/s HBM2e, 312 TFLOPS FP16 dense, 400 W"},
      {"rtx4090", "NVIDIA RTX 4090", 1008.0, 165.2, 450.0,
       "NVIDIA Ada GPU architecture whitepaper: 1,008 GB/s GDDR6X, 165.2 TFLOPS FP16 (FP32 acc.), 450 W"},
      {"jetson-nano", "NVIDIA Jetson Nano", 25.6, 0.472, 10.0,
       "NVIDIA Jetson Nano module datasheet: 25.6 GB/s LPDDR4, 472 GFLOPS FP16, 10 W mode"},
  };
  return specs;
}

std::vector<std::string> gpu_names() {
  std::vector<std::string> n;
  for (auto& g : gpu_specs()) n.push_back(g.name);
  return n;
}

const GpuSpec& gpu_spec(const std::string& name) {
  for (auto& g : gpu_specs())
    if (g.name == name) return g;
  std::string all;
  for (auto& n : gpu_names()) all += (all.empty() ? "" : "|") + n;
  fail_expected("cost", "a GPU in " + all, "'" + name + "'");
}

std::vector<GpuSpec> parse_gpu_list(const std::string& list) {
  std::vector<GpuSpec> out;
  size_t i = 0;
  while (i <= list.size()) {
    size_t j = std::min(list.find(',', i), list.size());
    out.push_back(gpu_spec(list.substr(i, j - i)));
    i = j + 1;
  }
  return out;
}

std::optional<GpuMeasured> gpu_measured(const std::string& name) {
  // Full-precision values of the authors' files (paper-spec §4.2 rounds them to 5 digits).
  if (name == "rtx4090")
    return GpuMeasured{2.2371650629793294e-05, 0.007178261876106262,
                       "GainCellAttention tests_divers/nvidia_4090_attention.json"};
  if (name == "jetson-nano")
    return GpuMeasured{0.0004888500552624464, 0.0032457683701068163,
                       "GainCellAttention tests_divers/nvidia_jetson_attention.json"};
  return std::nullopt;
}

namespace {

GpuCost roofline(const GpuSpec& g, double bytes, double flops) {
  GpuCost c;
  const double t_mem = bytes / (g.mem_bw_gb_per_s * 1e9), t_compute = flops / (g.peak_tflops * 1e12);
  c.memory_bound = t_mem >= t_compute;
  c.latency_s = std::max(t_mem, t_compute);
  c.energy_j = g.board_power_w * c.latency_s;
  return c;
}

}  // namespace

GpuCost roofline_attention(const GpuSpec& g, const AttentionWorkload& w) {
  const double hd = double(w.n_head) * w.head_dim;
  const double bytes = (2.0 * w.cache_tokens * hd + 4.0 * hd) * w.bytes_per_value;
  const double flops = 4.0 * w.cache_tokens * hd;
  return roofline(g, bytes, flops);
}

GpuCost roofline_rest_of_model(const GpuSpec& g, const ModelShape& s, int vocab, int batch) {
  const double C = double(s.n_head) * s.head_dim;
  const double weights = s.n_layer * 12.0 * C * C + C * vocab;  // c_attn 3C^2, c_proj C^2, MLP 8C^2; LM head
  return roofline(g, 2.0 * weights / std::max(batch, 1), 2.0 * weights);
}

GpuBaseline parse_gpu_baseline(const std::string& name) {
  if (name == "measured-scaled") return GpuBaseline::kMeasuredScaled;
  if (name == "roofline") return GpuBaseline::kRoofline;
  fail_expected("cost", "--gpu-baseline measured-scaled|roofline", "'" + name + "'");
}

std::string gpu_baseline_name(GpuBaseline b) {
  return b == GpuBaseline::kRoofline ? "roofline" : "measured-scaled";
}

GpuCost gpu_attention_baseline(const GpuSpec& g, const AttentionWorkload& w, GpuBaseline b, std::string* used,
                               double* scale) {
  const GpuCost roof = roofline_attention(g, w);
  auto m = gpu_measured(g.name);
  if (b == GpuBaseline::kRoofline || !m) {
    if (used) *used = "roofline";
    if (scale) *scale = 0;
    return roof;
  }
  const double f = roof.latency_s / roofline_attention(g, AttentionWorkload{}).latency_s;
  if (used) *used = "measured-scaled";
  if (scale) *scale = f;
  return GpuCost{m->latency_s * f, m->energy_j * f, roof.memory_bound};
}

}  // namespace gaincell
