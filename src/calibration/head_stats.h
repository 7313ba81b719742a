// The statistics calibration measures (paper-spec §3.3 step 4a), read from the attention's own inputs: a
// StatsTap sits between the model and the gain-cell backend, sees the q, k, v views the model hands to every
// backend (rotary embedding already applied: the key statistics are those of what the key projection plus
// RoPE produced, the values the K array stores) and the backend's output, and measures per scaler
//   q, out: per query head (n_head entries),
//   k, v:   per KV head (n_kv_head entries; the query heads of a group read the same keys and values, so each
//           KV head is measured once).
// This is also the calibration layout of the scalers. The backend may store k/v scalers and targets per query
// head ([n_head], every query head of a group holding its KV head's value) or per KV head ([n_kv_head]);
// to_calibration_layout / to_backend_layout convert. For n_kv_head == n_head both layouts coincide.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "calibration/calibration.h"
#include "model/attention.h"

namespace gaincell {

// Heads of scaler `kind` (0 q, 1 k, 2 v, 3 out) in the calibration layout.
int scaler_heads(const AttentionShape& s, int kind);

// Mean and unbiased std (torch.std) of float(A x + B) per head h < n_heads over n_rows rows x D values of head
// h of the view (A = max(a[h], 1e-20) as the gain-cell forward clamps it; a, b null: A = 1, B = 0), in double.
void view_head_stats(std::vector<float>& mean, std::vector<float>& std, const HeadRows& x, int64_t n_rows, int n_heads,
                     int D, const float* a, const float* b);

// The same statistics as moments, for combining over ranks: moments[3 h .. 3 h + 2] = (count, mean, sum of
// squared deviations from the mean) of head h, in double. view_head_stats is this plus the rounding to float.
void view_head_moments(std::vector<double>& moments, const HeadRows& x, int64_t n_rows, int n_heads, int D,
                       const float* a, const float* b);

// A backend tensor of scaler `kind` ([n_head] or, for k and v, [n_kv_head]) in the calibration layout: k/v
// entries per query head are averaged over each KV head's group. Other sizes throw Error naming `what`.
std::vector<float> to_calibration_layout(const std::vector<float>& v, const AttentionShape& s, int kind,
                                         const std::string& what);
// Writes calibration-layout values `v` of scaler `kind` into a backend tensor of dst_n entries ([n_head]:
// every query head gets its KV head's value; [n_kv_head]: copied). Other sizes throw.
void to_backend_layout(float* dst, int64_t dst_n, const std::vector<float>& v, const AttentionShape& s, int kind,
                       const std::string& what);

// Forwards everything to `inner`; while capturing, each forward(layer) also writes the statistics of layer
// `layer`'s scalers into target->at(layer * 4 + kind).mean/std, measured with that entry's scale and shift
// (calibration layout) on q/k/v, and on the backend's output for out (which already is a_out O + b_out).
// Under mpirun (core/dist.h) each rank sees its share of the batch: the forwards keep each head's moments, and
// reduce() combines them over the ranks (in rank order, on rank 0, then broadcast) into the statistics of the
// whole batch, the same on every rank. In one process reduce() does nothing and the statistics are as measured.
class StatsTap : public Attention {
 public:
  explicit StatsTap(Attention& inner) : Attention(inner.shape()), inner_(inner) {}
  // Starts (non-null) or stops (null) capturing into `scalers` (n_layer * 4 entries, layer-major).
  void capture(std::vector<ScalerCalibration>* scalers);
  // After the forward of a capture (every rank calls it, also one that ran no sequence): the statistics of the
  // whole batch over the ranks, written into the captured scalers.
  void reduce();

  std::string name() const override { return inner_.name(); }
  void forward(float* out, const QkvView& qkv, int B, int T, int layer) override;
  void backward(const QkvGrad& dqkv, const float* dout, const QkvView& qkv, int B, int T, int layer) override {
    inner_.backward(dqkv, dout, qkv, B, T, layer);
  }
  std::vector<ParamView> parameters() override { return inner_.parameters(); }
  std::vector<ParamView> buffers() override { return inner_.buffers(); }
  std::unique_ptr<AttentionCache> make_cache(int layer, int B, int64_t max_tokens) override {
    return inner_.make_cache(layer, B, max_tokens);
  }
  std::vector<AttentionActivity> activity() const override { return inner_.activity(); }

 private:
  Attention& inner_;
  std::vector<ScalerCalibration>* capture_ = nullptr;
  std::vector<std::vector<double>> moments_;  // [layer * 4 + kind]: this rank's moments (under mpirun)
};

}  // namespace gaincell
