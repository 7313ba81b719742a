#include "cost/counts.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace gaincell {

int converter_bits(int levels) {
  int b = 0;
  while ((int64_t{1} << b) < levels) ++b;
  return b;
}

void ActionCounts::add(const ActionCounts& o) {
  tokens += o.tokens;
  head_steps += o.head_steps;
  cell_writes += o.cell_writes;
  cell_reads += o.cell_reads;
  query_pulses += o.query_pulses;
  charge_to_pulse += o.charge_to_pulse;
  adc_conversions += o.adc_conversions;
  adc_steps += o.adc_steps;
  digital_adds += o.digital_adds;
  scaler_ops += o.scaler_ops;
  array_reads += o.array_reads;
  routed_bits += o.routed_bits;
  adc_bits = std::max(adc_bits, o.adc_bits);
  read_rounds = std::max(read_rounds, o.read_rounds);
}

ActionCounts action_counts(const AttentionActivity& a, const ModelShape& shape, const HardwareConfig& hw,
                           double output_word_bits) {
  const ConverterConfig& cv = hw.converters;
  ActionCounts c;
  c.adc_bits = converter_bits(cv.adc.levels);
  c.read_rounds = shape.kv_heads() > 0 ? std::max(shape.n_head / shape.kv_heads(), 1) : 1;
  c.tokens = a.tokens;
  c.head_steps = a.tokens * shape.n_head;
  c.cell_writes = a.cell_writes;
  c.cell_reads = a.cell_reads;
  c.query_pulses = a.query_pulses;
  c.charge_to_pulse = a.charge_to_pulse;
  c.adc_conversions = a.adc_conversions;
  c.adc_steps = double(a.adc_conversions) * std::ldexp(1.0, c.adc_bits);
  c.digital_adds = a.digital_adds;
  c.scaler_ops = c.head_steps * shape.head_dim;
  c.array_reads = shape.head_dim > 0 ? a.adc_conversions / shape.head_dim : 0;
  c.routed_bits = double(a.adc_conversions) * c.adc_bits + double(a.query_pulses) * converter_bits(cv.query.levels) +
                  double(a.cell_writes) * converter_bits(cv.store.levels) + double(c.scaler_ops) * output_word_bits;
  return c;
}

ReadShape read_shape(RunMode mode, int64_t i, int64_t window, int64_t cols, bool ring_tiles) {
  ReadShape r;
  const int64_t lo = std::max<int64_t>(0, i - window + 1);
  r.keys = i - lo + 1;
  if (mode == RunMode::kDecode || ring_tiles) {
    // Slots t mod W, grouped per array: a window that is not full covers slots 0..i, a full one all W slots
    // (a ring read that wraps continues in the same array, so it is one array read, not two).
    r.arrays = (std::min(i + 1, window) + cols - 1) / cols;
  } else {
    r.arrays = i / cols - lo / cols + 1;  // absolute tiles j / cols
  }
  return r;
}

namespace {

// Adds the reads of query token i by `reads` (sequence, query head) pairs and its write by `writes` (sequence,
// KV head) pairs; c2p = charge-to-pulse conversions per key (GainCellModel::c2p_per_key).
void add_token(AttentionActivity& a, const ReadShape& r, int64_t reads, int64_t writes, int64_t D, int64_t c2p) {
  a.query_pulses += reads * r.arrays * D;
  a.cell_reads += reads * 2 * r.keys * D;
  a.charge_to_pulse += reads * r.keys * c2p;
  a.adc_conversions += reads * r.arrays * D;
  a.digital_adds += reads * (std::max<int64_t>(r.arrays - 1, 0) * D + r.keys * (c2p - 1));
  a.cell_writes += writes * 2 * D;
}

int64_t c2p_per_key(const ModelShape& shape, const HardwareConfig& hw) {
  return hw.array.digital_row_sum(shape.head_dim) ? hw.array.row_blocks(shape.head_dim) : 1;
}

void check_shape(const ModelShape& shape, int window, int batch, int64_t tokens) {
  if (window < 1 || batch < 1 || tokens < 0 || shape.n_head < 1 || shape.head_dim < 1)
    fail_expected("cost", "window >= 1, batch >= 1, tokens >= 0, n_head >= 1, head_dim >= 1",
                  "window " + std::to_string(window) + ", batch " + std::to_string(batch) + ", tokens " +
                      std::to_string(tokens) + ", n_head " + std::to_string(shape.n_head) + ", head_dim " +
                      std::to_string(shape.head_dim));
  if (shape.n_kv_head < 0 || shape.n_head % shape.kv_heads() != 0)
    fail_expected("cost", "n_kv_head dividing n_head (" + std::to_string(shape.n_head) + ")",
                  std::to_string(shape.n_kv_head));
}

}  // namespace

AttentionActivity analytic_activity(const ModelShape& shape, const HardwareConfig& hw, int window, RunMode mode,
                                    int batch, int64_t tokens) {
  check_shape(shape, window, batch, tokens);
  const bool ring = hw.array.tile_mapping == "ring";
  AttentionActivity a;
  const int64_t c2p = c2p_per_key(shape, hw);
  for (int64_t i = 0; i < tokens; ++i)
    add_token(a, read_shape(mode, i, window, hw.array.cols, ring), int64_t{batch} * shape.n_head,
              int64_t{batch} * shape.kv_heads(), shape.head_dim, c2p);
  a.tokens = int64_t{batch} * tokens;
  return a;
}

AttentionActivity steady_state_activity(const ModelShape& shape, const HardwareConfig& hw, int window) {
  check_shape(shape, window, 1, 1);
  AttentionActivity a;
  add_token(a, read_shape(RunMode::kDecode, window - 1, window, hw.array.cols, false), shape.n_head, shape.kv_heads(),
            shape.head_dim, c2p_per_key(shape, hw));
  a.tokens = 1;
  return a;
}

}  // namespace gaincell
