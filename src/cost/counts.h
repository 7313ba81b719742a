// Action counts (style R13): the simulator's per-layer AttentionActivity plus what follows from the model
// shape and the converter widths (bits routed, ADC conversion steps). The analytic functions compute the
// same AttentionActivity a run would produce, for a configuration, without running a model.
#pragma once
#include <cstdint>

#include "analog/hw_config.h"
#include "model/attention.h"

namespace gaincell {

struct ModelShape {
  int n_layer = 12;
  int n_head = 12;
  int head_dim = 64;
  int n_kv_head = 0;  // KV heads (grouped-query attention); 0 = n_head
  int kv_heads() const { return n_kv_head > 0 ? n_kv_head : n_head; }
};

// Bits of a converter with L levels: ceil(log2 L).
int converter_bits(int levels);

// Counts of one layer (or summed over layers) in the units the cost table prices.
struct ActionCounts {
  int64_t tokens = 0;           // query tokens (sequences x positions)
  int64_t head_steps = 0;       // tokens x query heads: one read of one KV head's arrays by one query head
  int64_t cell_writes = 0;      // gain cells written (K and V; once per KV head)
  int64_t cell_reads = 0;       // cells under a pulse (K and V arrays)
  int64_t query_pulses = 0;     // query pulses driven onto K-array rows
  int64_t charge_to_pulse = 0;  // charge-to-pulse conversions
  int64_t adc_conversions = 0;  // ADC conversions
  double adc_steps = 0;         // adc_conversions x 2^adc_bits (what a Walden FoM prices)
  int64_t digital_adds = 0;     // additions of per-array ADC outputs (and of per-array pulses: digital row sum)
  int64_t scaler_ops = 0;       // output affine ops: head_steps x head_dim
  int64_t array_reads = 0;      // array pairs read: adc_conversions / head_dim
  double routed_bits = 0;       // ADC outputs + query codes + written values + outputs, in bits
  int adc_bits = 0;
  int read_rounds = 1;  // query heads per KV head: they read the shared arrays one after the other
  void add(const ActionCounts& o);
};

// Counts of one layer's activity. output_word_bits is the width of one output element (cost table).
ActionCounts action_counts(const AttentionActivity& a, const ModelShape& shape, const HardwareConfig& hw,
                           double output_word_bits);

// How a run feeds the attention: kDecode = the streaming decoder (one token per step, ring-buffer slots,
// generate); kForward = the full-sequence form over T tokens (perplexity, logits).
enum class RunMode { kDecode, kForward };

// Keys and arrays read by query token i (0-based) with window W and cols tokens per array.
struct ReadShape {
  int64_t keys = 0;
  int64_t arrays = 0;
};
ReadShape read_shape(RunMode mode, int64_t i, int64_t window, int64_t cols, bool ring_tiles);

// The activity of one layer for `batch` sequences of `tokens` tokens (every layer is the same): reads,
// charge-to-pulse and ADC conversions per query head, cell writes per KV head (grouped-query attention), the
// digital row sum of a head wider than array.rows per hw.array.row_sum.
AttentionActivity analytic_activity(const ModelShape& shape, const HardwareConfig& hw, int window, RunMode mode,
                                    int batch, int64_t tokens);
// One token of one sequence with a full window (the steady state the paper's per-token figures describe).
AttentionActivity steady_state_activity(const ModelShape& shape, const HardwareConfig& hw, int window);

}  // namespace gaincell
