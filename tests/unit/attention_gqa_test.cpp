// Grouped-query attention through the view contract: every backend run with H_kv < H equals the same backend
// run with each KV head repeated for its query heads (H_kv = H), bit for bit, in the training form, its
// backward (KV gradients summed over the group) and the streaming decoder.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "analog/register.h"
#include "core/error.h"
#include "expect_close.h"
#include "model/attention.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {

constexpr int kB = 2, kT = 12, kH = 4, kHkv = 2, kD = 64, kWindow = 8;

AttentionContext context(int n_kv_head) {
  AttentionContext ctx;
  ctx.n_layer = 1;
  ctx.n_head = kH;
  ctx.n_kv_head = n_kv_head;
  ctx.head_dim = kD;
  ctx.n_positions = 32;
  ctx.window = kWindow;  // the windowed backends wrap within kT tokens
  ctx.seed = 3;
  return ctx;
}

// Fused rows [q (H D) | k (Hkv D) | v (Hkv D)] and the same with every KV head repeated G times.
struct Inputs {
  std::vector<float> gqa, repeated;
};

Inputs make_inputs(int rows) {
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.0f, 0.6f);
  const int G = kH / kHkv, wg = (kH + 2 * kHkv) * kD, wr = 3 * kH * kD;
  Inputs in;
  in.gqa.resize(size_t(rows) * wg);
  for (float& x : in.gqa) x = nd(rng);
  in.repeated.resize(size_t(rows) * wr);
  for (int r = 0; r < rows; ++r) {
    const float* g = &in.gqa[size_t(r) * wg];
    float* o = &in.repeated[size_t(r) * wr];
    std::memcpy(o, g, kH * kD * sizeof(float));
    for (int h = 0; h < kH; ++h) {
      std::memcpy(o + (kH + h) * kD, g + (kH + h / G) * kD, kD * sizeof(float));
      std::memcpy(o + (2 * kH + h) * kD, g + (kH + kHkv + h / G) * kD, kD * sizeof(float));
    }
  }
  return in;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

class Gqa : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    register_digital_attention();
    register_analog_attention();
  }
};

TEST_P(Gqa, ForwardEqualsRepeatedKvHeads) {
  const Inputs in = make_inputs(kB * kT);
  auto a = attention_registry().create(GetParam(), context(kHkv));
  auto r = attention_registry().create(GetParam(), context(kH));
  std::vector<float> oa(size_t(kB) * kT * kH * kD), orep(oa.size());
  a->forward(oa.data(), in.gqa.data(), kB, kT, 0);
  r->forward(orep.data(), in.repeated.data(), kB, kT, 0);
  double energy = 0;
  for (float x : oa) energy += double(x) * x;
  EXPECT_TRUE(energy > 1e-3) << "outputs are all zero: the comparison would be empty";
  EXPECT_TRUE(same_bits(oa, orep));
}

TEST_P(Gqa, DecoderEqualsRepeatedKvHeads) {
  const Inputs in = make_inputs(kT * kB);  // step t: rows t * B + b
  auto a = attention_registry().create(GetParam(), context(kHkv));
  auto r = attention_registry().create(GetParam(), context(kH));
  auto ca = a->make_cache(0, kB, kT), cr = r->make_cache(0, kB, kT);
  const size_t wg = (kH + 2 * kHkv) * kD, wr = 3 * kH * kD, out = size_t(kB) * kH * kD;
  std::vector<float> oa(out), orep(out);
  for (int t = 0; t < kT; ++t) {
    ca->step(oa.data(), &in.gqa[t * kB * wg]);
    cr->step(orep.data(), &in.repeated[t * kB * wr]);
    ASSERT_TRUE(same_bits(oa, orep)) << "step " << t;
  }
  EXPECT_EQ(ca->position(), kT);
}

// Backward: dq equal, and the KV gradients of the GQA run equal the repeated run's summed over each group
// (in head order, as the backends add them).
TEST_P(Gqa, BackwardSumsTheGroupsKvGradients) {
  const std::string name = GetParam();
  const Inputs in = make_inputs(kB * kT);
  auto a = attention_registry().create(name, context(kHkv));
  auto r = attention_registry().create(name, context(kH));
  const int G = kH / kHkv, wg = (kH + 2 * kHkv) * kD, wr = 3 * kH * kD, rows = kB * kT;
  std::vector<float> dout(size_t(rows) * kH * kD);
  std::mt19937 rng(11);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (float& x : dout) x = nd(rng);
  std::vector<float> ga(size_t(rows) * wg), gr(size_t(rows) * wr);
  a->backward(ga.data(), dout.data(), in.gqa.data(), kB, kT, 0);
  r->backward(gr.data(), dout.data(), in.repeated.data(), kB, kT, 0);
  double worst = 0;
  bool finite = true;
  for (int row = 0; row < rows; ++row)
    for (int h = 0; h < kH; ++h)
      for (int d = 0; d < kD; ++d) {
        float x = ga[size_t(row) * wg + h * kD + d], y = gr[size_t(row) * wr + h * kD + d];
        finite = finite && std::isfinite(x);
        EXPECT_EQ(x, y);
      }
  for (int row = 0; row < rows; ++row)
    for (int part = 1; part <= 2; ++part)
      for (int g = 0; g < kHkv; ++g)
        for (int d = 0; d < kD; ++d) {
          float sum = 0.0f;
          for (int j = 0; j < G; ++j) sum += gr[size_t(row) * wr + (part * kH + g * G + j) * kD + d];
          float x = ga[size_t(row) * wg + (kH + (part - 1) * kHkv + g) * kD + d];
          finite = finite && std::isfinite(x);
          worst = test::nan_max(worst, double(std::fabs(x - sum)));
        }
  EXPECT_TRUE(finite);
  EXPECT_TRUE(worst <= 1e-6) << worst;
}

INSTANTIATE_TEST_SUITE_P(Backends, Gqa,
                         ::testing::Values("softmax", "sliding", "hardsigmoid", "gaincell-linear", "gaincell"),
                         [](const auto& info) {
                           std::string s = info.param;
                           for (char& c : s)
                             if (c == '-') c = '_';
                           return s;
                         });

TEST(GqaContract, RejectsKvHeadsNotDividingHeads) {
  register_digital_attention();
  register_analog_attention();
  AttentionContext ctx = context(3);
  EXPECT_THROW(attention_registry().create("hardsigmoid", ctx), Error);
  EXPECT_THROW(attention_registry().create("gaincell", ctx), Error);
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
