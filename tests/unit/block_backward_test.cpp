// Finite-difference checks of the Llama-family backward kernels (kernels/backward.h): RMSNorm, rotary embedding
// in both pair orders, SwiGLU, exact GELU and linear_backward (both weight layouts, strided rows, accumulated
// input gradient). As backward_test.cpp: L = sum_i out_i r_i with fixed random r, central differences with
// step 1e-2, agreement within 2e-3 relative + 2e-4 absolute.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <vector>

#include "fd_check.h"
#include "kernels/backward.h"
#include "kernels/block_ops.h"
#include "kernels/ops.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {

using test::dot;
using test::fd_check;
using test::randn;

TEST(BlockBackward, RmsnormAccumulatesInputAndWeightGradients) {
  const int64_t N = 3, C = 8;
  auto inp = randn(N * C, 21), w = randn(C, 22), r = randn(N * C, 23);
  std::vector<float> out(N * C), rstd(N);
  auto loss = [&] {
    rmsnorm_forward(out.data(), rstd.data(), inp.data(), w.data(), N, C, 1e-5f);
    return dot(out, r);
  };
  loss();
  std::vector<float> dinp(N * C, 0.5f), dw(C, 0.25f);  // both accumulate onto what is there
  rmsnorm_backward(dinp.data(), dw.data(), r.data(), inp.data(), w.data(), rstd.data(), N, C);
  for (float& d : dinp) d -= 0.5f;
  for (float& d : dw) d -= 0.25f;
  fd_check("dinp", loss, inp, dinp);
  fd_check("dweight", loss, w, dw);
}

class RopeBackward : public ::testing::TestWithParam<bool> {};

// Two heads of D = 8 in rows of 20 floats (head stride 9: the kernel must touch only its pairs), positions
// 0..N-1 as in a sequence; the gradient is the inverse rotation, in place.
TEST_P(RopeBackward, IsTheInverseRotation) {
  const bool half = GetParam();
  const int64_t N = 5, D = 8, H = 2, row = 20, hs = 9;
  std::vector<int64_t> pos(N);
  for (int64_t n = 0; n < N; ++n) pos[n] = n + 3;
  std::vector<float> cos(N * D / 2), sin(N * D / 2);
  rope_tables(cos.data(), sin.data(), pos.data(), N, D, 10000.0);
  auto x = randn(N * row, 24), r = randn(N * row, 25);
  std::vector<float> y(N * row);
  auto loss = [&] {
    y = x;
    rope_forward(y.data(), row, hs, H, D, cos.data(), sin.data(), N, half);
    return dot(y, r);
  };
  std::vector<float> dx = r;
  rope_backward(dx.data(), row, hs, H, D, cos.data(), sin.data(), N, half);
  fd_check("dx", loss, x, dx);
  // Values outside the heads pass through: their gradient is r itself.
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = hs + D; c < row; ++c) EXPECT_EQ(dx[n * row + c], r[n * row + c]);
}

INSTANTIATE_TEST_SUITE_P(PairOrders, RopeBackward, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "HalfSplit" : "Interleaved"; });

TEST(BlockBackward, SwigluGateAndUp) {
  const int64_t n = 40;
  auto gate = randn(n, 26, 2.0f), up = randn(n, 27), r = randn(n, 28);
  std::vector<float> out(n);
  auto loss = [&] {
    swiglu_forward(out.data(), gate.data(), up.data(), n);
    return dot(out, r);
  };
  std::vector<float> dgate(n), dup(n);
  swiglu_backward(dgate.data(), dup.data(), r.data(), gate.data(), up.data(), n);
  fd_check("dgate", loss, gate, dgate);
  fd_check("dup", loss, up, dup);
  // In place over dout (as the training backward runs it): the same values.
  std::vector<float> d2 = r, dg2(n);
  swiglu_backward(dg2.data(), d2.data(), d2.data(), gate.data(), up.data(), n);
  for (int64_t i = 0; i < n; ++i) {
    EXPECT_EQ(d2[i], dup[i]);
    EXPECT_EQ(dg2[i], dgate[i]);
  }
}

TEST(BlockBackward, GeluErf) {
  const int64_t n = 40;
  auto inp = randn(n, 29, 2.0f), r = randn(n, 30);
  std::vector<float> out(n), d(n);
  auto loss = [&] {
    gelu_erf_forward(out.data(), inp.data(), n);
    return dot(out, r);
  };
  gelu_erf_backward(d.data(), inp.data(), r.data(), n);
  fd_check("dinp", loss, inp, d);
}

class LinearBackward : public ::testing::TestWithParam<bool> {};

// Two projections of one input into the columns of one strided output (as q and k into fused rows): the input
// gradient of the second accumulates onto the first's.
TEST_P(LinearBackward, StridedRowsAndAccumulatedInputGradient) {
  const bool out_in = GetParam();
  const int64_t N = 3, K = 4, M1 = 5, M2 = 3, ld = M1 + M2 + 2;
  auto inp = randn(N * K, 31), w1 = randn(K * M1, 32), b1 = randn(M1, 33), w2 = randn(K * M2, 34), b2 = randn(M2, 35),
       r = randn(N * ld, 36);
  std::vector<float> out(N * ld, 0.0f);
  auto loss = [&] {
    linear_forward(out.data(), ld, inp.data(), w1.data(), b1.data(), N, K, M1, out_in);
    linear_forward(out.data() + M1, ld, inp.data(), w2.data(), b2.data(), N, K, M2, out_in);
    return dot(out, r);
  };
  std::vector<float> dinp(N * K, 7.0f), dw1(K * M1, 0.0f), db1(M1, 0.0f), dw2(K * M2, 0.0f), db2(M2, 0.0f);
  linear_backward(dinp.data(), dw1.data(), db1.data(), r.data(), ld, inp.data(), w1.data(), N, K, M1, out_in, false);
  linear_backward(dinp.data(), dw2.data(), db2.data(), r.data() + M1, ld, inp.data(), w2.data(), N, K, M2, out_in,
                  true);
  fd_check("dinp", loss, inp, dinp);
  fd_check("dweight1", loss, w1, dw1);
  fd_check("dbias1", loss, b1, db1);
  fd_check("dweight2", loss, w2, dw2);
  fd_check("dbias2", loss, b2, db2);
}

INSTANTIATE_TEST_SUITE_P(Layouts, LinearBackward, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "OutIn" : "InOut"; });

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
