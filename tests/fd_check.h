// Finite-difference helpers of the backward tests (tests/unit/backward_test.cpp, block_backward_test.cpp): the
// scalar loss is L = sum_i out_i * r_i with fixed random r, accumulated in double; fd_check compares an analytic
// gradient with central differences, NaN-aware (a NaN on either side fails).
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

#include "core/rng.h"

namespace gaincell::test {

// n values N(0, scale^2) from the counter-based Rng(seed).
inline std::vector<float> randn(size_t n, uint64_t seed, float scale = 1.0f) {
  Rng r(seed);
  std::vector<float> v(n);
  for (float& x : v) x = scale * static_cast<float>(r.normal());
  return v;
}

// sum_i a_i r_i in double.
inline double dot(const std::vector<float>& a, const std::vector<float>& r) {
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i) s += double(a[i]) * r[i];
  return s;
}

// Compares analytic[i] with the central difference of loss() in x[i] (step h), for every i: within
// 2e-4 + 2e-3 |difference|.
inline void fd_check(const char* what, const std::function<double()>& loss, std::vector<float>& x,
                     const std::vector<float>& analytic, float h = 1e-2f) {
  ASSERT_EQ(x.size(), analytic.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const float x0 = x[i];
    x[i] = x0 + h;
    const double lp = loss();
    x[i] = x0 - h;
    const double lm = loss();
    x[i] = x0;
    const double fd = (lp - lm) / (double(x0 + h) - double(x0 - h));
    EXPECT_TRUE(std::fabs(analytic[i] - fd) <= 2e-4 + 2e-3 * std::fabs(fd))
        << what << " index " << i << ": analytic " << analytic[i] << ", finite difference " << fd;
  }
}

}  // namespace gaincell::test
