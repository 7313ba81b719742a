// Kernels against plain references (style R18): matmul (BLAS or naive) against double loops with a derived
// per-element bound, GELU variants against a double-precision GELU, LayerNorm against a double LayerNorm.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "core/rng.h"
#include "expect_close.h"
#include "kernels/dispatch.h"
#include "kernels/ops.h"
#include "kernels/threads.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {

constexpr double kEps = std::numeric_limits<float>::epsilon();  // 2^-23

std::vector<float> random_vector(int64_t n, uint64_t seed, double scale = 1.0) {
  Rng r(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(scale * r.normal());
  return v;
}

// out[n, m] = bias[m] + sum_k x[n, k] w(k, m) in double, with mag = sum of |terms|. A float dot product of K
// terms (any order, FMA or not) errs by at most about K eps mag; the bound is twice that.
// Checked element by element (NaN-aware, tests/expect_close.h); the index reported is n * M + m.
template <typename W>
::testing::AssertionResult check_matmul(const std::vector<float>& out, const std::vector<float>& x, W w,
                                        const float* bias, int64_t N, int64_t K, int64_t M) {
  test::WorstError worst;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t m = 0; m < M; ++m) {
      double acc = bias ? bias[m] : 0.0, mag = std::fabs(acc);
      for (int64_t k = 0; k < K; ++k) {
        const double p = double(x[n * K + k]) * w(k, m);
        acc += p;
        mag += std::fabs(p);
      }
      worst.add(n * M + m, out[n * M + m], acc, 2.0 * (K + 1) * kEps * mag + 1e-30);
    }
  return worst.result();
}

struct MatmulShape {
  int64_t N, K, M;
};
// N = 1 (the decoding gemv path), odd sizes, sizes off the vector width, and one GPT-2 shape beyond a tile.
const MatmulShape kMatmulShapes[] = {{1, 1, 1},   {1, 768, 2304}, {1, 33, 7},     {3, 17, 5},
                                     {7, 33, 65}, {64, 768, 768}, {65, 129, 257}, {5, 3072, 19}};

TEST(Kernels, MatmulForwardMatchesReferenceWithAndWithoutBias) {
  for (const auto& s : kMatmulShapes)
    for (bool with_bias : {true, false}) {
      const auto x = random_vector(s.N * s.K, 1), w = random_vector(s.K * s.M, 2), b = random_vector(s.M, 3);
      std::vector<float> out(s.N * s.M, 123.0f);
      matmul_forward(out.data(), x.data(), w.data(), with_bias ? b.data() : nullptr, s.N, s.K, s.M);
      EXPECT_TRUE(check_matmul(
          out, x, [&](int64_t k, int64_t m) { return w[k * s.M + m]; }, with_bias ? b.data() : nullptr, s.N, s.K, s.M))
          << "N=" << s.N << " K=" << s.K << " M=" << s.M << " bias=" << with_bias;
    }
}

TEST(Kernels, MatmulReferenceMatchesDoubleLoops) {
  const MatmulShape s{3, 17, 5};
  const auto x = random_vector(s.N * s.K, 4), w = random_vector(s.K * s.M, 5), b = random_vector(s.M, 6);
  std::vector<float> out(s.N * s.M);
  matmul_reference(out.data(), x.data(), w.data(), b.data(), s.N, s.K, s.M);
  EXPECT_TRUE(check_matmul(
      out, x, [&](int64_t k, int64_t m) { return w[k * s.M + m]; }, b.data(), s.N, s.K, s.M));
}

TEST(Kernels, MatmulTransposedMatchesReference) {
  for (const auto& s : kMatmulShapes) {
    const auto x = random_vector(s.N * s.K, 7), wt = random_vector(s.M * s.K, 8);  // wt is [M, K]
    std::vector<float> out(s.N * s.M, 123.0f);
    matmul_transposed_forward(out.data(), x.data(), wt.data(), s.N, s.K, s.M);
    EXPECT_TRUE(check_matmul(
        out, x, [&](int64_t k, int64_t m) { return wt[m * s.K + k]; }, nullptr, s.N, s.K, s.M))
        << "N=" << s.N << " K=" << s.K << " M=" << s.M;
  }
}

// Same bits at 1 and 2 threads (style R9), for every matmul entry. Calling OpenBLAS's own threading instead
// fails this at every shape here but the two small decode rows and 3 x 17 x 5 (which never reaches BLAS):
// gemm_deterministic must cut the work by shape alone. Shapes: decode rows (gemv, both orientations, the 50257-token
// lm_head), prompts shorter and longer than a panel, odd sizes.
TEST(Kernels, EveryMatmulIsBitIdenticalAtOneAndTwoThreads) {
  const MatmulShape shapes[] = {{1, 768, 2304},  {1, 3072, 768},  {1, 768, 50257},  {8, 768, 2304},
                                {64, 768, 3072}, {300, 768, 768}, {257, 129, 1000}, {3, 17, 5}};
  auto run = [](int threads, auto&& fn) {
    set_compute_threads(threads);
    auto out = fn();
    set_compute_threads(0);
    return out;
  };
  for (const auto& s : shapes) {
    const auto x = random_vector(s.N * s.K, 9), w = random_vector(s.K * s.M, 10), b = random_vector(s.M, 11);
    auto forward = [&] {
      std::vector<float> out(s.N * s.M);
      matmul_forward(out.data(), x.data(), w.data(), b.data(), s.N, s.K, s.M);
      return out;
    };
    auto transposed = [&] {  // w read as wt [M, K]
      std::vector<float> out(s.N * s.M);
      matmul_transposed_forward(out.data(), x.data(), w.data(), s.N, s.K, s.M);
      return out;
    };
    const std::string shape = std::to_string(s.N) + "x" + std::to_string(s.K) + "x" + std::to_string(s.M);
    EXPECT_TRUE(run(1, forward) == run(2, forward)) << "matmul_forward " << shape;
    EXPECT_TRUE(run(1, transposed) == run(2, transposed)) << "matmul_transposed_forward " << shape;
  }
  // The attention GEMMs with strided rows, called outside any parallel region (no per-head loop around them).
  const int64_t T = 200, D = 64, ld = 3 * D;
  const auto q = random_vector(T * ld, 12), p = random_vector(T * T, 13);
  auto nt = [&] {
    std::vector<float> s(T * T);
    matmul_nt(s.data(), T, q.data(), ld, q.data() + D, ld, T, T, D, 0.125f);
    return s;
  };
  auto nn = [&] {
    std::vector<float> o(T * D);
    matmul_nn(o.data(), D, p.data(), T, q.data() + 2 * D, ld, T, D, T);
    return o;
  };
  EXPECT_TRUE(run(1, nt) == run(2, nt)) << "matmul_nt";
  EXPECT_TRUE(run(1, nn) == run(2, nn)) << "matmul_nn";
}

TEST(Kernels, StridedAttentionGemmsMatchReference) {
  // Q, K, V interleaved in rows of stride ld as in a qkv buffer; odd sizes and one GPT-2 head.
  for (const MatmulShape& s :
       {MatmulShape{1, 1, 1}, MatmulShape{5, 7, 3}, MatmulShape{64, 64, 64}, MatmulShape{33, 65, 17}}) {
    const int64_t M = s.N, K = s.K, N = s.M, ld = 3 * std::max(K, N) + 1, ldc = N + 2;
    const auto a = random_vector(M * ld, 26), b = random_vector(std::max(N, K) * ld, 27);
    std::vector<float> c(M * ldc, 123.0f);
    matmul_nt(c.data(), ldc, a.data(), ld, b.data(), ld, M, N, K, 0.5f);
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double acc = 0, mag = 0;
        for (int64_t k = 0; k < K; ++k) {
          const double p = double(a[i * ld + k]) * b[j * ld + k];
          acc += p;
          mag += std::fabs(p);
        }
        ASSERT_NEAR(c[i * ldc + j], 0.5 * acc, 0.5 * 2 * (K + 1) * kEps * mag) << "nt " << i << "," << j;
      }
    matmul_nn(c.data(), ldc, a.data(), ld, b.data(), ld, M, N, K);
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double acc = 0, mag = 0;
        for (int64_t k = 0; k < K; ++k) {
          const double p = double(a[i * ld + k]) * b[k * ld + j];
          acc += p;
          mag += std::fabs(p);
        }
        ASSERT_NEAR(c[i * ldc + j], acc, 2 * (K + 1) * kEps * mag) << "nn " << i << "," << j;
      }
  }
}

// GELU tanh form in double, written as x / (1 + exp(-2u)) (the same function without cancellation).
double gelu_double(double x, double* t_out) {
  const double u = std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x);
  *t_out = -2.0 * u;
  return x / (1.0 + std::exp(-2.0 * u));
}

// Inputs: a dense sweep of [-12, 12], a log sweep of both signs up to 1e30 (x^3 overflows float), zeros and
// values near the float limits.
std::vector<float> gelu_inputs() {
  std::vector<float> v;
  for (int i = -120000; i <= 120000; ++i) v.push_back(static_cast<float>(i * 1e-4));
  for (double a = 1e-30; a < 1e30; a *= 1.01) {
    v.push_back(static_cast<float>(a));
    v.push_back(static_cast<float>(-a));
  }
  for (float x : {0.0f, -0.0f, 1e-38f, -1e-38f, 3e38f, -3e38f, 9.4f, -9.4f, -9.5f, -88.0f}) v.push_back(x);
  return v;
}

// Relative error bound of GELU: evaluating t = -2u in float errs by about 3 eps |t| (x^2, FMA, product),
// which moves x / (1 + e^t) by up to 3 eps |t| relative; exp (2 ulp), the division and the final rounding add
// about 4 eps. Measured: 2.1 ulp for |t| < 2, 109 ulp at x = -8.94 (t = 65, result 1e-27). An absolute floor
// of 1e-37 max(1, |x|) covers results flushed to zero once they fall below that (x < -9.4).
double gelu_bound(double x, double want, double t) {
  return kEps * std::fabs(want) * (4 + 3 * std::fabs(t)) + 1e-37 * std::max(1.0, std::fabs(x));
}

void expect_gelu_accurate(void (*gelu)(float*, const float*, int64_t), double extra_abs_eps, const char* name) {
  const auto x = gelu_inputs();
  std::vector<float> y(x.size());
  gelu(y.data(), x.data(), static_cast<int64_t>(x.size()));
  test::WorstError worst;
  for (size_t i = 0; i < x.size(); ++i) {
    double t;
    const double want = gelu_double(x[i], &t);
    if (std::fabs(x[i]) > 1e15) t = 0;  // the float path saturates long before; only the flush matters there
    worst.add(int64_t(i), y[i], want, gelu_bound(x[i], want, t) + extra_abs_eps * kEps * std::fabs(x[i]));
  }
  EXPECT_TRUE(worst.result()) << name << ": x = " << x[std::max<int64_t>(worst.index(), 0)];
}

TEST(Kernels, GeluScalarMatchesDoubleReference) {
  // The tanh form loses digits in 1 + tanh(u) for negative x: absolute error up to about eps |x|.
  expect_gelu_accurate(gelu_scalar, 2.0, "scalar");
}

#if GAINCELL_HAVE_AVX2_KERNELS
TEST(Kernels, GeluAvx2MatchesDoubleReferenceWithinUlps) {
  if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) GTEST_SKIP() << "no AVX2+FMA";
  expect_gelu_accurate(gelu_avx2, 0.0, "avx2");
}

TEST(Kernels, GeluAvx2TailAndOddLengthsMatchFullVectors) {
  if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) GTEST_SKIP() << "no AVX2+FMA";
  const auto x = random_vector(37, 12, 3.0);
  std::vector<float> full(x.size());
  gelu_avx2(full.data(), x.data(), static_cast<int64_t>(x.size()));
  for (int64_t n : {1, 7, 8, 9, 15, 17, 37}) {
    std::vector<float> part(n);
    gelu_avx2(part.data(), x.data(), n);
    for (int64_t i = 0; i < n; ++i) EXPECT_EQ(part[i], full[i]) << "n=" << n << " i=" << i;
  }
}
#endif

TEST(Kernels, GeluForwardUsesTheDispatchedKernelInPlace) {
  auto x = random_vector(10001, 13, 2.0);
  std::vector<float> want(x.size());
  kernel_table().gelu(want.data(), x.data(), static_cast<int64_t>(x.size()));
  gelu_forward(x.data(), x.data(), static_cast<int64_t>(x.size()));
  EXPECT_EQ(x, want) << "isa " << kernel_table().isa;
}

// Both table variants (scalar always; AVX2 when built and supported) against double references.
std::vector<const KernelTable*> tables() {
  std::vector<const KernelTable*> t{&scalar_kernel_table()};
  if (std::string(kernel_table().isa) != "scalar") t.push_back(&kernel_table());
  return t;
}

// GELU'(x) in double from the tanh form, for both table variants: within a few float eps of the derivative's
// scale (it lies in [-0.17, 1.13]), at the tails, at odd lengths, and in place (dinp == dout).
TEST(Kernels, GeluBackwardMatchesDoubleReference) {
  auto x = random_vector(4099, 31, 4.0);
  for (float v : {0.0f, -0.0f, 1e-20f, -1e-20f, 5.0f, -5.0f, 9.5f, -9.5f, 30.0f, -30.0f, 1e5f, -1e5f}) x.push_back(v);
  const auto dout = random_vector(static_cast<int64_t>(x.size()), 32, 2.0);
  const double k = std::sqrt(2.0 / M_PI);
  for (const KernelTable* t : tables()) {
    std::vector<float> d(x.size());
    t->gelu_backward(d.data(), x.data(), dout.data(), static_cast<int64_t>(x.size()));
    test::WorstError worst;  // relative to |dout|
    for (size_t i = 0; i < x.size(); ++i) {
      const double xi = x[i], th = std::tanh(k * (xi + 0.044715 * xi * xi * xi));
      const double g = 0.5 * (1 + th) + 0.5 * xi * (1 - th * th) * k * (1 + 3 * 0.044715 * xi * xi);
      worst.add(int64_t(i), d[i], g * dout[i], 8 * kEps * (std::fabs(dout[i]) + 1e-30));
    }
    EXPECT_TRUE(worst.result()) << t->isa << " x = " << x[std::max<int64_t>(worst.index(), 0)];
    std::vector<float> in_place = dout;
    for (int64_t n : {1, 7, 9, 4111}) {
      in_place.assign(dout.begin(), dout.end());
      t->gelu_backward(in_place.data(), x.data(), in_place.data(), n);
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(in_place[i], d[i]) << t->isa << " n=" << n << " i=" << i;
    }
  }
}

TEST(Kernels, SoftmaxRowMatchesDoubleReference) {
  for (const KernelTable* t : tables())
    for (int64_t n : {1, 3, 8, 17, 1024, 1031}) {
      auto x = random_vector(n, 21, 8.0);
      if (n > 3) x[2] = -200.0f;  // far below the max: exp underflows
      std::vector<double> want(n);
      double mx = -INFINITY, sum = 0;
      for (float v : x) mx = std::max(mx, double(v));
      for (int64_t i = 0; i < n; ++i) sum += (want[i] = std::exp(x[i] - mx));
      t->softmax_row(x.data(), n);
      double total = 0;
      for (int64_t i = 0; i < n; ++i) {
        want[i] /= sum;
        total += x[i];
        // exp within 2 ulp plus a sum of n terms: relative 4 eps + n eps on each probability.
        ASSERT_NEAR(x[i], want[i], (4 + n) * kEps * want[i] + 1e-37) << t->isa << " n=" << n << " i=" << i;
      }
      EXPECT_NEAR(total, 1.0, (4 + n) * kEps) << t->isa << " n=" << n;
    }
}

TEST(Kernels, AttentionScoresAndMixMatchDoubleReference) {
  for (const KernelTable* t : tables())
    for (int64_t D : {1, 7, 8, 16, 33, 64, 100})
      for (int64_t n : {1, 5, 129}) {
        const auto q = random_vector(D, 22), k = random_vector(n * D, 23), v = random_vector(n * D, 24);
        const auto p = random_vector(n, 25);
        std::vector<float> s(n), o(D, 123.0f);
        t->attention_scores(s.data(), q.data(), k.data(), n, D, 0.125f);
        t->attention_mix(o.data(), p.data(), v.data(), n, D);
        for (int64_t j = 0; j < n; ++j) {
          double a = 0, mag = 0;
          for (int64_t d = 0; d < D; ++d) a += double(q[d]) * k[j * D + d], mag += std::fabs(q[d] * k[j * D + d]);
          ASSERT_NEAR(s[j], 0.125 * a, 0.125 * 2 * (D + 1) * kEps * mag) << t->isa << " D=" << D << " j=" << j;
        }
        for (int64_t d = 0; d < D; ++d) {
          double a = 0, mag = 0;
          for (int64_t j = 0; j < n; ++j) a += double(p[j]) * v[j * D + d], mag += std::fabs(p[j] * v[j * D + d]);
          ASSERT_NEAR(o[d], a, 2 * (n + 1) * kEps * mag) << t->isa << " n=" << n << " d=" << d;
        }
      }
}

TEST(Kernels, LayerNormMatchesDoubleReference) {
  for (int64_t C : {1, 7, 768, 1025}) {
    const int64_t N = 5;
    const auto x = random_vector(N * C, 14, 3.0), w = random_vector(C, 15), b = random_vector(C, 16);
    std::vector<float> out(N * C), mean(N), rstd(N);
    layernorm_forward(out.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), N, C, 1e-5f);
    for (int64_t n = 0; n < N; ++n) {
      double m = 0, v = 0;
      for (int64_t c = 0; c < C; ++c) m += x[n * C + c];
      m /= C;
      for (int64_t c = 0; c < C; ++c) v += (x[n * C + c] - m) * (x[n * C + c] - m);
      const double s = 1.0 / std::sqrt(v / C + 1e-5);
      EXPECT_NEAR(mean[n], m, 4 * C * kEps * 3.0) << "C=" << C;
      EXPECT_NEAR(rstd[n], s, 4 * C * kEps * s) << "C=" << C;
      for (int64_t c = 0; c < C; ++c) {
        const double want = (x[n * C + c] - m) * s * w[c] + b[c];
        // Normalised values are O(few); error grows with the C-term sums of mean and variance.
        const double bound = 4 * (C + 4) * kEps * (std::fabs(want) + std::fabs(b[c]) + 1.0);
        ASSERT_NEAR(out[n * C + c], want, bound) << "C=" << C << " n=" << n << " c=" << c;
      }
    }
  }
}

TEST(Kernels, ResidualAndEmbeddingAreExactSums) {
  const auto a = random_vector(9000, 17), b = random_vector(9000, 18);
  std::vector<float> out(9000);
  residual_forward(out.data(), a.data(), b.data(), 9000);
  for (int i = 0; i < 9000; ++i) ASSERT_EQ(out[i], a[i] + b[i]);
  const int64_t V = 5, P = 4, C = 3;
  const auto wte = random_vector(V * C, 19), wpe = random_vector(P * C, 20);
  const int32_t tokens[2] = {4, 1};
  std::vector<float> e(2 * C);
  embedding_forward(e.data(), tokens, wte.data(), wpe.data(), 1, 2, C, 2);
  for (int t = 0; t < 2; ++t)
    for (int c = 0; c < C; ++c) EXPECT_EQ(e[t * C + c], wte[tokens[t] * C + c] + wpe[(2 + t) * C + c]);
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
