// Everything the gain-cell backends share for one model: the hardware config, the cell polynomial, the
// converters, the leakage table, the per-layer scalers and the run seed; plus the write of one token into
// a head's cells and the read configuration. Used by the training form (gaincell_attention.cpp) and the
// streaming decoder (gaincell_cache.cpp) so the two cannot drift apart.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "analog/array_read.h"
#include "analog/cell_model.h"
#include "analog/hw_config.h"
#include "model/attention.h"

namespace gaincell {

class GainCellModel {
 public:
  // Loads ctx.hw_path (paper defaults when empty), applies ctx.window, reads the per-head scalers
  // h.{L}.attn.gaincell.{q,out}.{scale,shift} [n_head] and h.{L}.attn.gaincell.{k,v}.{scale,shift} [n_kv_head]
  // through ctx.find_tensor (defaults when absent).
  GainCellModel(const AttentionContext& ctx, bool linear);
  // n_kv_head: key/value heads (0 = n_head). Grouped-query attention: KV head g owns one set of K and V arrays,
  // written once per token with its k, v scalers (and its write noise and device mismatch); every query head
  // h of its group (g = h / (n_head / n_kv_head)) reads them with its own q and out scalers and its own
  // cycle-to-cycle read noise. A head of D > array.rows spans ceil(D / rows) K arrays per column
  // (array.row_sum).
  GainCellModel(const HardwareConfig& hw, int n_layer, int n_head, int head_dim, int window, bool linear, uint64_t seed,
                int n_kv_head = 0);

  const HardwareConfig& hw() const { return hw_; }
  int n_layer() const { return n_layer_; }
  int n_head() const { return n_head_; }
  int head_dim() const { return dim_; }
  int n_kv_head() const { return n_kv_head_; }
  AttentionShape shape() const { return {n_head_, n_kv_head_, dim_}; }
  int window() const { return window_; }
  bool ring_tiles() const { return hw_.array.tile_mapping == "ring"; }
  bool has_mismatch() const;
  bool has_read_noise() const;
  const CellPoly& poly() const { return poly_; }
  LayerScalers& scalers(int layer) { return scalers_[layer]; }
  const LayerScalers& scalers(int layer) const { return scalers_[layer]; }

  // The d2d values of the arrays of (layer, KV head), or an empty struct when mismatch is off. Drawn on the
  // first call for each (layer, KV head) and kept (thread-safe): the training form asked for them anew in every
  // forward, and their draws were a third of a forward with every non-ideality on. Copies of this model share
  // them.
  const HeadMismatch& mismatch(int layer, int kv_head) const;
  // The c2c stream of (layer, sequence, head): writes use the KV head's, reads the query head's.
  Rng c2c(int layer, int64_t seq, int head) const { return c2c_stream(seed_, layer, seq, head); }
  // Query pulses of one token [D] (counted into hist when given).
  void query(float* qp, const float* q, int layer, int head, QuantHistograms* hist = nullptr) const;
  // Writes raw k, v [D] of token t of KV head kv_head into column col of `cells` (physical slot t mod
  // window), with that KV head's scalers, mismatch mm and c2c stream; the stored levels are counted into hist
  // when given.
  void write_token(HeadCells& cells, int64_t col, int64_t t, const float* k, const float* v, int layer, int kv_head,
                   const HeadMismatch* mm, const Rng& c2c, QuantHistograms* hist = nullptr) const;
  // Charge-to-pulse conversions per key read: ceil(D / rows) with array.row_sum = "digital" and D > rows,
  // else 1.
  int c2p_per_key() const;
  // Empty converter histograms sized for this hardware (quant_histograms.h).
  QuantHistograms new_histograms() const;
  ReadConfig read_config(const HeadMismatch* mm, const Rng* c2c) const;
  // Output scaler: out[d] = a_out * o[d] + b_out.
  void output(float* out, const float* o, int layer, int head) const;

 private:
  void init(bool linear);
  HardwareConfig hw_;
  int n_layer_ = 0, n_head_ = 0, dim_ = 0, window_ = 0, n_kv_head_ = 0;
  uint64_t seed_ = 0;
  CellPoly poly_;
  Converters cv_{HardwareConfig{}};
  std::vector<float> decay_;           // [poly.n][window]
  std::vector<float> decay_reversed_;  // [poly.n][window], each power's row reversed (ReadConfig)
  std::vector<LayerScalers> scalers_;
  struct MismatchCache;
  std::shared_ptr<MismatchCache> mismatch_cache_;  // [n_layer][n_kv_head]
};

// Per-layer activity counters and converter histograms shared by a backend and its caches (thread-safe
// accumulation).
class ActivityLog {
 public:
  explicit ActivityLog(int n_layer) : per_layer_(n_layer), hist_(n_layer) {}
  void add(int layer, const AttentionActivity& a);
  void add(int layer, const QuantHistograms& h);
  std::vector<AttentionActivity> snapshot() const;
  std::vector<QuantHistograms> histograms() const;
  // Whether the backend and its caches count converter histograms (off: they pass no histograms to the reads).
  void set_histograms(bool on) { histograms_on_ = on; }
  bool histograms_on() const { return histograms_on_; }

 private:
  mutable std::mutex mu_;
  std::vector<AttentionActivity> per_layer_;
  std::vector<QuantHistograms> hist_;
  std::atomic<bool> histograms_on_{false};
};

// Counters of one read of one query head: D query pulses and D ADC conversions per array read (arrays = the
// token tiles; a head of D > rows drives ceil(D / rows) stacked K arrays per tile, D pulses in all),
// c2p_per_key charge-to-pulse conversions per key column, 2 D cell reads per key, D digital additions per
// extra tile and c2p_per_key - 1 per key (the digital row sum).
void count_read(AttentionActivity& a, const ReadStats& st, int D, int c2p_per_key = 1);

}  // namespace gaincell
