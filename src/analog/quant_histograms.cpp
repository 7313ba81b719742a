#include "analog/quant_histograms.h"

#include <algorithm>

#include "core/dist.h"
#include "core/simd_v8.h"

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

namespace {

constexpr int kChunk = 256;  // elements binned per pass (the bin indices live on the stack)

// idx[i] = code[i] - lo when that is in [0, n_bins), else n_bins (NaN included): the bin of a code.
GAINCELL_SIMD_CLONES void code_bins(int32_t* idx, const float* code, int64_t n, float lo, int n_bins) {
  const V8 zero = {}, size = zero + float(n_bins);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const V8 r = load8(code + i) - lo;
    const I8 valid = (r >= zero) & (r < size);  // false for NaN
    I8 b = __builtin_convertvector(valid ? r : zero, I8);
    b = valid ? b : I8{} + n_bins;
    __builtin_memcpy(idx + i, &b, sizeof b);
  }
  for (; i < n; ++i) {
    const float r = code[i] - lo;
    const bool valid = (r >= 0.0f) & (r < float(n_bins));
    idx[i] = valid ? int(r) : n_bins;
  }
}

// idx[i] = the pulse bin of p[i] in [0, 1] (min(int(16 p), 15)), else kPulseBins (NaN included); counts the
// valid pulses at 0 and at 1.
GAINCELL_SIMD_CLONES void pulse_bins(int32_t* idx, int64_t* zeros, int64_t* ones, const float* p, int64_t n) {
  const V8 zero = {}, one = zero + 1.0f;
  I8 z = {}, o = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const V8 x = load8(p + i);
    const I8 valid = (x >= zero) & (x <= one);  // false for NaN
    I8 b = __builtin_convertvector((valid ? x : zero) * float(kPulseBins), I8);
    b = b > kPulseBins - 1 ? I8{} + (kPulseBins - 1) : b;
    b = valid ? b : I8{} + kPulseBins;
    __builtin_memcpy(idx + i, &b, sizeof b);
    z -= valid & (x <= zero);  // masks are -1
    o -= valid & (x >= one);
  }
  for (int j = 0; j < 8; ++j) *zeros += z[j], *ones += o[j];
  for (; i < n; ++i) {
    const float x = p[i];
    const bool valid = (x >= 0.0f) & (x <= 1.0f);
    idx[i] = valid ? std::min(int(x * float(kPulseBins)), kPulseBins - 1) : kPulseBins;
    *zeros += valid & (x <= 0.0f);
    *ones += valid & (x >= 1.0f);
  }
}

// bins[(i mod 4) * stride + idx[i]] += 1: four interleaved sub-histograms, so that runs of one bin do not wait
// on each other's increments.
void count_bins(int32_t* bins, int stride, const int32_t* idx, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    ++bins[idx[i]];
    ++bins[stride + idx[i + 1]];
    ++bins[2 * stride + idx[i + 2]];
    ++bins[3 * stride + idx[i + 3]];
  }
  for (; i < n; ++i) ++bins[idx[i]];
}

// Adds the four sub-histograms of count_bins (stride n_bins + 1) into counts[n_bins], their last bins into
// *invalid.
void merge_bins(int64_t* counts, int64_t* invalid, const int32_t* bins, int n_bins) {
  const int stride = n_bins + 1;
  for (int b = 0; b <= n_bins; ++b) {
    const int64_t c = int64_t(bins[b]) + bins[stride + b] + bins[2 * stride + b] + bins[3 * stride + b];
    *(b < n_bins ? counts + b : invalid) += c;
  }
}

}  // namespace

void CodeHistogram::add_codes(const float* code, int64_t n) {
  constexpr int kMaxLocal = 255;
  const int n_bins = int(counts.size()), stride = n_bins + 1;  // the last bin counts the invalid codes
  if (n_bins > kMaxLocal) {
    for (int64_t i = 0; i < n; ++i) {
      const float r = code[i] - float(code_lo);
      if (r >= 0.0f && r < float(n_bins))
        ++counts[size_t(r)];
      else
        ++invalid;
    }
    return;
  }
  int32_t bins[4 * (kMaxLocal + 1)], idx[kChunk];
  std::fill_n(bins, 4 * stride, 0);
  for (int64_t i = 0; i < n; i += kChunk) {
    const int64_t m = std::min<int64_t>(kChunk, n - i);
    code_bins(idx, code + i, m, float(code_lo), n_bins);
    count_bins(bins, stride, idx, m);
  }
  merge_bins(counts.data(), &invalid, bins, n_bins);
}

void QuantHistograms::add_pulses(const float* p, int64_t n) {
  constexpr int stride = kPulseBins + 1;  // the last bin counts NaN and values outside [0, 1]
  int32_t bins[4 * stride] = {}, idx[kChunk];
  for (int64_t i = 0; i < n; i += kChunk) {
    const int64_t m = std::min<int64_t>(kChunk, n - i);
    pulse_bins(idx, &pulse_zero, &pulse_saturated, p + i, m);
    count_bins(bins, stride, idx, m);
  }
  merge_bins(pulse.data(), &pulse_invalid, bins, kPulseBins);
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
