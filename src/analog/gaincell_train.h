// Training-side state of the gain-cell backends: the gradients of the per-head scalers, the target
// statistics recorded while the linear model trains (paper-spec §3.2) and the current-batch statistics that
// calibration reads (§3.3 step 4a). The scaler values themselves stay in GainCellModel (LayerScalers).
// Statistics are the mean and the unbiased std (torch.std) of a scaler's output a*x + b before clipping,
// per head over batch x tokens x head dim; targets are an EMA with weight 0.1 starting from 0, as in the
// authors' range_scaler. Computing gradients lives in gaincell_backward.h.
#pragma once
#include <string>
#include <vector>

#include "analog/cell_model.h"
#include "model/attention.h"

namespace gaincell {

// The four trainable scalers of a layer, in file and calibration order.
enum class ScalerKind { kQ = 0, kK = 1, kV = 2, kOut = 3 };
constexpr int kNumScalers = 4;
const char* scaler_name(int kind);  // "q", "k", "v", "out"
float* scaler_scale(LayerScalers& s, int kind);
float* scaler_shift(LayerScalers& s, int kind);
const float* scaler_scale(const LayerScalers& s, int kind);
const float* scaler_shift(const LayerScalers& s, int kind);

// Per-head statistics of one scaler's output.
struct ScalerStats {
  std::vector<float> mean, std;  // [heads_of(kind)]: n_head for q and out, n_kv_head for k and v
};

// Gradients of one layer's scalers: scale[kind][h], shift[kind][h] (h < heads_of(kind)).
struct ScalerGrads {
  std::vector<float> scale[kNumScalers], shift[kNumScalers];
};

class GainCellTrainState {
 public:
  // n_kv_head: 0 = n_head. q and out statistics, targets and gradients are per query head, k and v per KV head.
  GainCellTrainState(int n_layer, int n_head, int n_kv_head = 0);
  // Reads h.{L}.attn.gaincell.{q,k,v,out}.target_{mean,std} through ctx.find_tensor (zeros when absent).
  void load_targets(const AttentionContext& ctx);

  int n_layer() const { return n_layer_; }
  int n_head() const { return n_head_; }
  int n_kv_head() const { return n_kv_head_; }
  int heads_of(int kind) const;  // n_kv_head for k and v, n_head for q and out
  ScalerGrads& grads(int layer) { return grads_[layer]; }

  // When on, every forward updates the EMA targets of its layer (stage 1 of the adaptation).
  void set_record_targets(bool on) { record_ = on; }
  bool record_targets() const { return record_; }
  // When on, every forward stores its layer's current-batch statistics (calibration, §3.3 step 4a).
  void set_capture(bool on) { capture_ = on; }
  bool capture() const { return capture_; }

  // Updates targets and/or current statistics of `layer` from a forward: qkv the raw q, k, v rows [B T]
  // (q per query head, k and v per KV head: statistics of what each KV head's arrays store), out [B, T, H D]
  // the attention output (after the output scaler).
  void observe(const LayerScalers& s, int layer, const QkvView& qkv, const AttentionShape& shape, const float* out,
               int B, int T);

  ScalerStats& target(int layer, int kind) { return target_[layer * kNumScalers + kind]; }
  const ScalerStats& current(int layer, int kind) const { return current_[layer * kNumScalers + kind]; }

  // Trainable views of the scalers (values in `scalers`, gradients here), named
  // h.{L}.attn.gaincell.{q,k,v,out}.{scale,shift}, shape [heads_of(kind)], no weight decay.
  std::vector<ParamView> parameters(const std::vector<LayerScalers*>& scalers);
  // The target statistics as persistent buffers (grad = nullptr), named h.{L}.attn.gaincell.{kind}.target_{mean,std}.
  std::vector<ParamView> buffers();

 private:
  int n_layer_, n_head_, n_kv_head_;
  bool record_ = false, capture_ = false;
  std::vector<ScalerGrads> grads_;
  std::vector<ScalerStats> target_, current_;  // [layer * kNumScalers + kind]
};

// Per-head mean and unbiased std of a*x + b over rows [n_rows] of x with stride ld, columns h*D .. h*D+D-1
// (a clamped as in the forward). Computed in double.
void affine_stats(ScalerStats& st, const float* x, int64_t n_rows, int64_t ld, int n_head, int D, const float* a,
                  const float* b);
// The same over a view: head h reads x's head h / group.
void affine_stats(ScalerStats& st, const HeadRows& x, int64_t n_rows, int n_head, int group, int D, const float* a,
                  const float* b);

}  // namespace gaincell
