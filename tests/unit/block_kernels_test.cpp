// Kernels of the Llama-family block against their naive double-precision references: RMSNorm, rotary
// embedding (both pair orders), SwiGLU, exact GELU, and the transposed Linear GEMM.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/block_ops.h"
#include "kernels/ops.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {

std::vector<float> randn(size_t n, int seed, float sd = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, sd);
  std::vector<float> v(n);
  for (float& x : v) x = nd(rng);
  return v;
}

// Largest |a - b| relative to max(1, |b|); NaN when either holds a NaN.
double max_rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    double d = std::fabs(double(a[i]) - b[i]) / std::max(1.0, std::fabs(double(b[i])));
    if (std::isnan(d)) return d;
    m = std::max(m, d);
  }
  return a.size() == b.size() ? m : NAN;
}

TEST(BlockKernels, RmsNormMatchesReference) {
  const int N = 7, C = 96;
  auto x = randn(N * C, 1, 3.0f), w = randn(C, 2);
  std::vector<float> out(N * C), ref(N * C), rstd(N);
  rmsnorm_forward(out.data(), rstd.data(), x.data(), w.data(), N, C, 1e-5f);
  rmsnorm_reference(ref.data(), x.data(), w.data(), N, C, 1e-5f);
  EXPECT_TRUE(max_rel_diff(out, ref) <= 1e-6) << max_rel_diff(out, ref);
  double ss = 0;
  for (int c = 0; c < C; ++c) ss += double(x[c]) * x[c];
  EXPECT_NEAR(rstd[0], 1.0 / std::sqrt(ss / C + 1e-5), 1e-6);
}

class Rope : public ::testing::TestWithParam<bool> {};

TEST_P(Rope, MatchesReferenceOnStridedHeads) {
  const bool half = GetParam();
  const int N = 5, H = 3, D = 16, ld = H * D + 8;  // rows wider than the heads: a view into fused rows
  std::vector<int64_t> pos = {0, 1, 7, 300, 2047};
  auto x = randn(N * ld, 3), ref = x;
  std::vector<float> c(N * D / 2), s(N * D / 2);
  rope_tables(c.data(), s.data(), pos.data(), N, D, 10000.0);
  rope_forward(x.data(), ld, D, H, D, c.data(), s.data(), N, half);
  rope_reference(ref.data(), ld, D, H, D, pos.data(), N, 10000.0, half);
  // float angles of positions up to 2047: |error| ~ pos * 2^-24 radians
  EXPECT_TRUE(max_rel_diff(x, ref) <= 5e-4) << max_rel_diff(x, ref);
  auto orig = randn(N * ld, 3);
  for (int h = 0; h < H; ++h)
    for (int d = 0; d < D; ++d) EXPECT_EQ(x[h * D + d], orig[h * D + d]);  // position 0: identity
  for (int n = 0; n < N; ++n)
    for (int d = H * D; d < ld; ++d) EXPECT_EQ(x[n * ld + d], orig[n * ld + d]);  // outside the heads: untouched
}

TEST_P(Rope, PairOrdersRotateDifferentPairs) {
  const int D = 8;
  std::vector<float> a(D), b;
  for (int d = 0; d < D; ++d) a[d] = float(d + 1);
  b = a;
  std::vector<int64_t> pos = {1};
  std::vector<float> c(D / 2), s(D / 2);
  rope_tables(c.data(), s.data(), pos.data(), 1, D, 10000.0);
  rope_forward(a.data(), D, D, 1, D, c.data(), s.data(), 1, true);
  rope_forward(b.data(), D, D, 1, D, c.data(), s.data(), 1, false);
  // Pair 0 turns by 1 radian in both orders: half-split pairs (x0, x4), interleaved (x0, x1).
  EXPECT_NEAR(a[0], 1.0 * std::cos(1.0) - 5.0 * std::sin(1.0), 1e-6);
  EXPECT_NEAR(b[0], 1.0 * std::cos(1.0) - 2.0 * std::sin(1.0), 1e-6);
  EXPECT_NEAR(b[1], 2.0 * std::cos(1.0) + 1.0 * std::sin(1.0), 1e-6);
}

INSTANTIATE_TEST_SUITE_P(PairOrders, Rope, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "HalfSplit" : "Interleaved"; });

TEST(BlockKernels, SwigluAndExactGeluMatchReferences) {
  const int n = 10000;
  auto g = randn(n, 4, 4.0f), u = randn(n, 5);
  std::vector<float> out(n), ref(n);
  swiglu_forward(out.data(), g.data(), u.data(), n);
  swiglu_reference(ref.data(), g.data(), u.data(), n);
  EXPECT_TRUE(max_rel_diff(out, ref) <= 1e-6) << max_rel_diff(out, ref);
  gelu_erf_forward(out.data(), g.data(), n);
  gelu_erf_reference(ref.data(), g.data(), n);
  EXPECT_TRUE(max_rel_diff(out, ref) <= 1e-6) << max_rel_diff(out, ref);
  float x = 1.0f, y;
  gelu_erf_forward(&y, &x, 1);
  EXPECT_NEAR(y, 0.8413447460685429, 1e-7);  // 0.5 (1 + erf(1/sqrt 2))
}

TEST(BlockKernels, TransposedLinearMatchesReference) {
  const int N = 3, K = 40, M = 24, ldo = M + 5;
  auto x = randn(N * K, 6), w_out_in = randn(M * K, 7), bias = randn(M, 8);
  std::vector<float> w_in_out(K * M);
  for (int m = 0; m < M; ++m)
    for (int k = 0; k < K; ++k) w_in_out[k * M + m] = w_out_in[m * K + k];
  std::vector<float> out(N * ldo, -7.0f), ref(N * M), got(N * M);
  linear_forward(out.data(), ldo, x.data(), w_out_in.data(), bias.data(), N, K, M, true);
  matmul_reference(ref.data(), x.data(), w_in_out.data(), bias.data(), N, K, M);
  for (int n = 0; n < N; ++n)
    for (int m = 0; m < M; ++m) got[n * M + m] = out[n * ldo + m];
  EXPECT_TRUE(max_rel_diff(got, ref) <= 1e-5) << max_rel_diff(got, ref);
  for (int n = 0; n < N; ++n)
    for (int m = M; m < ldo; ++m) EXPECT_EQ(out[n * ldo + m], -7.0f);  // the stride's gap untouched
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
