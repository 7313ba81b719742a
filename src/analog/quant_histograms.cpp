#include "analog/quant_histograms.h"

#include <algorithm>

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

void CodeHistogram::add_codes(const float* code, int64_t n) {
  constexpr int kMaxLocal = 64;
  const int n_bins = int(counts.size()), stride = n_bins + 1;
  const float size = float(n_bins);
  if (n_bins > kMaxLocal) {
    for (int64_t i = 0; i < n; ++i) {
      const float r = code[i] - float(code_lo);
      if (r >= 0.0f && r < size)
        ++counts[size_t(r)];
      else
        ++invalid;
    }
    return;
  }
  // Four interleaved sub-histograms (runs of one code do not wait on each other's increments); the last bin of
  // each counts the invalid codes.
  int32_t bins[4 * (kMaxLocal + 1)];
  std::fill_n(bins, 4 * stride, 0);
  for (int64_t i = 0; i < n; ++i) {
    const float r = code[i] - float(code_lo);
    const bool valid = (r >= 0.0f) & (r < size);  // false for NaN
    const int b = int(valid ? r : 0.0f);
    bins[(i & 3) * stride + (valid ? b : n_bins)] += 1;
  }
  for (int b = 0; b <= n_bins; ++b) {
    const int64_t c = bins[b] + bins[stride + b] + bins[2 * stride + b] + bins[3 * stride + b];
    if (b < n_bins)
      counts[size_t(b)] += c;
    else
      invalid += c;
  }
}

void CodeHistogram::add_all(const Quantizer& q, const float* x, int64_t n) {
  float code[256];
  for (int64_t i = 0; i < n; i += 256) {
    const int64_t m = std::min<int64_t>(256, n - i);
    q.apply(nullptr, code, x + i, m);
    add_codes(code, m);
  }
}

void QuantHistograms::add_pulses(const float* p, int64_t n) {
  int32_t bins[4][kPulseBins + 1] = {};  // four interleaved sub-histograms; bin kPulseBins counts NaN
  int64_t zero = 0, saturated = 0;
  for (int64_t k = 0; k < n; ++k) {
    // Branch-free (pulses of 0 and of positive widths alternate unpredictably): no && and selects.
    const float x = p[k];
    const bool valid = (x >= 0.0f) & (x <= 1.0f);  // false for NaN
    const int b = std::min(int((valid ? x : 0.0f) * float(kPulseBins)), kPulseBins - 1);
    ++bins[k & 3][valid ? b : kPulseBins];
    zero += valid & (x <= 0.0f);
    saturated += valid & (x >= 1.0f);
  }
  for (int b = 0; b < kPulseBins; ++b) pulse[size_t(b)] += bins[0][b] + bins[1][b] + bins[2][b] + bins[3][b];
  pulse_zero += zero;
  pulse_saturated += saturated;
  pulse_invalid += bins[0][kPulseBins] + bins[1][kPulseBins] + bins[2][kPulseBins] + bins[3][kPulseBins];
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
