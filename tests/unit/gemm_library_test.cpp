// Every GEMM library built in (OpenBLAS, oneDNN, the plain loops) against a double-precision reference, and the
// same bits at 1, 2 and 3 threads under each (style R9): panels fixed by the shape, each one single-threaded
// library call inside our parallel region, whatever the library's own threading runtime.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/rng.h"
#include "expect_close.h"
#include "kernels/gemm.h"
#include "kernels/ops.h"
#include "kernels/threads.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {

std::vector<float> random_values(int64_t n, uint64_t seed) {
  Rng r(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(r.normal());
  return v;
}

// Restores the default library and thread count when a test ends, pass or fail.
struct LibraryScope {
  explicit LibraryScope(GemmLibrary lib) { set_gemm_library(lib); }
  ~LibraryScope() {
    set_gemm_library(GemmLibrary::kAuto);
    set_compute_threads(0);
  }
};

std::vector<GemmLibrary> built_libraries() {
  std::vector<GemmLibrary> libs{GemmLibrary::kLoops};
  for (GemmLibrary l : {GemmLibrary::kOpenBlas, GemmLibrary::kDnnl})
    if (gemm_library_available(l)) libs.push_back(l);
  return libs;
}

std::string name_of(GemmLibrary l) {
  return l == GemmLibrary::kOpenBlas ? "OpenBLAS" : l == GemmLibrary::kDnnl ? "oneDNN" : "loops";
}

struct Case {
  bool ta, tb;
  int64_t M, N, K;
  float alpha, beta;
};
// Decode rows (both orientations; the K-cut gemv), prompt-sized products beyond one panel, odd sizes,
// transposed A (weight gradients), alpha and beta (gradient accumulation, biases).
const Case kCases[] = {{false, false, 1, 2304, 768, 1.0f, 0.0f},   {false, true, 1, 3000, 768, 1.0f, 0.0f},
                       {false, false, 1, 700, 3072, 1.0f, 1.0f},   {false, false, 64, 768, 768, 1.0f, 1.0f},
                       {false, true, 300, 257, 129, 0.125f, 0.0f}, {true, false, 257, 200, 65, 1.0f, 1.0f},
                       {true, true, 129, 130, 70, 2.0f, 0.5f},     {false, false, 3, 17, 5, 1.0f, 0.0f}};

std::vector<float> run_case(const Case& c, const std::vector<float>& a, const std::vector<float>& b,
                            const std::vector<float>& c0) {
  std::vector<float> out = c0;
  const int64_t lda = c.ta ? c.M : c.K, ldb = c.tb ? c.K : c.N;
  gemm_deterministic(c.ta, c.tb, c.M, c.N, c.K, c.alpha, a.data(), lda, b.data(), ldb, c.beta, out.data(), c.N);
  return out;
}

TEST(GemmLibrary, EveryLibraryMatchesTheDoubleReferenceAndIsBitIdenticalAtOneTwoThreeThreads) {
  constexpr double kEps = std::numeric_limits<float>::epsilon();
  for (GemmLibrary lib : built_libraries()) {
    LibraryScope scope(lib);
    for (const Case& c : kCases) {
      const auto a = random_values(c.M * c.K, 1), b = random_values(c.K * c.N, 2), c0 = random_values(c.M * c.N, 3);
      const std::string what = name_of(lib) + " " + std::to_string(c.M) + "x" + std::to_string(c.N) + "x" +
                               std::to_string(c.K) + (c.ta ? " ta" : "") + (c.tb ? " tb" : "");
      set_compute_threads(1);
      const auto one = run_case(c, a, b, c0);
      set_compute_threads(2);
      const auto two = run_case(c, a, b, c0);
      set_compute_threads(3);
      const auto three = run_case(c, a, b, c0);
      EXPECT_TRUE(one == two) << what << ": 1 vs 2 threads";
      EXPECT_TRUE(one == three) << what << ": 1 vs 3 threads";
      const int64_t lda = c.ta ? c.M : c.K, ldb = c.tb ? c.K : c.N;
      test::WorstError worst;
      for (int64_t i = 0; i < c.M; ++i)
        for (int64_t j = 0; j < c.N; ++j) {
          double acc = 0, mag = 0;
          for (int64_t k = 0; k < c.K; ++k) {
            const double p = double(c.ta ? a[k * lda + i] : a[i * lda + k]) * (c.tb ? b[j * ldb + k] : b[k * ldb + j]);
            acc += p;
            mag += std::fabs(p);
          }
          const double want = c.alpha * acc + c.beta * double(c0[i * c.N + j]);
          const double bound =
              2.0 * (c.K + 2) * kEps * (std::fabs(c.alpha) * mag + std::fabs(c.beta * c0[i * c.N + j]));
          worst.add(i * c.N + j, one[i * c.N + j], want, bound + 1e-30);
        }
      EXPECT_TRUE(worst.result()) << what;
    }
  }
}

TEST(GemmLibrary, NamesTheKernelThatRuns) {
  const std::string name = gemm_backend_name();
  EXPECT_FALSE(name.empty());
  for (GemmLibrary lib : built_libraries()) {
    LibraryScope scope(lib);
    const std::string label = gemm_library_label(lib, 256);
    EXPECT_EQ(gemm_library_for_rows(1), lib);
    EXPECT_EQ(gemm_library_for_rows(256), lib);
    EXPECT_NE(gemm_backend_name().find(label), std::string::npos) << gemm_backend_name();
    if (lib == GemmLibrary::kDnnl) {  // oneDNN's implementation string and its run-time ISA
      EXPECT_EQ(label.rfind("oneDNN ", 0), 0u) << label;
      EXPECT_NE(label.find(" isa="), std::string::npos) << label;
    }
  }
  if (!gemm_library_available(GemmLibrary::kDnnl)) {
    EXPECT_THROW(set_gemm_library(GemmLibrary::kDnnl), Error);
  }
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
