// The gain-cell arrays of one attention head, driven token by token with the write and the read apart (the
// Python package's gaincell.GainCellArray, docs/python.md): the streaming decoder of gaincell_cache.cpp for a
// single head, built from the same GainCellModel write, query, read and output steps, so a write followed by
// a read gives the bits of one decoder step. Token t goes to slot t mod window; a read happens at the time of
// the last write, each cell aged by now - its write time.
#pragma once
#include <cstdint>
#include <vector>

#include "analog/array_read.h"
#include "analog/gaincell_model.h"

namespace gaincell {

class GainCellHeadArray {
 public:
  // window <= 0: hw.array.window_tokens. Validates hw and head_dim (<= array.rows) like the backends.
  GainCellHeadArray(const HardwareConfig& hw, int head_dim, bool linear, int window = 0, uint64_t seed = 0);
  // Writes raw k, v [D] of the next token (scalers, clip, store quantiser, noise as configured).
  void write(const float* k, const float* v);
  // out[D] = output scaler of the arrays' read for raw q [D] at the time of the last write (Error before any).
  void read(float* out, const float* q);
  int64_t position() const { return pos_; }  // tokens written so far
  int head_dim() const { return model_.head_dim(); }
  int window() const { return model_.window(); }
  // Age in tokens of each slot's stored token at the current time (position - 1 - written_at), -1 if empty.
  std::vector<int64_t> ages() const;
  // The head's scalers (layer 0, head 0 of the model): change them before the first write.
  LayerScalers& scalers() { return model_.scalers(0); }
  const AttentionActivity& activity() const { return activity_; }

 private:
  GainCellModel model_;
  HeadMismatch mm_;
  HeadCells cells_;
  ReadScratch scratch_;
  AttentionActivity activity_;
  int64_t pos_ = 0;
};

}  // namespace gaincell
