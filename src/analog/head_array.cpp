#include "analog/head_array.h"

#include <algorithm>

#include "core/error.h"

namespace gaincell {

GainCellHeadArray::GainCellHeadArray(const HardwareConfig& hw, int head_dim, bool linear, int window, uint64_t seed)
    : model_(hw, 1, 1, head_dim, window > 0 ? window : hw.array.window_tokens, linear, seed, 1),
      mm_(model_.mismatch(0, 0)) {
  cells_.init(model_.head_dim(), model_.window(), model_.poly(), mm_.cells());
}

void GainCellHeadArray::write(const float* k, const float* v) {
  const int64_t t = pos_;
  Rng c2c = model_.c2c(0, 0, 0);
  model_.write_token(cells_, t % model_.window(), t, k, v, 0, 0, &mm_, c2c);
  activity_.cell_writes += 2 * model_.head_dim();
  ++pos_;
}

void GainCellHeadArray::read(float* out, const float* q) {
  if (pos_ == 0) fail_expected("gaincell", "a write before the first read", "a read of empty arrays");
  const int D = model_.head_dim();
  const int64_t now = pos_ - 1;
  Rng c2c = model_.c2c(0, 0, 0);
  float qp[kMaxRows], o[kMaxRows];
  model_.query(qp, q, 0, 0);
  ReadConfig rc = model_.read_config(&mm_, &c2c);
  rc.ring = true;  // the physical arrays, as the streaming decoder
  ColRange r{0, std::min<int64_t>(pos_, cells_.ld)};
  ReadStats st = read_cells(o, qp, now, &r, 1, cells_, rc, scratch_);
  count_read(activity_, st, D, model_.c2p_per_key());
  activity_.tokens += 1;
  model_.output(out, o, 0, 0);
}

std::vector<int64_t> GainCellHeadArray::ages() const {
  std::vector<int64_t> a(size_t(cells_.ld), -1);
  for (int64_t c = 0; c < cells_.ld; ++c)
    if (cells_.written_at[c] >= 0) a[c] = pos_ - 1 - cells_.written_at[c];
  return a;
}

}  // namespace gaincell
