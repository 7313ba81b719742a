// Finite-difference checks of every backward kernel and of the digital attention backends' backward().
// The scalar loss is L = sum_i out_i * r_i with fixed random r (accumulated in double); the forward runs in
// float, so central differences use steps of 1e-2 (the truncation error is O(h^2) ~ 1e-4 relative, while the
// float rounding error of L divided by 2h stays ~1e-5): agreement within 2e-3 relative + 2e-4 absolute.
// Non-smooth points: none of these ops has a kink except softmax masks, which are fixed by position.
#include "kernels/backward.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <vector>

#include "fd_check.h"
#include "kernels/ops.h"
#include "kernels/threads.h"
#include "model/attention.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {

using test::dot;
using test::fd_check;
using test::randn;

TEST(Backward, Matmul) {
  const int64_t N = 3, K = 4, M = 5;
  auto inp = randn(N * K, 1), w = randn(K * M, 2), b = randn(M, 3), r = randn(N * M, 4);
  std::vector<float> out(N * M);
  auto loss = [&] {
    matmul_forward(out.data(), inp.data(), w.data(), b.data(), N, K, M);
    return dot(out, r);
  };
  std::vector<float> dinp(N * K, 7.0f), dw(K * M, 0.0f), db(M, 0.0f);  // dinp is written, not accumulated
  matmul_backward(dinp.data(), dw.data(), db.data(), r.data(), inp.data(), w.data(), N, K, M);
  fd_check("dinp", loss, inp, dinp);
  fd_check("dweight", loss, w, dw);
  fd_check("dbias", loss, b, db);
  // Parameter gradients accumulate.
  std::vector<float> dw2 = dw, db2 = db;
  matmul_backward(nullptr, dw2.data(), db2.data(), r.data(), inp.data(), w.data(), N, K, M);
  for (size_t i = 0; i < dw.size(); ++i) EXPECT_FLOAT_EQ(dw2[i], 2 * dw[i]);
  for (size_t i = 0; i < db.size(); ++i) EXPECT_FLOAT_EQ(db2[i], 2 * db[i]);
}

TEST(Backward, MatmulTransposed) {
  const int64_t N = 3, C = 4, V = 6;
  auto inp = randn(N * C, 5), wt = randn(V * C, 6), r = randn(N * V, 7);
  std::vector<float> out(N * V);
  auto loss = [&] {
    matmul_transposed_forward(out.data(), inp.data(), wt.data(), N, C, V);
    return dot(out, r);
  };
  std::vector<float> dinp(N * C), dwt(V * C, 0.0f);
  matmul_transposed_backward(dinp.data(), dwt.data(), r.data(), inp.data(), wt.data(), N, C, V);
  fd_check("dinp", loss, inp, dinp);
  fd_check("dwt", loss, wt, dwt);
}

TEST(Backward, Layernorm) {
  const int64_t N = 3, C = 8;
  auto inp = randn(N * C, 8), w = randn(C, 9), b = randn(C, 10), r = randn(N * C, 11);
  std::vector<float> out(N * C), mean(N), rstd(N);
  auto loss = [&] {
    layernorm_forward(out.data(), mean.data(), rstd.data(), inp.data(), w.data(), b.data(), N, C, 1e-5f);
    return dot(out, r);
  };
  loss();
  std::vector<float> dinp(N * C, 0.0f), dw(C, 0.0f), db(C, 0.0f);
  layernorm_backward(dinp.data(), dw.data(), db.data(), r.data(), inp.data(), w.data(), mean.data(), rstd.data(), N, C);
  fd_check("dinp", loss, inp, dinp);
  fd_check("dweight", loss, w, dw);
  fd_check("dbias", loss, b, db);
}

TEST(Backward, Gelu) {
  const int64_t n = 40;
  auto inp = randn(n, 12, 2.0f), r = randn(n, 13);
  std::vector<float> out(n), d(n);
  auto loss = [&] {
    gelu_forward(out.data(), inp.data(), n);
    return dot(out, r);
  };
  gelu_backward(d.data(), inp.data(), r.data(), n);
  fd_check("dinp", loss, inp, d);
}

TEST(Backward, ResidualAccumulates) {
  std::vector<float> da = {1, 2}, db = {0, 0}, dout = {0.5f, -1};
  residual_backward(da.data(), db.data(), dout.data(), 2);
  EXPECT_FLOAT_EQ(da[0], 1.5f);
  EXPECT_FLOAT_EQ(da[1], 1.0f);
  EXPECT_FLOAT_EQ(db[0], 0.5f);
  EXPECT_FLOAT_EQ(db[1], -1.0f);
}

TEST(Backward, EmbeddingSumsRepeatedTokens) {
  const int64_t B = 2, T = 3, C = 2, V = 5;
  const std::vector<int32_t> tokens = {4, 1, 4, 1, 0, 4};
  auto wte = randn(V * C, 14), wpe = randn(T * C, 15), r = randn(B * T * C, 16);
  std::vector<float> out(B * T * C);
  auto loss = [&] {
    embedding_forward(out.data(), tokens.data(), wte.data(), wpe.data(), B, T, C, 0);
    return dot(out, r);
  };
  std::vector<float> dwte(V * C, 0.0f), dwpe(T * C, 0.0f);
  embedding_backward(dwte.data(), dwpe.data(), r.data(), tokens.data(), B, T, C, V);
  fd_check("dwte", loss, wte, dwte);
  fd_check("dwpe", loss, wpe, dwpe);
  for (int c = 0; c < C; ++c) {  // token 4 at rows 0, 2, 5; tokens 2 and 3 unused
    EXPECT_FLOAT_EQ(dwte[4 * C + c], (r[0 * C + c] + r[2 * C + c]) + r[5 * C + c]);
    EXPECT_EQ(dwte[2 * C + c], 0.0f);
    EXPECT_EQ(dwte[3 * C + c], 0.0f);
  }
}

TEST(Backward, CrossEntropy) {
  const int64_t N = 3, V = 7;
  auto logits = randn(N * V, 17, 2.0f);
  const std::vector<int32_t> targets = {0, 6, 3};
  std::vector<float> work(N * V), losses(N);
  auto loss = [&] {
    work = logits;
    crossentropy_forward(losses.data(), work.data(), targets.data(), N, V);
    double s = 0;
    for (float l : losses) s += l;
    return s / N;
  };
  const double l0 = loss();
  double ref = 0;  // -log softmax in double
  for (int64_t n = 0; n < N; ++n) {
    double z = 0;
    for (int64_t v = 0; v < V; ++v) z += std::exp(double(logits[n * V + v]));
    ref += std::log(z) - logits[n * V + targets[n]];
  }
  EXPECT_NEAR(l0, ref / N, 1e-6);
  std::vector<float> d(N * V);
  crossentropy_softmax_backward(d.data(), work.data(), targets.data(), 1.0f / N, N, V);
  fd_check("dlogits", loss, logits, d);
  // The fused form gives the same losses and gradients (up to rounding).
  std::vector<float> fused = logits, fused_losses(N);
  crossentropy_fused(fused_losses.data(), fused.data(), targets.data(), 1.0f / N, N, V);
  loss();
  for (int64_t n = 0; n < N; ++n) EXPECT_NEAR(fused_losses[n], losses[n], 1e-6);
  for (size_t i = 0; i < d.size(); ++i) EXPECT_NEAR(fused[i], d[i], 1e-7);
}

void check_attention(const std::string& kind, int window) {
  register_digital_attention();
  set_compute_threads(1);  // hundreds of tiny forwards: parallel regions would dominate on a loaded machine
  const int B = 2, T = 5, H = 2, D = 3;
  const int64_t C = H * D;
  AttentionContext ctx;
  ctx.n_layer = 1;
  ctx.n_head = H;
  ctx.head_dim = D;
  ctx.n_positions = 16;
  ctx.window = window;
  auto att = attention_registry().create(kind, ctx);
  auto qkv = randn(B * T * 3 * C, 18), r = randn(B * T * C, 19);
  std::vector<float> out(B * T * C);
  auto loss = [&] {
    att->forward(out.data(), qkv.data(), B, T, 0);
    return dot(out, r);
  };
  std::vector<float> dqkv(B * T * 3 * C, 9.0f);
  att->backward(dqkv.data(), r.data(), qkv.data(), B, T, 0);
  fd_check(kind.c_str(), loss, qkv, dqkv);
  EXPECT_TRUE(att->parameters().empty());
  set_compute_threads(0);
}

TEST(Backward, SoftmaxAttention) {
  check_attention("softmax", 0);
}
TEST(Backward, SlidingAttention) {
  check_attention("sliding", 2);
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
