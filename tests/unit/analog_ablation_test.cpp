// Issue 17 item 9, what the authors model beyond the paper model: sigmoid and exponential cell characteristics
// (the nonlinearity ablation, paper-spec §2.7) in the exact gain-cell forward, read noise at a signal-to-noise
// ratio (§2.8, evaluation only), and the per-layer converter histograms of --report.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "analog/gaincell_attention.h"
#include "analog/hw_toml.h"
#include "core/error.h"
#include "core/rng.h"
#include "cost/report.h"
#include "expect_close.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {

// The authors' ablation cells, written out here: I(y) = a (f(s y) - f(0)) with a (f(0.45 s) - f(-0.45 s)) = 19.3.
double exact_cell(const std::string& kind, double y) {
  auto f = [&](double x) { return kind == "exp" ? std::exp(3.0 * x) : 1.0 / (1.0 + std::exp(-10.0 * x)); };
  return 19.3 / (f(0.45) - f(-0.45)) * (f(y) - f(0.0));
}

HardwareConfig ablation_hw(const std::string& kind) {
  HardwareConfig hw;
  hw.device.characteristic = kind;
  return hw;
}

TEST(AnalogAblation, CharacteristicEqualsTheAuthorsFunctions) {
  for (const char* kind : {"sigmoid", "exp"}) {
    HardwareConfig hw = ablation_hw(kind);
    for (double y : {-0.45, -0.3, -0.01, 0.0, 0.07, 0.2, 0.45})
      EXPECT_NEAR(cell_characteristic_ua(hw, y), exact_cell(kind, y), 1e-12) << kind << " y " << y;
    EXPECT_NEAR(cell_characteristic_ua(hw, 0.45) - cell_characteristic_ua(hw, -0.45), 19.3, 1e-12);
    // The order-7 expansion the arrays use, against the exact function on a dense grid (independently).
    CellPoly c = make_cell_poly(hw, false);
    EXPECT_EQ(c.n, 8);
    double worst = 0;
    for (int k = 0; k <= 9000; ++k) {
      double y = -0.45 + 0.9 * k / 9000;
      worst = test::nan_max(worst, std::fabs(c.eval(y) - exact_cell(kind, y)));
    }
    const double reported = cell_expansion_error_ua(hw);
    EXPECT_NEAR(reported, worst, 0.02 * worst + 1e-9) << kind;
    // Sigmoid with stiffness 10: 0.055 uA (0.3 % of the swing); exponential: 1.3e-5 uA (Chebyshev, order 7).
    EXPECT_TRUE(worst <= (std::string(kind) == "exp" ? 2e-5 : 0.06)) << kind << " " << worst;
  }
  // A stiffness the expansion cannot follow within 1 % of the swing is refused.
  HardwareConfig steep = ablation_hw("sigmoid");
  steep.device.stiffness_per_v = 20;
  EXPECT_THROW(GainCellModel(steep, 1, 1, 8, 16, false, 1), Error);
  EXPECT_THROW(make_cell_poly(steep.device, false), Error);  // the polynomial-only overload
  HardwareConfig bad;
  bad.device.characteristic = "tanh";
  EXPECT_FALSE(bad.validate().empty());
  // TOML round trip of the new fields.
  HardwareConfig t = hardware_from_toml("[device]\ncharacteristic = \"exp\"\nstiffness_per_v = 2.5\n", "t");
  EXPECT_EQ(t.device.characteristic, "exp");
  EXPECT_EQ(t.stiffness(), 2.5);
  EXPECT_EQ(hardware_from_toml(hardware_to_toml(t), "t2").device.stiffness_per_v, 2.5);
}

// The exact gain-cell forward with the ablation cells against the spec chain computed here in double with the
// exact function: ideal converters, leakage on (it scales y, so the cell reads I(delta y)), 3 tiles.
TEST(AnalogAblation, GainCellForwardUsesTheCharacteristic) {
  constexpr int T = 40, D = 16, W = 64, kCols = 16;
  const double lambda = 5e-3;
  for (const char* kind : {"sigmoid", "exp"}) {
    HardwareConfig hw = ablation_hw(kind);
    hw.converters.query.enabled = hw.converters.store.enabled = hw.converters.adc.enabled = false;
    hw.array.cols = kCols;
    hw.leakage.decay_per_token = lambda;
    auto m = std::make_shared<GainCellModel>(hw, 1, 1, D, W, false, 0);
    GainCellAttention att(m, false);
    Rng r(5);
    std::vector<float> qkv(size_t(T) * 3 * D), out(size_t(T) * D);
    for (size_t e = 0; e < qkv.size(); ++e)
      qkv[e] = (e % (3 * D)) < size_t(D) ? float(r.uniform()) : -0.5f + float(r.uniform());
    att.forward(out.data(), qkv.data(), 1, T, 0);
    auto y = [&](int t, int part, int d) {  // clip(x + 0.45, 0, 0.9) - 0.45
      return std::min(std::max(double(qkv[size_t(t) * 3 * D + part * D + d]) + 0.45, 0.0), 0.9) - 0.45;
    };
    const double e = cell_expansion_error_ua(hw), i_max = 19.3;
    double worst = 0, bound = 0, max_out = 0;
    for (int i = 0; i < T; ++i) {
      std::vector<double> P(i + 1);
      double ds = 0;
      for (int j = 0; j <= i; ++j) {
        const double delta = std::exp(-lambda * (i - j));
        double s = 0;
        for (int d = 0; d < D; ++d) s += qkv[size_t(i) * 3 * D + d] * exact_cell(kind, delta * y(j, 1, d));
        P[j] = std::min(std::max(s / 80.0, 0.0), 1.0);
      }
      for (int d = 0; d < D; ++d) ds += qkv[size_t(i) * 3 * D + d] * e;  // |S error| <= sum_d q_d e
      for (int d = 0; d < D; ++d) {
        double o = 0, o_bound = 0;
        for (int tile = 0; tile * kCols <= i; ++tile) {
          double a = 0, n = 0;
          for (int j = tile * kCols; j <= std::min(i, tile * kCols + kCols - 1); ++j, ++n)
            a += P[j] * exact_cell(kind, std::exp(-lambda * (i - j)) * y(j, 2, d));
          o += std::min(std::max(a / 40.0, -1.0), 1.0);
          o_bound += n * (ds / 80.0 * i_max + e) / 40.0;
        }
        worst = test::nan_max(worst, std::fabs(out[size_t(i) * D + d] - o));
        bound = std::max(bound, o_bound);
        max_out = std::max(max_out, std::fabs(o));
      }
    }
    EXPECT_TRUE(worst <= bound + 1e-4) << kind << ": " << worst << " > " << bound;
    EXPECT_TRUE(worst <= (std::string(kind) == "exp" ? 1e-4 : 0.05)) << kind << ": " << worst;
    EXPECT_TRUE(max_out > 0.1) << kind;  // the outputs are not trivially zero
    // The cubic cell gives other outputs: the forward really follows the configured characteristic.
    auto cubic = std::make_shared<GainCellModel>(
        [&] {
          HardwareConfig c = hw;
          c.device.characteristic = "poly";
          return c;
        }(),
        1, 1, D, W, false, 0);
    GainCellAttention att_cubic(cubic, false);
    std::vector<float> out_cubic(out.size());
    att_cubic.forward(out_cubic.data(), qkv.data(), 1, T, 0);
    double diff = 0;
    for (size_t k = 0; k < out.size(); ++k) diff = std::max(diff, double(std::fabs(out[k] - out_cubic[k])));
    EXPECT_TRUE(diff > 10 * worst) << kind << ": " << diff << " vs " << worst;
  }
}

// Measured SNR of the injected noise: 10 log10(mean S^2 / mean (S_noisy - S)^2) over the keys of one read.
TEST(AnalogAblation, ReadNoiseAtAnSnr) {
  constexpr int n = 4096, D = 64;
  HardwareConfig hw;
  hw.noise.read_snr_s_db = 10;
  hw.leakage.decay_per_token = 0;
  GainCellModel m(hw, 1, 1, D, n, false, 4);
  HeadCells cells;
  cells.init(D, n, m.poly(), false);
  Rng r(8), c2c = m.c2c(0, 0, 0);
  std::vector<float> k(D), v(D), q(D), qp(D), o(D);
  for (int t = 0; t < n; ++t) {
    for (int d = 0; d < D; ++d) k[d] = -0.4f + 0.8f * float(r.uniform()), v[d] = 0;
    m.write_token(cells, t, t, k.data(), v.data(), 0, 0, nullptr, c2c);
  }
  for (int d = 0; d < D; ++d) q[d] = float(r.uniform());
  m.query(qp.data(), q.data(), 0, 0);
  ReadScratch quiet_scr, scr;
  ColRange range{0, n};
  read_cells(o.data(), qp.data(), n - 1, &range, 1, cells, m.read_config(nullptr, nullptr), quiet_scr);
  read_cells(o.data(), qp.data(), n - 1, &range, 1, cells, m.read_config(nullptr, &c2c), scr);
  double ps = 0, pn = 0, mean = 0;
  for (int j = 0; j < n; ++j) {
    const double e = double(scr.s[j]) - quiet_scr.s[j];
    ps += double(quiet_scr.s[j]) * quiet_scr.s[j], pn += e * e, mean += e;
  }
  const double snr = 10 * std::log10(ps / pn);
  EXPECT_TRUE(std::fabs(snr - 10.0) <= 0.4) << snr;  // 4096 draws: the noise power is known to ~2 %
  EXPECT_TRUE(std::fabs(mean / n) <= 5 * std::sqrt(pn / n / n)) << mean / n;
  // A: one array read of a 2048-wide head, one key.
  HardwareConfig ha;
  ha.noise.read_snr_a_db = 20;
  ha.array.rows = 2048;
  GainCellModel ma(ha, 1, 1, 2048, 64, false, 4);
  HeadCells ca;
  ca.init(2048, 1, ma.poly(), false);
  std::vector<float> ka(2048, 0.3f), va(2048), qa(2048, 0.9f), qpa(2048), oa(2048);
  for (int d = 0; d < 2048; ++d) va[d] = -0.4f + 0.8f * float(r.uniform());
  Rng c2a = ma.c2c(0, 0, 0);
  ma.write_token(ca, 0, 0, ka.data(), va.data(), 0, 0, nullptr, c2a);
  ma.query(qpa.data(), qa.data(), 0, 0);
  ColRange one{0, 1};
  read_cells(oa.data(), qpa.data(), 0, &one, 1, ca, ma.read_config(nullptr, nullptr), quiet_scr);
  read_cells(oa.data(), qpa.data(), 0, &one, 1, ca, ma.read_config(nullptr, &c2a), scr);
  ps = pn = 0;
  for (int d = 0; d < 2048; ++d) {
    const double e = double(scr.a[d]) - quiet_scr.a[d];
    ps += double(quiet_scr.a[d]) * quiet_scr.a[d], pn += e * e;
  }
  EXPECT_TRUE(std::fabs(10 * std::log10(ps / pn) - 20.0) <= 0.5) << 10 * std::log10(ps / pn);
  EXPECT_TRUE(ps > 0);
}

TEST(AnalogAblation, SnrNoiseIsEvaluationOnly) {
  HardwareConfig hw;
  hw.noise.read_snr_s_db = 10;
  auto m = std::make_shared<GainCellModel>(hw, 1, 1, 8, 16, false, 1);
  GainCellAttention att(m, false);
  std::vector<float> qkv(4 * 3 * 8, 0.2f), out(4 * 8), dout(4 * 8, 1.0f), dqkv(qkv.size());
  att.forward(out.data(), qkv.data(), 1, 4, 0);  // evaluation: runs
  try {
    att.backward(dqkv.data(), dout.data(), qkv.data(), 1, 4, 0);
    ADD_FAILURE() << "training with SNR noise ran";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("evaluation-only"), std::string::npos) << e.what();
  }
  HardwareConfig neg;
  neg.noise.read_snr_a_db = -3;
  EXPECT_FALSE(neg.validate().empty());
  EXPECT_FALSE(hw.noise_off());
}

// Histograms: the counts add up to the events of the activity counters, in the training form and the decoder,
// and the stored-level and query-code histograms equal counts made here from the inputs.
TEST(AnalogAblation, HistogramCountsAddUpToTheEvents) {
  constexpr int B = 2, T = 70, H = 2, D = 64, C = H * D, W = 32;
  auto m = std::make_shared<GainCellModel>(HardwareConfig{}, 1, H, D, W, false, 0);
  GainCellAttention att(m, false), off(m, false);  // counting off by default
  att.set_histograms(true);
  Rng r(3);
  std::vector<float> qkv(size_t(B) * T * 3 * C), out(size_t(B) * T * C), out_off(out.size());
  for (auto& x : qkv) x = -0.7f + 1.9f * float(r.uniform());
  att.forward(out.data(), qkv.data(), B, T, 0);
  // Counting changes nothing else: the same outputs and activity, and no histograms when off.
  off.forward(out_off.data(), qkv.data(), B, T, 0);
  for (float x : out) ASSERT_TRUE(std::isfinite(x));
  EXPECT_EQ(0, std::memcmp(out.data(), out_off.data(), out.size() * sizeof(float)));
  EXPECT_EQ(off.activity()[0].adc_conversions, att.activity()[0].adc_conversions);
  ASSERT_EQ(off.histograms().size(), 1u);
  EXPECT_TRUE(off.histograms()[0].empty());
  auto check = [&](int64_t tokens) {
    std::vector<QuantHistograms> h = att.histograms();
    std::vector<AttentionActivity> a = att.activity();
    ASSERT_EQ(h.size(), 1u);
    EXPECT_EQ(a[0].tokens, tokens);
    EXPECT_EQ(h[0].store_k.total() + h[0].store_v.total(), a[0].cell_writes);
    EXPECT_EQ(h[0].store_k.total(), h[0].store_v.total());
    EXPECT_EQ(h[0].query.total(), tokens * H * D);
    int64_t pulses = h[0].pulse_invalid;
    for (int64_t c : h[0].pulse) pulses += c;
    EXPECT_EQ(pulses, a[0].charge_to_pulse);
    EXPECT_EQ(h[0].adc.total(), a[0].adc_conversions);
    EXPECT_EQ(h[0].store_k.counts.size(), 8u);
    EXPECT_EQ(h[0].query.counts.size(), 16u);
    EXPECT_EQ(h[0].adc.code_lo, -16);  // paper-spec §2.6: 33 codes
    EXPECT_EQ(h[0].adc.counts.size(), 33u);
    EXPECT_EQ(h[0].adc.invalid + h[0].store_k.invalid + h[0].query.invalid + h[0].pulse_invalid, 0);
    EXPECT_GT(h[0].pulse_zero, 0);
    EXPECT_LE(h[0].pulse_zero + h[0].pulse_saturated, pulses);
  };
  check(int64_t(B) * T);
  std::vector<int64_t> level_k(8, 0), code_q(16, 0);
  for (int b = 0; b < B; ++b)
    for (int t = 0; t < T; ++t)
      for (int c = 0; c < C; ++c) {
        const float* row = &qkv[(size_t(b) * T + t) * 3 * C];
        ++code_q[size_t(std::nearbyint(std::min(std::max(double(row[c]), 0.0), 1.0) * 15))];
        ++level_k[size_t(std::nearbyint(std::min(std::max(double(row[C + c]) + 0.45, 0.0), 0.9) / (0.9 / 7)))];
      }
  EXPECT_EQ(att.histograms()[0].store_k.counts, level_k);
  EXPECT_EQ(att.histograms()[0].query.counts, code_q);
  // The decoder adds to the same log.
  auto cache = att.make_cache(0, B, T);
  std::vector<float> step_in(size_t(B) * 3 * C), step_out(size_t(B) * C);
  for (int t = 0; t < T; ++t) {
    for (int b = 0; b < B; ++b) std::copy_n(&qkv[(size_t(b) * T + t) * 3 * C], 3 * C, &step_in[size_t(b) * 3 * C]);
    cache->step(step_out.data(), step_in.data());
  }
  check(2 * int64_t(B) * T);
  // --report carries them per layer.
  std::vector<QuantHistograms> h = att.histograms();
  auto j = run_report_json(att.activity(), {1, H, D}, m->hw(), CostTable{}, att.name(), &h);
  auto& hj = j["layers"][0]["histograms"];
  EXPECT_EQ(hj["adc_code"]["total"].get<int64_t>(), att.activity()[0].adc_conversions);
  EXPECT_EQ(hj["adc_code"]["code_lo"].get<int>(), -16);
  EXPECT_EQ(hj["attention_pulse_width"]["total"].get<int64_t>(), att.activity()[0].charge_to_pulse);
  EXPECT_EQ(hj["stored_level_v"]["counts"].size(), 8u);
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
