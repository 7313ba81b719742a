// Gain-cell backward vs PyTorch autograd (tools/train_reference/gaincell_grad_ref.py, float64 from float32
// inputs): gaincell-linear with straight-through quantisers and gaincell with the surrogate gradient of
// paper-spec §2.7. The goldens' inputs keep every quantiser input, S / 80 and A / 40 at least 1e-5 from a
// rounding boundary or clip edge, so float32 takes the same branches; what remains is float32 accumulation
// (the script's own float32 re-run differs by < 1e-6), hence a tolerance of 1e-5 x max|grad|.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>

#include "analog/gaincell_attention.h"
#include "analog_npy.h"
#include "expect_close.h"
#include "test_paths.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {

constexpr int kT = 80, kH = 2, kD = 16, kC = kH * kD, kWindow = 72;

void expect_close(const std::vector<float>& got, const std::vector<float>& want, const char* what) {
  const double scale = test::max_abs(want);
  EXPECT_TRUE(test::all_within(got, want, 1e-5 * scale)) << what << " (max |grad| " << scale << ")";
}

void check_case(bool linear, const std::string& prefix) {
  using test::data_path;
  auto qkv = test::load_npy_f32(data_path("attention_grad/qkv.npy"));
  auto dout = test::load_npy_f32(data_path("attention_grad/dout.npy"));
  auto want = test::load_npy_f32(data_path("attention_grad/" + prefix + "_dqkv.npy"));
  auto want_sc = test::load_npy_f32(data_path("attention_grad/" + prefix + "_scalers.npy"));
  ASSERT_EQ(qkv.data.size(), size_t(kT) * 3 * kC);
  HardwareConfig hw;
  hw.leakage.decay_per_token = 2e-3;
  GainCellAttention att(std::make_shared<GainCellModel>(hw, 1, kH, kD, kWindow, linear, 0), linear);
  const float a[4][2] = {{0.75f, 1.25f}, {0.875f, 1.125f}, {1.0625f, 0.8125f}, {0.5f, 1.5f}};
  const float b[4][2] = {{0.125f, -0.0625f}, {0.4375f, 0.5f}, {0.375f, 0.46875f}, {0.25f, -0.125f}};
  LayerScalers& s = att.model().scalers(0);
  for (int k = 0; k < kNumScalers; ++k)
    for (int h = 0; h < kH; ++h) {
      scaler_scale(s, k)[h] = a[k][h];
      scaler_shift(s, k)[h] = b[k][h];
    }
  std::vector<float> dqkv(qkv.data.size());
  att.backward(dqkv.data(), dout.data.data(), qkv.data.data(), 1, kT, 0);
  expect_close(dqkv, want.data, (prefix + " dqkv").c_str());
  std::vector<ParamView> p = att.parameters();  // q.scale, q.shift, ..., out.shift: the golden's rows
  std::vector<float> got_sc;
  for (auto& v : p) got_sc.insert(got_sc.end(), v.grad, v.grad + kH);
  for (size_t e = 0; e < got_sc.size(); ++e)
    EXPECT_NEAR(got_sc[e], want_sc.data[e], 1e-5 * (1 + std::fabs(want_sc.data[e])))
        << prefix << " " << p[e / kH].name << " head " << e % kH;
}

TEST(AnalogGradParity, GaincellLinearStraightThroughMatchesAutograd) {
  check_case(true, "linear_ste");
}

TEST(AnalogGradParity, GaincellSurrogateMatchesAutograd) {
  check_case(false, "surrogate");
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
