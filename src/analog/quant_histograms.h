// Histograms of what the converters of the gain-cell arrays see (issue 17 item 9), per layer, for sizing
// converters: stored K and V levels (write DAC codes), query pulse codes, attention pulse widths
// phi / T_max (analog, binned) and output ADC codes. A code is round_half_even(clip(x) / step), the integer
// the quantiser outputs (also when the quantiser is disabled: the code it would output). Filled where the
// quantisers run (cell_model.h write / query, array_read.cpp charge-to-pulse and ADC) into one object per
// (sequence, head) task, then merged per layer (ActivityLog).
#pragma once
#include <cstdint>
#include <vector>

#include "analog/quantize.h"

namespace gaincell {

// Counts of the codes [code_lo, code_lo + counts.size()) of one quantiser.
struct CodeHistogram {
  int code_lo = 0;
  std::vector<int64_t> counts;
  int64_t invalid = 0;  // NaN inputs (no code)
  void init(const Quantizer& q);
  // Counts the codes code[i], i < n, that Quantizer::apply gives for its inputs x[i]: round_half_even(clip(x) /
  // step) - code_lo when in range, else one invalid event (NaN included).
  void add_codes(const float* code, int64_t n);
  int64_t total() const;
  void merge(const CodeHistogram& o);
};

constexpr int kPulseBins = 16;  // phi / T_max in [0, 1], bin b = [b / 16, (b + 1) / 16), 1 in the last bin

struct QuantHistograms {
  CodeHistogram store_k, store_v;  // one event per written K / V cell (cell_writes)
  CodeHistogram query;             // one event per query element of a head (tokens x n_head x D)
  std::vector<int64_t> pulse;      // [kPulseBins] one event per charge-to-pulse conversion (charge_to_pulse)
  int64_t pulse_zero = 0;          // of those, phi = 0 (S <= 0)
  int64_t pulse_saturated = 0;     // of those, phi = T_max (S >= S_sat)
  int64_t pulse_invalid = 0;       // NaN pulses (not in the bins)
  CodeHistogram adc;               // one event per ADC conversion (adc_conversions)
  bool empty() const { return pulse.empty(); }
  void init(const Quantizer& query_q, const Quantizer& store_q, const Quantizer& adc_q);
  // Counts the pulses p[i] = phi / T_max, i < n: bin min(int(16 p), 15) (and pulse_zero / pulse_saturated at 0
  // and 1) for p in [0, 1], else pulse_invalid (NaN included). Four interleaved sub-histograms, so that runs of
  // one bin do not wait on each other's increments.
  void add_pulses(const float* p, int64_t n);
  void merge(const QuantHistograms& o);
};

// Under mpirun (core/dist.h): every rank's histograms (per layer; a rank that saw no work may hold empty ones)
// merged, in rank order, into rank 0's; the other ranks' are left as they were. Every rank must call it with
// the same number of layers. Nothing in one process.
void dist_merge_histograms(std::vector<QuantHistograms>& per_layer);

}  // namespace gaincell
