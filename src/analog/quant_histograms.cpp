#include "analog/quant_histograms.h"

namespace gaincell {

void CodeHistogram::init(const Quantizer& q) {
  code_lo = int(Quantizer::round_half_even(q.lo / q.step));
  const int code_hi = int(Quantizer::round_half_even(q.hi / q.step));
  counts.assign(size_t(code_hi - code_lo + 1), 0);
}

int64_t CodeHistogram::total() const {
  int64_t n = invalid;
  for (int64_t c : counts) n += c;
  return n;
}

void CodeHistogram::merge(const CodeHistogram& o) {
  if (counts.empty()) {
    *this = o;
    return;
  }
  for (size_t i = 0; i < counts.size() && i < o.counts.size(); ++i) counts[i] += o.counts[i];
  invalid += o.invalid;
}

void QuantHistograms::init(const Quantizer& query_q, const Quantizer& store_q, const Quantizer& adc_q) {
  store_k.init(store_q);
  store_v.init(store_q);
  query.init(query_q);
  adc.init(adc_q);
  pulse.assign(kPulseBins, 0);
  pulse_zero = pulse_saturated = pulse_invalid = 0;
}

void QuantHistograms::merge(const QuantHistograms& o) {
  if (o.empty()) return;
  if (empty()) {
    *this = o;
    return;
  }
  store_k.merge(o.store_k);
  store_v.merge(o.store_v);
  query.merge(o.query);
  adc.merge(o.adc);
  for (int b = 0; b < kPulseBins; ++b) pulse[b] += o.pulse[b];
  pulse_zero += o.pulse_zero;
  pulse_saturated += o.pulse_saturated;
  pulse_invalid += o.pulse_invalid;
}

}  // namespace gaincell
