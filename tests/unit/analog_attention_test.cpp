// Gain-cell attention: the fast training form equals the step-by-step reference (paper-spec §2.4), the
// streaming decoder equals the training form, the ideal array equals digital hardsigmoid attention, and the
// registry exposes the three analog backends.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "analog/gaincell_attention.h"
#include "analog/gaincell_reference.h"
#include "analog/hardsigmoid_attention.h"
#include "analog/register.h"
#include "core/error.h"
#include "core/rng.h"
#include "core/simd.h"
#include "expect_close.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {

constexpr int kH = 2, kD = 64, kC = kH * kD;

// Random qkv [B, T, 3C]: q in [-0.2, 1.2], k, v in [-0.6, 0.6] (so clips and quantisers are exercised).
std::vector<float> random_qkv(int B, int T, uint64_t seed) {
  Rng r(seed);
  std::vector<float> x(size_t(B) * T * 3 * kC);
  for (size_t e = 0; e < x.size(); ++e) {
    int part = int((e % (3 * kC)) / kC);
    x[e] = part == 0 ? -0.2f + 1.4f * r.uniform() : -0.6f + 1.2f * r.uniform();
  }
  return x;
}

// Per-head [T, D] slice of part (0 q, 1 k, 2 v).
std::vector<float> slice(const std::vector<float>& qkv, int T, int b, int h, int part) {
  std::vector<float> s(size_t(T) * kD);
  for (int t = 0; t < T; ++t)
    for (int d = 0; d < kD; ++d) s[t * kD + d] = qkv[(size_t(b) * T + t) * 3 * kC + part * kC + h * kD + d];
  return s;
}

void set_scalers(GainCellModel& m) {  // non-default per-head scalers
  for (int l = 0; l < m.n_layer(); ++l) {
    LayerScalers& s = m.scalers(l);
    s.q_scale = {0.9f, 1.3f};
    s.q_shift = {0.05f, -0.02f};
    s.k_scale = {1.1f, 0.8f};
    s.k_shift = {0.47f, 0.44f};
    s.v_scale = {0.95f, 1.2f};
    s.v_shift = {0.43f, 0.46f};
    s.out_scale = {0.7f, 1.5f};
    s.out_shift = {0.01f, -0.03f};
  }
}

ReferenceHeadParams ref_params(const GainCellModel& m, int h, bool linear) {
  ReferenceHeadParams p;
  p.poly = make_cell_poly(m.hw().device, linear);
  p.cv = Converters(m.hw());
  p.lambda = m.hw().lambda_per_token();
  p.window = m.window();
  p.cols = m.hw().array.cols;
  p.ring_tiles = m.ring_tiles();
  const LayerScalers& s = m.scalers(0);
  p.a_q = s.q_scale[h], p.b_q = s.q_shift[h], p.a_k = s.k_scale[h], p.b_k = s.k_shift[h];
  p.a_v = s.v_scale[h], p.b_v = s.v_shift[h], p.a_out = s.out_scale[h], p.b_out = s.out_shift[h];
  return p;
}

struct Case {
  bool linear;
  int T, window;
  const char* mapping;
  bool converters = true;  // false: no quantisers (clip only), so a difference of one ulp anywhere shows
};

class AnalogFastVsReference : public ::testing::TestWithParam<Case> {};

// The fast path mirrors the reference's float operation order, so the two agree exactly.
TEST_P(AnalogFastVsReference, TrainingFormEqualsStepByStepReference) {
  Case c = GetParam();
  HardwareConfig hw;
  hw.array.tile_mapping = c.mapping;
  hw.converters.query.enabled = hw.converters.store.enabled = hw.converters.adc.enabled = c.converters;
  auto m = std::make_shared<GainCellModel>(hw, 1, kH, kD, c.window, c.linear, 0);
  set_scalers(*m);
  GainCellAttention att(m, c.linear);
  const int B = 2;
  auto qkv = random_qkv(B, c.T, 11 + c.T);
  std::vector<float> out(size_t(B) * c.T * kC), out8(out.size());
  att.forward(out.data(), qkv.data(), B, c.T, 0);
  set_avx512_kernels(false);  // the 8-float kernels of CPUs without AVX-512: the same bits
  att.forward(out8.data(), qkv.data(), B, c.T, 0);
  set_avx512_kernels(true);
  for (float x : out) ASSERT_TRUE(std::isfinite(x));  // (identical NaNs would pass the comparison below)
  EXPECT_EQ(0, std::memcmp(out.data(), out8.data(), out.size() * sizeof(float)));
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < kH; ++h) {
      auto q = slice(qkv, c.T, b, h, 0), k = slice(qkv, c.T, b, h, 1), v = slice(qkv, c.T, b, h, 2);
      std::vector<float> ref(size_t(c.T) * kD);
      reference_gaincell_head(ref.data(), q.data(), k.data(), v.data(), c.T, kD, ref_params(*m, h, c.linear));
      test::WorstError exact;  // bound 0: the same bits (index t * kD + d)
      for (int t = 0; t < c.T; ++t)
        for (int d = 0; d < kD; ++d)
          exact.add(t * kD + d, out[(size_t(b) * c.T + t) * kC + h * kD + d], ref[t * kD + d], 0);
      EXPECT_TRUE(exact.result()) << "b " << b << " h " << h;
      int active = 0;  // the case must exercise non-trivial ADC codes
      for (int e = 0; e < c.T * kD; ++e) active += std::abs(ref[e] - ref_params(*m, h, c.linear).b_out) > 0.01f;
      if (c.T > 1) {
        EXPECT_GT(active, c.T * kD / 10);
      }
    }
}

INSTANTIATE_TEST_SUITE_P(Shapes, AnalogFastVsReference,
                         ::testing::Values(Case{false, 1, 1024, "absolute"}, Case{false, 150, 1024, "absolute"},
                                           Case{true, 150, 1024, "absolute"}, Case{false, 150, 128, "absolute"},
                                           Case{true, 150, 100, "absolute"}, Case{false, 150, 128, "ring"},
                                           Case{true, 201, 96, "ring"}, Case{false, 67, 33, "ring"},
                                           Case{false, 150, 1024, "absolute", false},
                                           Case{true, 201, 96, "ring", false}));

// A NaN in one token's V: the reads skip the keys whose pulse is 0 (exact for finite cells: their terms are
// +-0), but 0 x NaN is NaN, so with such a column stored they must not. The outputs equal the reference's bit
// for bit, NaN where it has NaN (every query whose window holds the token), and some of those queries give that
// token a zero pulse (the case the skip would get wrong).
TEST(AnalogFastVsReference, NonFiniteValueCellsPropagateAsInTheReference) {
  for (bool linear : {false, true}) {
    auto m = std::make_shared<GainCellModel>(HardwareConfig{}, 1, kH, kD, 1024, linear, 0);
    set_scalers(*m);
    GainCellAttention att(m, linear);
    const int T = 90, bad_t = 7;
    auto qkv = random_qkv(1, T, 31);
    qkv[size_t(bad_t) * 3 * kC + 2 * kC + 5] = std::nanf("");  // head 0, V dim 5
    std::vector<float> out(size_t(T) * kC);
    att.forward(out.data(), qkv.data(), 1, T, 0);
    auto q = slice(qkv, T, 0, 0, 0), k = slice(qkv, T, 0, 0, 1), v = slice(qkv, T, 0, 0, 2);
    std::vector<float> ref(size_t(T) * kD), P;
    reference_gaincell_head(ref.data(), q.data(), k.data(), v.data(), T, kD, ref_params(*m, 0, linear), nullptr, &P);
    int nan_rows = 0, zero_pulses = 0;
    for (int t = 0; t < T; ++t) {
      for (int d = 0; d < kD; ++d) {
        const float a = out[size_t(t) * kC + d], b = ref[size_t(t) * kD + d];
        ASSERT_TRUE(std::isnan(a) ? std::isnan(b) : std::memcmp(&a, &b, 4) == 0)
            << t << " " << d << ": " << a << " vs " << b;
      }
      nan_rows += std::isnan(ref[size_t(t) * kD + 5]);
      if (t >= bad_t) zero_pulses += P[size_t(t) * T + bad_t] == 0.0f;
    }
    EXPECT_EQ(nan_rows, T - bad_t) << "linear " << linear;
    EXPECT_GT(zero_pulses, 0) << "linear " << linear;
  }
}

// Streams T tokens through a cache, returning [B, T, C].
std::vector<float> stream(Attention& att, const std::vector<float>& qkv, int B, int T) {
  auto cache = att.make_cache(0, B, T);
  std::vector<float> out(size_t(B) * T * kC), step_in(size_t(B) * 3 * kC), step_out(size_t(B) * kC);
  for (int t = 0; t < T; ++t) {
    for (int b = 0; b < B; ++b) std::copy_n(&qkv[(size_t(b) * T + t) * 3 * kC], 3 * kC, &step_in[size_t(b) * 3 * kC]);
    cache->step(step_out.data(), step_in.data());
    for (int b = 0; b < B; ++b) std::copy_n(&step_out[size_t(b) * kC], kC, &out[(size_t(b) * T + t) * kC]);
  }
  EXPECT_EQ(cache->position(), T);
  return out;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  return test::worst_abs_diff(a, b).err;  // NaN when any value is (tests/expect_close.h)
}

TEST(AnalogStreaming, WithinWindowEqualsTrainingForm) {
  for (bool linear : {false, true}) {
    auto m = std::make_shared<GainCellModel>(HardwareConfig{}, 1, kH, kD, 1024, linear, 0);
    set_scalers(*m);
    GainCellAttention att(m, linear);
    const int B = 2, T = 150;  // crosses two tile boundaries
    auto qkv = random_qkv(B, T, 5);
    std::vector<float> full(size_t(B) * T * kC);
    att.forward(full.data(), qkv.data(), B, T, 0);
    EXPECT_LE(max_abs_diff(stream(att, qkv, B, T), full), 1e-5);
  }
}

// Past W the ring buffer groups slot s = t mod W into array s / 64; the training form with
// tile_mapping = "ring" reads the same window with the same grouping and order.
TEST(AnalogStreaming, PastWindowEqualsTrainingFormOnTheSameArrays) {
  HardwareConfig hw;
  hw.array.tile_mapping = "ring";
  for (int W : {128, 100}) {
    auto m = std::make_shared<GainCellModel>(hw, 1, kH, kD, W, false, 0);
    set_scalers(*m);
    GainCellAttention att(m, false);
    const int B = 1, T = 300;
    auto qkv = random_qkv(B, T, 9);
    std::vector<float> full(size_t(B) * T * kC);
    att.forward(full.data(), qkv.data(), B, T, 0);
    EXPECT_LE(max_abs_diff(stream(att, qkv, B, T), full), 1e-5) << "W " << W;
  }
}

// Ideal array: no quantisers, no leakage, linear cell; inputs inside the clip ranges, one tile.
// Then S = g q'.k, P = clip(S / S_sat, 0, 1), out = a_out (g / A_fs) P.v, i.e. digital hardsigmoid attention
// with query scale g sqrt(D) / S_sat and output scale a_out g / A_fs.
TEST(AnalogIdealArray, EqualsDigitalHardsigmoidWithMatchingScale) {
  HardwareConfig hw;
  hw.converters.query.enabled = hw.converters.store.enabled = hw.converters.adc.enabled = false;
  hw.leakage.decay_per_token = 0;
  const int T = 64;
  auto m = std::make_shared<GainCellModel>(hw, 1, 1, kD, 1024, true, 0);
  const float g = 19.3f, a_out = 40.0f / g;
  m->scalers(0).out_scale = {a_out};
  GainCellAttention att(m, true);
  Rng r(3);
  std::vector<float> qkv(size_t(T) * 3 * kD), q(T * kD), k(T * kD), v(T * kD);
  for (int t = 0; t < T; ++t)
    for (int d = 0; d < kD; ++d) {
      q[t * kD + d] = r.uniform();
      k[t * kD + d] = -0.3f + 0.6f * r.uniform();
      v[t * kD + d] = -0.02f + 0.04f * r.uniform();  // keeps |A| / A_fs < 1
      qkv[t * 3 * kD + d] = q[t * kD + d];
      qkv[t * 3 * kD + kD + d] = k[t * kD + d];
      qkv[t * 3 * kD + 2 * kD + d] = v[t * kD + d];
    }
  std::vector<float> out(T * kD), dig(T * kD), qs(T * kD);
  att.forward(out.data(), qkv.data(), 1, T, 0);
  for (int e = 0; e < T * kD; ++e) qs[e] = q[e] * g * std::sqrt(float(kD)) / 80.0f;
  hardsigmoid_head(dig.data(), kD, qs.data(), k.data(), v.data(), kD, T, kD, 1024);
  const double scale = test::max_abs(dig);
  ASSERT_GT(scale, 0.01);
  // Float rounding: k' = k + 0.45 - 0.45 loses up to 2^-24 * 0.75 per element; bound 64 eps of the scale.
  EXPECT_LE(max_abs_diff(out, dig), 64 * 1.2e-7 * 64 * scale + 1e-6);
}

TEST(AnalogRegistry, RegistersThreeBackends) {
  register_analog_attention();
  register_analog_attention();  // idempotent
  for (const char* n : {"hardsigmoid", "gaincell-linear", "gaincell"}) {
    AttentionContext ctx;
    ctx.n_layer = 2;
    ctx.n_head = kH;
    ctx.head_dim = kD;
    ctx.n_positions = 256;
    auto att = attention_registry().create(n, ctx);
    EXPECT_EQ(att->name(), n);
  }
  AttentionContext bad;
  bad.n_layer = 1;
  bad.n_head = 1;
  bad.head_dim = kMaxRows + 1;  // a head of 128 spans two stacked arrays (analog_gqa_test.cpp); this is too wide
  EXPECT_THROW(attention_registry().create("gaincell", bad), Error);
}

TEST(AnalogRegistry, ScalersComeFromTheModelFile) {
  std::vector<float> qs = {0.5f, 2.0f};
  AttentionContext ctx;
  ctx.n_layer = 2;
  ctx.n_head = kH;
  ctx.head_dim = kD;
  ctx.find_tensor = [&](const std::string& name, int64_t n) -> const float* {
    EXPECT_EQ(n, kH);
    return name == "h.1.attn.gaincell.q.scale" ? qs.data() : nullptr;
  };
  GainCellModel m(ctx, false);
  EXPECT_EQ(m.scalers(1).q_scale, qs);
  EXPECT_EQ(m.scalers(0).q_scale, std::vector<float>(kH, 1.0f));
  EXPECT_EQ(m.scalers(1).k_shift, std::vector<float>(kH, 0.45f));
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
