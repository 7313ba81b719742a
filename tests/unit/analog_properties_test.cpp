// Physical properties of the simulator (style R20d) and its activity counters: quantiser code counts,
// leakage monotone in age, charge-to-pulse monotone and saturating, ADC monotone and clipped.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <set>

#include "analog/cell_model.h"
#include "analog/gaincell_attention.h"
#include "analog/gaincell_reference.h"
#include "analog/quant_histograms.h"
#include "analog/read_kernels.h"
#include "core/rng.h"
#include "core/simd.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {

int codes(const Quantizer& q, double lo, double hi) {
  std::set<float> s;
  for (int i = 0; i <= 200000; ++i) s.insert(q(float(lo + (hi - lo) * i / 200000.0)));
  return int(s.size());
}

TEST(AnalogQuantizer, ProducesTheSpecifiedNumberOfCodes) {
  HardwareConfig hw;
  Converters cv(hw);
  EXPECT_EQ(codes(cv.query, -1, 2), 16);
  EXPECT_EQ(codes(cv.store, -1, 2), 8);
  EXPECT_EQ(codes(cv.adc, -2, 2), 33);  // paper-spec §2.6: +-1 round to +-16 steps
  EXPECT_FLOAT_EQ(cv.adc(1.0f), 16 * 2.0f / 31.0f);
  EXPECT_FLOAT_EQ(cv.adc(-1.0f), -16 * 2.0f / 31.0f);
  EXPECT_FLOAT_EQ(cv.adc(0.99f), 15 * 2.0f / 31.0f);
  EXPECT_FLOAT_EQ(cv.query(0.5f / 15.0f), 0.0f);  // half to even: 0.5 -> 0
  EXPECT_FLOAT_EQ(cv.query(1.5f / 15.0f), 2.0f / 15.0f);
}

TEST(AnalogQuantizer, DisabledIsClipOnlyAndMonotone) {
  HardwareConfig hw;
  hw.converters.adc.enabled = false;
  Converters cv(hw);
  EXPECT_FLOAT_EQ(cv.adc(0.3f), 0.3f);
  EXPECT_FLOAT_EQ(cv.adc(7.0f), 1.0f);
  Converters q(HardwareConfig{});
  float prev = -10;
  for (int i = -3000; i <= 3000; ++i) {
    float y = q.adc(i / 1000.0f);
    EXPECT_GE(y, prev);
    EXPECT_LE(std::abs(y), 16 * 2.0f / 31.0f + 1e-6f);
    prev = y;
  }
}

TEST(AnalogLeakage, StoredValueDecaysMonotonicallyWithAge) {
  auto t = make_decay_table(1.6e-4, 4, 1024);
  for (int p = 1; p < 4; ++p)
    for (int a = 1; a < 1024; ++a) EXPECT_LT(t[p * 1024 + a], t[p * 1024 + a - 1]);
  EXPECT_NEAR(t[1 * 1024 + 63], 0.98997, 1e-5);  // paper-spec §1.1
  EXPECT_NEAR(t[1 * 1024 + 1023], 0.84901, 1e-5);
  for (int a = 0; a < 1024; ++a) EXPECT_EQ(t[a], 1.0f);  // p = 0 does not decay
}

// One key read at growing age: |S - alpha_0 sum q| shrinks monotonically.
TEST(AnalogLeakage, ChargeOfOneKeyShrinksWithAge) {
  CellPoly poly = make_cell_poly(DeviceParams{}, false);
  const int T = 200, D = 4;
  std::vector<float> q(T * D, 0.5f), y(T * D, 0.0f), S(T * T);
  for (int d = 0; d < D; ++d) y[d] = 0.3f;  // key 0 stored high, the others at the offset
  reference_first_product(S.data(), q.data(), y.data(), T, D, poly, 1e-3, T);
  float base = poly.alpha[0] * 2.0f;  // sum q = 2
  for (int i = 1; i < T; ++i) EXPECT_LT(S[i * T] - base, S[(i - 1) * T] - base);
}

TEST(AnalogChargeToPulse, MonotoneAndSaturating) {
  std::vector<float> S, P;
  for (int i = -2000; i <= 2000; ++i) S.push_back(i * 0.1f);
  P.resize(S.size());
  reference_charge_to_pulse(P.data(), S.data(), int64_t(S.size()), 80.0f);
  for (size_t i = 1; i < P.size(); ++i) EXPECT_GE(P[i], P[i - 1]);
  EXPECT_EQ(P.front(), 0.0f);
  EXPECT_EQ(P.back(), 1.0f);
  EXPECT_FLOAT_EQ(P[2000 + 400], 0.5f);  // S = 40 -> half of T_max
}

// Counters for one head, T = 70 tokens, window 1024, 64 keys per array: query i reads i + 1 keys in
// ceil((i + 1) / 64) arrays.
TEST(AnalogActivity, CountsFollowTheArrays) {
  const int T = 70, D = 64;
  auto m = std::make_shared<GainCellModel>(HardwareConfig{}, 2, 1, D, 1024, false, 0);
  GainCellAttention att(m, false);
  std::vector<float> qkv(size_t(T) * 3 * D, 0.1f), out(size_t(T) * D);
  att.forward(out.data(), qkv.data(), 1, T, 1);
  auto a = att.activity();
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].tokens, 0);
  int64_t keys = T * (T + 1) / 2, arrays = 64 * 1 + 6 * 2;
  EXPECT_EQ(a[1].tokens, T);
  EXPECT_EQ(a[1].cell_writes, 2 * T * D);
  EXPECT_EQ(a[1].charge_to_pulse, keys);
  EXPECT_EQ(a[1].cell_reads, 2 * keys * D);
  EXPECT_EQ(a[1].query_pulses, arrays * D);
  EXPECT_EQ(a[1].adc_conversions, arrays * D);
  EXPECT_EQ(a[1].digital_adds, 6 * D);
  // Decoding the same tokens adds the same counts.
  auto cache = att.make_cache(1, 1, T);
  for (int t = 0; t < T; ++t) cache->step(out.data(), &qkv[size_t(t) * 3 * D]);
  EXPECT_EQ(att.activity()[1].adc_conversions, 2 * arrays * D);
  EXPECT_EQ(att.activity()[1].tokens, 2 * T);
}

// The keys a read mixes: those whose pulse is not 0, in order; NaN is kept, -0 and +0 are not. Both the AVX-512
// kernel (where the CPU has it) and the portable loop, over every length and start up to past one vector.
TEST(AnalogKernels, NonzeroKeysAreThePulsesThatAreNotZero) {
  std::vector<float> p;
  Rng r(11);
  for (int i = 0; i < 80; ++i) {
    const double u = r.uniform();
    p.push_back(u < 0.4 ? 0.0f : u < 0.5 ? -0.0f : u < 0.55 ? std::nanf("") : u < 0.6 ? 1e-42f : float(u));
  }
  for (bool avx512 : {true, false}) {
    set_avx512_kernels(avx512);
    for (int k0 = 0; k0 < 20; ++k0)
      for (int k1 = k0; k1 <= 80; ++k1) {
        std::vector<int32_t> want, got(size_t(k1 - k0) + kKeySlack, -1);
        for (int k = k0; k < k1; ++k)
          if (p[k] != 0.0f) want.push_back(k);
        const int64_t m = nonzero_keys(got.data(), p.data(), k0, k1);
        ASSERT_EQ(m, int64_t(want.size())) << k0 << " " << k1 << " avx512 " << avx512;
        got.resize(size_t(m));
        ASSERT_EQ(got, want) << k0 << " " << k1 << " avx512 " << avx512;
      }
  }
  set_avx512_kernels(true);
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell

namespace gaincell {
namespace GAINCELL_UNITY_ID {

// The inline rounding of the quantisers is std::nearbyint (round half to even), bit for bit, sign of zero
// included.
TEST(AnalogQuantizer, InlineRoundingEqualsNearbyint) {
  std::vector<float> xs = {0.0f,   -0.0f,       0.5f,       -0.5f,       1.5f,       2.5f, -2.5f, 15.5f,
                           -15.5f, 0.49999997f, 4194303.5f, -4194303.5f, 4194304.0f, 1e9f, -1e9f, 7.0f / 0.9f * 0.9f,
                           1e-30f, -1e-30f};
  Rng r(3);
  for (int i = 0; i < 100000; ++i) xs.push_back((r.uniform() - 0.5f) * 70.0f);
  for (int i = 0; i < 64; ++i) xs.push_back(float(i) * 0.5f - 16.0f);  // every tie in the converters' range
  for (float x : xs) {
    float a = Quantizer::round_half_even(x), b = std::nearbyint(x);
    uint32_t ua, ub;
    std::memcpy(&ua, &a, 4);
    std::memcpy(&ub, &b, 4);
    ASSERT_EQ(ua, ub) << x;
  }
}

uint32_t bits_of(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  return u;
}

// Inputs for the vectorized quantiser: random values around the converters' range, ties, signed zeros, and
// values its vector path must hand to the scalar one (NaN, infinities, |x / step| >= 2^22).
std::vector<float> quantizer_inputs(bool with_specials) {
  std::vector<float> xs;
  Rng r(5);
  for (int i = 0; i < 203; ++i) xs.push_back((r.uniform() - 0.3f) * 2.5f);
  for (int i = 0; i < 40; ++i) xs.push_back(float(i) / 32.0f - 0.25f);  // ties of small steps
  xs.insert(xs.end(), {0.0f, -0.0f, 1.0f, -1.0f, 0.5f, 1e-30f, -1e-30f});
  if (with_specials) {
    xs.insert(xs.begin() + 17, std::nanf(""));
    xs.insert(xs.begin() + 90, INFINITY);
    xs.insert(xs.begin() + 91, -INFINITY);
    xs.push_back(3e7f);
    xs.insert(xs.end(), {1e-39f, -3e-45f, 1e38f});  // subnormal inputs; a quotient past FLT_MAX (step < 1)
  }
  return xs;
}

// Quantizer::apply (vectorized) gives, per element, the bits of the scalar operator() and of
// round_half_even(clip(x) / step), also on the affine input, disabled, and with values that leave the vector path;
// steps of a power of two (the ADC's 1/16: apply multiplies by the inverse) included; both vector kernels.
TEST(AnalogQuantizer, VectorizedApplyEqualsScalarBits) {
  QuantizerConfig wide;  // a range wide enough that 3e7 / step passes 2^22 unclipped
  wide.lo = -1e8, wide.hi = 1e8, wide.levels = 16;
  QuantizerConfig narrow;
  narrow.lo = -0.25, narrow.hi = 1.0, narrow.levels = 32;
  QuantizerConfig pow2;  // step 1/16
  pow2.lo = -1.0, pow2.hi = 1.0, pow2.levels = 33;
  QuantizerConfig pow2_small;  // step 2^-130: subnormal, so divided by
  pow2_small.lo = 0.0, pow2_small.hi = std::ldexp(1.0, -125), pow2_small.levels = 33;
  QuantizerConfig pow2_huge;  // step 2^100: quotients of small inputs are subnormal
  pow2_huge.lo = -std::ldexp(1.0, 104), pow2_huge.hi = std::ldexp(1.0, 104), pow2_huge.levels = 33;
  for (bool avx512 : {true, false}) {  // the 16-float kernel (where the CPU has AVX-512) and the 8-float one
    set_avx512_kernels(avx512);
    for (bool specials : {false, true})
      for (const QuantizerConfig& c : {narrow, wide, pow2, pow2_small, pow2_huge})
        for (bool enabled : {true, false})
          for (bool affine : {false, true}) {
            QuantizerConfig cc = c;
            cc.enabled = enabled;
            Quantizer q(cc);
            auto xs = quantizer_inputs(specials);
            // Inputs at the codes' rounding edges (x / step near k + 1/2), where a quotient by multiplication could
            // round the other way: the half-way values and their float neighbours.
            for (int k = -40; k < 40; ++k)
              for (double frac : {0.5, 0.5 - 1e-7, 0.5 + 1e-7, 0.25}) {
                float h = float((k + frac) * q.step);
                for (int s = 0; s < 4; ++s, h = std::nextafter(h, INFINITY)) xs.push_back(h);
                h = float((k + frac) * q.step);
                for (int s = 0; s < 3; ++s) xs.push_back(h = std::nextafter(h, -INFINITY));
              }
            const float a = 1.3f, b = -0.05f;
            std::vector<float> out(xs.size(), 7.0f), code(xs.size(), 7.0f);
            q.apply(out.data(), code.data(), xs.data(), int64_t(xs.size()), affine, a, b);
            for (size_t i = 0; i < xs.size(); ++i) {
              const float in = affine ? a * xs[i] + b : xs[i];
              ASSERT_EQ(bits_of(out[i]), bits_of(q(in))) << i << " x " << xs[i] << " enabled " << enabled;
              ASSERT_EQ(bits_of(code[i]), bits_of(Quantizer::round_half_even(q.clip(in) / q.step))) << i;
            }
          }
  }
  set_avx512_kernels(true);
}

// One element at a time, as the histograms are specified (quant_histograms.h): the code of a quantiser input,
// and the bin of a pulse.
void add_one_code(CodeHistogram& h, const Quantizer& q, float x) {
  const float r = Quantizer::round_half_even(q.clip(x) / q.step) - float(h.code_lo);
  if (r >= 0.0f && r < float(h.counts.size()))
    ++h.counts[size_t(r)];
  else
    ++h.invalid;
}
void add_one_pulse(QuantHistograms& h, float p) {
  if (!(p >= 0.0f && p <= 1.0f)) {
    ++h.pulse_invalid;
    return;
  }
  const int b = int(p * float(kPulseBins));
  ++h.pulse[size_t(b >= kPulseBins ? kPulseBins - 1 : b)];
  h.pulse_zero += p <= 0.0f;
  h.pulse_saturated += p >= 1.0f;
}

// The batched histogram adds count what the per-element definitions count, NaN and out-of-range included.
TEST(AnalogHistograms, BatchedAddsEqualOneByOne) {
  HardwareConfig hw;
  Converters cv(hw);
  QuantHistograms one, batch;
  one.init(cv.query, cv.store, cv.adc);
  batch.init(cv.query, cv.store, cv.adc);
  auto xs = quantizer_inputs(true);
  const std::vector<float> once = xs;
  for (int rep = 0; rep < 3; ++rep) xs.insert(xs.end(), once.begin(), once.end());  // > 256: several chunks
  for (float x : xs) add_one_code(one.adc, cv.adc, x), add_one_code(one.store_k, cv.store, x), add_one_pulse(one, x);
  const int64_t n = int64_t(xs.size());
  std::vector<float> code(xs.size());
  cv.adc.apply(nullptr, code.data(), xs.data(), n);
  batch.adc.add_codes(code.data(), n);
  cv.store.apply(nullptr, code.data(), xs.data(), n);
  batch.store_k.add_codes(code.data(), n);
  batch.add_pulses(xs.data(), int64_t(xs.size()));
  EXPECT_EQ(one.adc.counts, batch.adc.counts);
  EXPECT_EQ(one.adc.invalid, batch.adc.invalid);
  EXPECT_GT(one.adc.invalid, 0);  // the NaN
  EXPECT_EQ(one.store_k.counts, batch.store_k.counts);
  EXPECT_EQ(one.pulse, batch.pulse);
  EXPECT_EQ(one.pulse_zero, batch.pulse_zero);
  EXPECT_EQ(one.pulse_saturated, batch.pulse_saturated);
  EXPECT_EQ(one.pulse_invalid, batch.pulse_invalid);
  EXPECT_GT(one.pulse_saturated, 0);
  EXPECT_GT(one.pulse_invalid, 0);
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
