#include "analog/quant_histograms.h"

#include "core/dist.h"

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

namespace {

// A histogram as doubles (counts below 2^53 are exact): code_lo, n, counts..., invalid.
void put(std::vector<double>& v, const CodeHistogram& h) {
  v.push_back(h.code_lo);
  v.push_back(double(h.counts.size()));
  for (int64_t c : h.counts) v.push_back(double(c));
  v.push_back(double(h.invalid));
}
CodeHistogram take(const double*& x) {
  CodeHistogram h;
  h.code_lo = int(*x++);
  h.counts.resize(size_t(*x++));
  for (int64_t& c : h.counts) c = int64_t(*x++);
  h.invalid = int64_t(*x++);
  return h;
}

}  // namespace

void dist_merge_histograms(std::vector<QuantHistograms>& per_layer) {
  if (dist_size() == 1) return;
  std::vector<double> mine{0.0};  // [0]: this rank's length, then per layer: empty flag, then the fields
  for (const QuantHistograms& q : per_layer) {
    mine.push_back(q.empty() ? 1.0 : 0.0);
    if (q.empty()) continue;
    for (const CodeHistogram* h : {&q.store_k, &q.store_v, &q.query, &q.adc}) put(mine, *h);
    mine.push_back(double(q.pulse.size()));
    for (int64_t c : q.pulse) mine.push_back(double(c));
    mine.insert(mine.end(), {double(q.pulse_zero), double(q.pulse_saturated), double(q.pulse_invalid)});
  }
  mine[0] = double(mine.size());
  const std::vector<double> all = dist_gather(mine);
  if (!dist_root()) return;
  for (size_t at = size_t(mine[0]); at < all.size(); at += size_t(all[at])) {  // ranks 1, 2, ... in order
    const double* x = &all[at + 1];
    for (QuantHistograms& q : per_layer) {
      if (*x++ != 0.0) continue;  // that rank's layer is empty
      QuantHistograms o;
      o.store_k = take(x), o.store_v = take(x), o.query = take(x), o.adc = take(x);
      o.pulse.resize(size_t(*x++));
      for (int64_t& c : o.pulse) c = int64_t(*x++);
      o.pulse_zero = int64_t(*x++), o.pulse_saturated = int64_t(*x++), o.pulse_invalid = int64_t(*x++);
      q.merge(o);
    }
  }
}

}  // namespace gaincell
