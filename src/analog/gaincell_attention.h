// The "gaincell" and "gaincell-linear" attention backends: the training form (paper-spec §2.4, whole
// sequences, tiles at absolute key positions unless array.tile_mapping = "ring") and the streaming decoder
// whose cache is the arrays themselves (gaincell_cache.cpp).
#pragma once
#include <memory>

#include "analog/gaincell_model.h"
#include "analog/gaincell_train.h"
#include "model/attention.h"

namespace gaincell {

class GainCellAttention : public Attention {
 public:
  GainCellAttention(const AttentionContext& ctx, bool linear);
  GainCellAttention(std::shared_ptr<GainCellModel> model, bool linear);
  std::string name() const override { return linear_ ? "gaincell-linear" : "gaincell"; }
  using Attention::backward;
  using Attention::forward;
  void forward(float* out, const QkvView& qkv, int B, int T, int layer) override;
  // Training form gradients (gaincell_backward.h; gaincell = surrogate of paper-spec §2.7).
  void backward(const QkvGrad& dqkv, const float* dout, const QkvView& qkv, int B, int T, int layer) override;
  std::vector<ParamView> parameters() override;
  std::vector<ParamView> buffers() override { return train_->buffers(); }
  // Scaler gradients, target statistics and statistics capture (paper-spec §3.2-3.3).
  GainCellTrainState& train_state() { return *train_; }
  std::unique_ptr<AttentionCache> make_cache(int layer, int B, int64_t max_tokens) override;
  std::vector<AttentionActivity> activity() const override { return log_->snapshot(); }
  // Converter histograms per layer (quant_histograms.h), accumulated like activity() while counting is on
  // (AttentionOptions::converter_histograms, or set_histograms; off by default). The caches share the switch.
  std::vector<QuantHistograms> histograms() const { return log_->histograms(); }
  void set_histograms(bool on) { log_->set_histograms(on); }
  GainCellModel& model() { return *model_; }

 private:
  void forward_group(float* out, const QkvView& qkv, int T, int b, int g, int layer, AttentionActivity& act) const;
  std::shared_ptr<GainCellModel> model_;
  std::shared_ptr<ActivityLog> log_;
  std::shared_ptr<GainCellTrainState> train_;
  bool linear_;
};

// The converter histograms of a gain-cell backend per layer; empty for any other backend.
std::vector<QuantHistograms> quant_histograms(const Attention& a);

// The streaming decoder of one layer: per sequence and KV head ceil(W/cols) K and V arrays (one HeadCells of
// W columns; ceil(D/rows) stacked K arrays per tile when D > rows), token t in slot t mod W written once, read
// by every query head of the group, ages per cell, the same read as the training form.
std::unique_ptr<AttentionCache> make_gaincell_cache(std::shared_ptr<const GainCellModel> model,
                                                    std::shared_ptr<ActivityLog> log, int layer, int B,
                                                    int64_t max_tokens);

}  // namespace gaincell
