// Gain-cell attention with grouped-query attention and head dimensions other than 64 (issue 13 item 1):
// a KV head's K and V arrays are written once per token and read by every query head of its group (write
// noise and device mismatch shared, read noise per query head), k/v scalers per KV head, activity counters
// with writes per KV head and reads / conversions per query head (equal to the analytic counts), heads of
// D > array.rows spanning stacked K arrays (array.row_sum "shared_line" or "digital") against the step-by-step
// reference, and the streaming decoder equal to the training form for all of it.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <vector>

#include "analog/gaincell_attention.h"
#include "analog/gaincell_reference.h"
#include "analog/gaincell_train.h"
#include "analog/hw_config.h"
#include "core/error.h"
#include "core/rng.h"
#include "cost/counts.h"
#include "expect_close.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {

struct Shape {
  int H, Hkv, D;
  int q_width() const { return H * D; }
  int fused() const { return (H + 2 * Hkv) * D; }
};

// Fused rows [q (H D) | k (Hkv D) | v (Hkv D)]: q in [-0.2, 1.2], k, v in [-0.6, 0.6].
std::vector<float> random_rows(const Shape& s, int rows, uint64_t seed) {
  Rng r(seed);
  std::vector<float> x(size_t(rows) * s.fused());
  for (size_t e = 0; e < x.size(); ++e)
    x[e] = int(e % s.fused()) < s.q_width() ? -0.2f + 1.4f * r.uniform() : -0.6f + 1.2f * r.uniform();
  return x;
}

// One head's [T, D] slice: part 0 = q head h, 1 = k of KV head h, 2 = v of KV head h.
std::vector<float> slice(const Shape& s, const std::vector<float>& x, int T, int b, int h, int part) {
  const int off = part == 0 ? h * s.D : part == 1 ? (s.H + h) * s.D : (s.H + s.Hkv + h) * s.D;
  std::vector<float> o(size_t(T) * s.D);
  for (int t = 0; t < T; ++t)
    for (int d = 0; d < s.D; ++d) o[size_t(t) * s.D + d] = x[(size_t(b) * T + t) * s.fused() + off + d];
  return o;
}

// Per query head q/out scalers and per KV head k/v scalers, all different.
void set_scalers(GainCellModel& m) {
  LayerScalers& sc = m.scalers(0);
  for (int h = 0; h < m.n_head(); ++h) {
    sc.q_scale[h] = 0.85f + 0.1f * h;
    sc.q_shift[h] = 0.04f - 0.02f * h;
    sc.out_scale[h] = 0.7f + 0.2f * h;
    sc.out_shift[h] = 0.01f * h;
  }
  for (int g = 0; g < m.n_kv_head(); ++g) {
    sc.k_scale[g] = 1.1f - 0.25f * g;
    sc.k_shift[g] = 0.47f - 0.03f * g;
    sc.v_scale[g] = 0.95f + 0.2f * g;
    sc.v_shift[g] = 0.43f + 0.03f * g;
  }
}

std::vector<float> forward(GainCellAttention& att, const Shape& s, const std::vector<float>& x, int B, int T) {
  std::vector<float> out(size_t(B) * T * s.q_width());
  att.forward(out.data(), x.data(), B, T, 0);
  return out;
}

// Streams T tokens (rows b * T + t) through a cache.
std::vector<float> stream(GainCellAttention& att, const Shape& s, const std::vector<float>& x, int B, int T) {
  auto cache = att.make_cache(0, B, T);
  std::vector<float> out(size_t(B) * T * s.q_width()), in(size_t(B) * s.fused()), o(size_t(B) * s.q_width());
  for (int t = 0; t < T; ++t) {
    for (int b = 0; b < B; ++b) std::copy_n(&x[(size_t(b) * T + t) * s.fused()], s.fused(), &in[size_t(b) * s.fused()]);
    cache->step(o.data(), in.data());
    for (int b = 0; b < B; ++b)
      std::copy_n(&o[size_t(b) * s.q_width()], s.q_width(), &out[(size_t(b) * T + t) * s.q_width()]);
  }
  return out;
}

ReferenceHeadParams ref_params(const GainCellModel& m, int h, bool linear) {
  ReferenceHeadParams p;
  p.poly = make_cell_poly(m.hw().device, linear);
  p.cv = Converters(m.hw());
  p.lambda = m.hw().lambda_per_token();
  p.window = m.window();
  p.cols = m.hw().array.cols;
  p.ring_tiles = m.ring_tiles();
  p.rows = m.hw().array.rows;
  p.digital_row_sum = m.hw().array.row_sum == "digital";
  const LayerScalers& s = m.scalers(0);
  const int g = m.shape().kv_of(h);
  p.a_q = s.q_scale[h], p.b_q = s.q_shift[h], p.a_k = s.k_scale[g], p.b_k = s.k_shift[g];
  p.a_v = s.v_scale[g], p.b_v = s.v_shift[g], p.a_out = s.out_scale[h], p.b_out = s.out_shift[h];
  return p;
}

// The training form equals the step-by-step reference applied per query head to its KV head's k, v with the
// KV head's k/v scalers, bit for bit.
void expect_equals_reference(const Shape& s, const HardwareConfig& hw, bool linear, int T, int W) {
  auto m = std::make_shared<GainCellModel>(hw, 1, s.H, s.D, W, linear, 0, s.Hkv);
  set_scalers(*m);
  GainCellAttention att(m, linear);
  const int B = 2;
  auto x = random_rows(s, B * T, 17 + s.D);
  auto out = forward(att, s, x, B, T);
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < s.H; ++h) {
      const int g = m->shape().kv_of(h);
      auto q = slice(s, x, T, b, h, 0), k = slice(s, x, T, b, g, 1), v = slice(s, x, T, b, g, 2);
      std::vector<float> ref(size_t(T) * s.D);
      reference_gaincell_head(ref.data(), q.data(), k.data(), v.data(), T, s.D, ref_params(*m, h, linear));
      test::WorstError exact;
      int active = 0;
      for (int t = 0; t < T; ++t)
        for (int d = 0; d < s.D; ++d) {
          const float r = ref[size_t(t) * s.D + d];
          exact.add(t * s.D + d, out[(size_t(b) * T + t) * s.q_width() + h * s.D + d], r, 0);
          active += std::fabs(r - ref_params(*m, h, linear).b_out) > 0.01f;
        }
      EXPECT_TRUE(exact.result()) << "b " << b << " h " << h;
      EXPECT_GT(active, T * s.D / 10) << "b " << b << " h " << h;
    }
}

TEST(GainCellGqa, TrainingFormEqualsReferenceWithPerKvHeadScalers) {
  HardwareConfig hw;
  for (bool linear : {false, true}) {
    expect_equals_reference({4, 2, 8}, hw, linear, 90, 64);  // D = 8: 8 rows of a 64-row array
    expect_equals_reference({4, 1, 32}, hw, linear, 70, 48);
  }
}

// D = 96 spans two stacked K arrays. shared_line: one charge per key over all 96 rows; digital: two
// conversions summed. Both equal the reference, and they differ from each other.
TEST(GainCellGqa, WideHeadSpansStackedArraysInBothRowSumModes) {
  const Shape s{2, 1, 96};
  const int T = 80, W = 64;
  std::vector<float> outs[2];
  for (int mode = 0; mode < 2; ++mode) {
    HardwareConfig hw;
    hw.array.row_sum = mode == 0 ? "shared_line" : "digital";
    hw.array.tile_mapping = "ring";
    expect_equals_reference(s, hw, false, T, W);
    expect_equals_reference(s, hw, true, T, W);
    auto m = std::make_shared<GainCellModel>(hw, 1, s.H, s.D, W, false, 0, s.Hkv);
    GainCellAttention att(m, false);
    auto x = random_rows(s, T, 3);
    outs[mode] = forward(att, s, x, 1, T);
    EXPECT_TRUE(test::worst_abs_diff(stream(att, s, x, 1, T), outs[mode]).err <= 1e-5) << hw.array.row_sum;
    EXPECT_EQ(m->c2p_per_key(), mode == 0 ? 1 : 2);
  }
  EXPECT_TRUE(test::worst_abs_diff(outs[0], outs[1]).err > 1e-3) << "the switch must change the result";
}

// With every non-ideality on (d2d cell / ADC / charge-to-pulse mismatch, write noise, read noise, leakage,
// refresh) and ring tiles, the streaming decoder equals the training form for GQA heads of 8, 64 and 96.
TEST(GainCellGqa, DecoderEqualsTrainingFormWithEveryNonIdeality) {
  for (const Shape& s : {Shape{4, 2, 8}, Shape{4, 2, 64}, Shape{2, 1, 96}})
    for (const char* row_sum : {"shared_line", "digital"}) {
      HardwareConfig hw;
      hw.array.tile_mapping = "ring";
      hw.array.row_sum = row_sum;
      hw.noise.cell_gain_sigma = 0.05;
      hw.noise.cell_offset_sigma_ua = 0.02;
      hw.noise.adc_gain_sigma = 0.02;
      hw.noise.adc_offset_sigma = 0.01;
      hw.noise.c2p_sat_sigma = 0.05;
      hw.noise.write_noise_sigma_v = 0.02;
      hw.noise.read_noise_s_ua_tmax = 0.5;
      hw.noise.read_noise_a_ua_tmax = 0.3;
      hw.leakage.decay_per_token = 1e-3;
      hw.leakage.refresh_every_tokens = 50;
      const int B = 2, T = 150, W = 100;
      auto m = std::make_shared<GainCellModel>(hw, 1, s.H, s.D, W, false, 7, s.Hkv);
      set_scalers(*m);
      GainCellAttention att(m, false);
      auto x = random_rows(s, B * T, 21);
      auto full = forward(att, s, x, B, T);
      EXPECT_TRUE(test::worst_abs_diff(stream(att, s, x, B, T), full).err <= 1e-5) << "D " << s.D << " " << row_sum;
    }
}

// Write once per KV head: with write noise on (and no read noise), two query heads of one group with the same
// q and q/out scalers read the same noisy cells and give the same output; the same run with the KV head
// repeated for each query head (H_kv = H, arrays of their own, independent write noise) does not.
TEST(GainCellGqa, GroupReadsOneWriteOfItsKvHead) {
  const Shape gqa{2, 1, 16}, rep{2, 2, 16};
  HardwareConfig hw;
  hw.noise.write_noise_sigma_v = 0.05;
  const int T = 40;
  auto x = random_rows(gqa, T, 5);
  for (int t = 0; t < T; ++t)  // query head 1 = query head 0
    for (int d = 0; d < 16; ++d) x[size_t(t) * gqa.fused() + 16 + d] = x[size_t(t) * gqa.fused() + d];
  std::vector<float> xr(size_t(T) * rep.fused());  // k, v of KV head 0 repeated
  for (int t = 0; t < T; ++t)
    for (int c = 0; c < rep.fused(); ++c) {
      const int part = c / 32, d = c % 16;
      const int src = part == 0 ? c : (part == 1 ? 32 : 48) + d;
      xr[size_t(t) * rep.fused() + c] = x[size_t(t) * gqa.fused() + src];
    }
  auto mg = std::make_shared<GainCellModel>(hw, 1, 2, 16, 64, false, 3, 1);
  auto mr = std::make_shared<GainCellModel>(hw, 1, 2, 16, 64, false, 3, 2);
  GainCellAttention ag(mg, false), ar(mr, false);
  auto og = forward(ag, gqa, x, 1, T), orr = forward(ar, rep, xr, 1, T);
  double same = 0, differ = 0;
  for (int t = 0; t < T; ++t)
    for (int d = 0; d < 16; ++d) {
      const size_t e = size_t(t) * 32 + d;
      same = test::nan_max(same, double(std::fabs(og[e] - og[e + 16])));
      differ = test::nan_max(differ, double(std::fabs(orr[e] - orr[e + 16])));
    }
  EXPECT_TRUE(same == 0.0) << same;
  EXPECT_TRUE(differ > 1e-3) << differ;
}

// Counters: writes per KV head, reads and conversions per query head; equal to the analytic counts of
// cost/counts.h for the training form and the decoder, with the digital row sum's extra conversions.
TEST(GainCellGqa, CountersWritePerKvHeadReadPerQueryHead) {
  const int B = 2, T = 20, W = 8, H = 4, Hkv = 2;
  for (int D : {8, 96})
    for (const char* row_sum : {"shared_line", "digital"}) {
      HardwareConfig hw;
      hw.array.cols = 4;  // W = 8: two arrays per KV head, the window slides
      hw.array.row_sum = row_sum;
      hw.array.tile_mapping = "ring";
      const Shape s{H, Hkv, D};
      auto m = std::make_shared<GainCellModel>(hw, 1, H, D, W, false, 0, Hkv);
      GainCellAttention att(m, false);
      auto x = random_rows(s, B * T, 8);
      forward(att, s, x, B, T);
      const AttentionActivity a = att.activity()[0];
      // By hand: query token i reads min(i + 1, W) keys in ceil(min(i + 1, W) / 4) arrays.
      int64_t keys = 0, arrays = 0;
      for (int i = 0; i < T; ++i) keys += std::min(i + 1, W), arrays += (std::min(i + 1, W) + 3) / 4;
      const int64_t c2p = std::string(row_sum) == "digital" && D > 64 ? 2 : 1;
      EXPECT_EQ(a.cell_writes, int64_t(B) * Hkv * T * 2 * D);
      EXPECT_EQ(a.cell_reads, int64_t(B) * H * keys * 2 * D);
      EXPECT_EQ(a.charge_to_pulse, int64_t(B) * H * keys * c2p);
      EXPECT_EQ(a.adc_conversions, int64_t(B) * H * arrays * D);
      EXPECT_EQ(a.query_pulses, int64_t(B) * H * arrays * D);
      EXPECT_EQ(a.digital_adds, int64_t(B) * H * ((arrays - T) * D + keys * (c2p - 1)));
      EXPECT_EQ(a.tokens, int64_t(B) * T);
      ModelShape shape{1, H, D, Hkv};
      HardwareConfig hw_w = hw;
      hw_w.array.window_tokens = W;
      const AttentionActivity an = analytic_activity(shape, hw_w, W, RunMode::kForward, B, T);
      EXPECT_EQ(an.cell_writes, a.cell_writes);
      EXPECT_EQ(an.cell_reads, a.cell_reads);
      EXPECT_EQ(an.charge_to_pulse, a.charge_to_pulse);
      EXPECT_EQ(an.adc_conversions, a.adc_conversions);
      EXPECT_EQ(an.query_pulses, a.query_pulses);
      EXPECT_EQ(an.digital_adds, a.digital_adds);
      // The decoder counts the same (ring slots = ring tiles).
      GainCellAttention dec(m, false);
      stream(dec, s, x, B, T);
      const AttentionActivity ad = dec.activity()[0];
      EXPECT_EQ(ad.cell_writes, a.cell_writes);
      EXPECT_EQ(ad.cell_reads, a.cell_reads);
      EXPECT_EQ(ad.charge_to_pulse, a.charge_to_pulse);
      EXPECT_EQ(ad.adc_conversions, a.adc_conversions);
      EXPECT_EQ(ad.digital_adds, a.digital_adds);
    }
}

// Scaler gradients: q and out per query head equal those of the same model with each KV head repeated (H_kv =
// H); k and v per KV head equal the repeated model's per-head gradients summed over the group.
TEST(GainCellGqa, ScalerGradientsOfAKvHeadSumItsGroup) {
  const Shape gqa{4, 2, 8}, rep{4, 4, 8};
  const int B = 2, T = 30, W = 16;
  auto x = random_rows(gqa, B * T, 12);
  std::vector<float> xr(size_t(B) * T * rep.fused());
  for (int r = 0; r < B * T; ++r)
    for (int c = 0; c < rep.fused(); ++c) {
      const int part = c / 32, h = (c % 32) / 8, d = c % 8;
      const int src = part == 0 ? c : (part == 1 ? 32 : 48) + (h / 2) * 8 + d;
      xr[size_t(r) * rep.fused() + c] = x[size_t(r) * gqa.fused() + src];
    }
  HardwareConfig hw;
  auto mg = std::make_shared<GainCellModel>(hw, 1, 4, 8, W, true, 0, 2);
  auto mr = std::make_shared<GainCellModel>(hw, 1, 4, 8, W, true, 0, 4);
  set_scalers(*mg);
  set_scalers(*mr);
  for (int h = 0; h < 4; ++h)  // the repeated model's k, v scalers are its KV head's
    for (int kind : {1, 2}) {
      scaler_scale(mr->scalers(0), kind)[h] = scaler_scale(mg->scalers(0), kind)[h / 2];
      scaler_shift(mr->scalers(0), kind)[h] = scaler_shift(mg->scalers(0), kind)[h / 2];
    }
  GainCellAttention ag(mg, true), ar(mr, true);
  EXPECT_TRUE(test::worst_abs_diff(forward(ag, gqa, x, B, T), forward(ar, rep, xr, B, T)).err == 0.0);
  std::vector<float> dout(size_t(B) * T * 32), dg(x.size()), dr(xr.size());
  Rng r(4);
  for (float& v : dout) v = float(r.uniform()) - 0.5f;
  ag.backward(dg.data(), dout.data(), x.data(), B, T, 0);
  ar.backward(dr.data(), dout.data(), xr.data(), B, T, 0);
  const ScalerGrads &g = ag.train_state().grads(0), &gr = ar.train_state().grads(0);
  double worst = 0, scale = 0;
  for (int kind = 0; kind < kNumScalers; ++kind) {
    const bool kv = kind == 1 || kind == 2;
    ASSERT_EQ(g.scale[kind].size(), size_t(kv ? 2 : 4));
    for (int i = 0; i < (kv ? 2 : 4); ++i) {
      const double want_a = kv ? double(gr.scale[kind][2 * i]) + gr.scale[kind][2 * i + 1] : gr.scale[kind][i];
      const double want_b = kv ? double(gr.shift[kind][2 * i]) + gr.shift[kind][2 * i + 1] : gr.shift[kind][i];
      worst = test::nan_max(worst, std::fabs(g.scale[kind][i] - want_a));
      worst = test::nan_max(worst, std::fabs(g.shift[kind][i] - want_b));
      scale = test::nan_max(scale, std::fabs(want_a) + std::fabs(want_b));
    }
  }
  EXPECT_TRUE(scale > 1e-3) << scale;
  EXPECT_TRUE(worst <= 1e-5 * scale) << worst << " of " << scale;
}

TEST(GainCellGqa, ScalerShapesAndTheirFileTensors) {
  AttentionContext ctx;
  ctx.n_layer = 1;
  ctx.n_head = 4;
  ctx.n_kv_head = 2;
  ctx.head_dim = 8;
  ctx.n_positions = 16;
  const std::vector<float> k_scale = {1.25f, 0.75f}, q_scale = {0.5f, 0.75f, 1.0f, 1.5f};
  ctx.find_tensor = [&](const std::string& name, int64_t n) -> const float* {
    if (name == "h.0.attn.gaincell.k.scale" && n == 2) return k_scale.data();
    if (name == "h.0.attn.gaincell.q.scale" && n == 4) return q_scale.data();
    return nullptr;
  };
  GainCellAttention att(ctx, false);
  const LayerScalers& s = att.model().scalers(0);
  EXPECT_EQ(s.k_scale, k_scale);
  EXPECT_EQ(s.q_scale, q_scale);
  EXPECT_EQ(s.v_scale.size(), 2u);
  EXPECT_EQ(s.out_scale.size(), 4u);
  for (const ParamView& p : att.parameters()) {
    const bool kv = p.name.find(".k.") != std::string::npos || p.name.find(".v.") != std::string::npos;
    ASSERT_EQ(p.shape.size(), 1u) << p.name;
    EXPECT_EQ(p.shape[0], kv ? 2 : 4) << p.name;
  }
}

TEST(GainCellGqa, RowSumSwitchIsValidated) {
  HardwareConfig hw;
  hw.array.row_sum = "adder";
  EXPECT_FALSE(hw.validate().empty());
  hw.array.row_sum = "digital";
  EXPECT_TRUE(hw.validate().empty());
  hw.noise.read_snr_s_db = 10;  // the SNR noise of S is defined on one charge per key
  EXPECT_THROW(GainCellModel(hw, 1, 1, 96, 16, false, 0), Error);
  EXPECT_NO_THROW(GainCellModel(hw, 1, 1, 64, 16, false, 0));  // one array: the switch has no effect
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
