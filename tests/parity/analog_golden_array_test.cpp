// The authors' 64 x 64 single-array vectors (../shared/data/gaincell-authors, paper-spec "Golden data"):
// cubic cell, no decay, no quantisation, identity scalers, one tile. The authors computed in bf16, so the
// tolerances are those of the spec, relative to the data's scale (style R18): stage by stage from the stored
// previous stage (phi_S within 1e-6, output within 5e-3) and end to end from Q, K, V (S within 0.5 % of
// max|S|, phi_S within 6e-3, output within 1e-2).
#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include "analog/gaincell_attention.h"
#include "analog/gaincell_reference.h"
#include "analog_npy.h"
#include "expect_close.h"
#include "test_paths.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {

constexpr int kN = 64;

struct Arrays {
  test::NpyData Q, K, V, S, phi, out;
};

const Arrays& arrays() {
  static Arrays a = [] {
    auto f = [](const char* n) {
      return test::load_npy_f32(test::shared_path(std::string("data/gaincell-authors/array64_") + n + ".npy"));
    };
    return Arrays{f("Q"), f("K"), f("V"), f("S"), f("phi_S"), f("output")};
  }();
  return a;
}

const float* sample(const test::NpyData& x, int b) {
  return x.data.data() + size_t(b) * kN * kN;
}

std::vector<float> offset_removed(const float* x) {
  std::vector<float> y(x, x + kN * kN);
  for (auto& e : y) e -= 0.45f;
  return y;
}

double max_diff(const float* a, const float* b, int n) {
  return test::worst_abs_diff(a, b, n).err;  // NaN when any value is (tests/expect_close.h)
}

CellPoly cubic() {
  return make_cell_poly(DeviceParams{}, false);
}
Quantizer ideal_adc() {
  QuantizerConfig c{false, 32, -1.0, 1.0};
  return Quantizer(c);
}

class AnalogGoldenArray : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* n : {"Q", "K", "V", "S", "phi_S", "output"})
      GAINCELL_REQUIRE_FILE(test::shared_path(std::string("data/gaincell-authors/array64_") + n + ".npy"));
    ASSERT_EQ(arrays().Q.shape, (std::vector<int64_t>{10, kN, kN}));
  }
};

TEST_F(AnalogGoldenArray, ShapesAndMaxS) {
  EXPECT_NEAR(test::max_abs(arrays().S.data), 102.49, 0.01);
}

TEST_F(AnalogGoldenArray, FirstProductWithinHalfPercentOfMaxS) {
  for (int b = 0; b < 10; ++b) {
    std::vector<float> S(kN * kN);
    auto y = offset_removed(sample(arrays().K, b));
    reference_first_product(S.data(), sample(arrays().Q, b), y.data(), kN, kN, cubic(), 0.0, 1024);
    EXPECT_LE(max_diff(S.data(), sample(arrays().S, b), kN * kN), 0.005 * 102.49) << "sample " << b;
  }
}

TEST_F(AnalogGoldenArray, ChargeToPulseFromStoredS) {
  for (int b = 0; b < 10; ++b) {
    std::vector<float> P(kN * kN);
    reference_charge_to_pulse(P.data(), sample(arrays().S, b), kN * kN, 80.0f);
    EXPECT_LE(max_diff(P.data(), sample(arrays().phi, b), kN * kN), 1e-6) << "sample " << b;
  }
}

TEST_F(AnalogGoldenArray, SecondProductFromStoredPhi) {
  for (int b = 0; b < 10; ++b) {
    std::vector<float> out(kN * kN);
    auto y = offset_removed(sample(arrays().V, b));
    reference_second_product(out.data(), sample(arrays().phi, b), y.data(), kN, kN, cubic(), 0.0, 1024, 64, false,
                             ideal_adc(), 40.0f);
    EXPECT_LE(max_diff(out.data(), sample(arrays().out, b), kN * kN), 5e-3) << "sample " << b;
  }
}

// End to end through the production path (GainCellAttention, quantisers off, no leakage, identity scalers).
TEST_F(AnalogGoldenArray, EndToEndFromQKV) {
  HardwareConfig hw;
  hw.converters.query.enabled = hw.converters.store.enabled = hw.converters.adc.enabled = false;
  hw.leakage.decay_per_token = 0;
  auto m = std::make_shared<GainCellModel>(hw, 1, 1, kN, 1024, false, 0);
  m->scalers(0).k_shift = {0.0f};
  m->scalers(0).v_shift = {0.0f};
  GainCellAttention att(m, false);
  for (int b = 0; b < 10; ++b) {
    std::vector<float> qkv(kN * 3 * kN), out(kN * kN);
    for (int t = 0; t < kN; ++t)
      for (int d = 0; d < kN; ++d) {
        qkv[t * 3 * kN + d] = sample(arrays().Q, b)[t * kN + d];
        qkv[t * 3 * kN + kN + d] = sample(arrays().K, b)[t * kN + d];
        qkv[t * 3 * kN + 2 * kN + d] = sample(arrays().V, b)[t * kN + d];
      }
    att.forward(out.data(), qkv.data(), 1, kN, 0);
    EXPECT_LE(max_diff(out.data(), sample(arrays().out, b), kN * kN), 1e-2) << "sample " << b;
    // phi_S end to end through the reference stages.
    std::vector<float> S(kN * kN), P(kN * kN);
    auto y = offset_removed(sample(arrays().K, b));
    reference_first_product(S.data(), sample(arrays().Q, b), y.data(), kN, kN, cubic(), 0.0, 1024);
    reference_charge_to_pulse(P.data(), S.data(), kN * kN, 80.0f);
    EXPECT_LE(max_diff(P.data(), sample(arrays().phi, b), kN * kN), 6e-3) << "sample " << b;
  }
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
