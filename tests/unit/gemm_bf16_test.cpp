// The bf16 GEMMs (kernels/gemm_bf16.h, kernels/bf16.h): oneDNN's bf16 panels where the CPU has them (AVX512_BF16
// or AMX; skipped, naming why, elsewhere) and the portable / conversion path on every CPU, each against a
// double-precision loop over the bf16-rounded operands with gemm_library_test's bound, and the same bits at 1, 2
// and 3 threads: decoding rows in both orientations, prompt-sized and odd shapes, transposed A, alpha and beta,
// through the three entries (float32 operands under --precision bf16, bf16 operands, a bf16 weight).
#include "kernels/gemm_bf16.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/rng.h"
#include "expect_close.h"
#include "kernels/bf16.h"
#include "kernels/gemm_bf16_rows.h"
#include "kernels/threads.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {

// Sets the bf16 kernel and the bf16 precision for one scope; restores the defaults, pass or fail.
struct KernelScope {
  explicit KernelScope(Bf16Kernel k) {
    set_bf16_kernel(k);
    set_matmul_precision(MatmulPrecision::kBf16);
  }
  ~KernelScope() {
    set_bf16_kernel(Bf16Kernel::kAuto);
    set_matmul_precision(MatmulPrecision::kF32);
    set_compute_threads(0);
  }
};

struct Case {
  bool ta, tb;
  int64_t M, N, K;
  float alpha, beta;
};
// Decode rows (the K-cut row against [K, N] weights, the N-cut row against [N, K] weights and the lm_head),
// a prompt of 256 rows (split into 6 panels along N; kept small, since the double reference runs sanitized in
// CI), odd sizes beyond one panel, transposed A (weight gradients), alpha and beta, and a
// product small enough for the loops on the calling thread.
const Case kCases[] = {{false, false, 1, 2304, 768, 1.0f, 0.0f},  {false, true, 1, 3000, 768, 1.0f, 0.0f},
                       {false, false, 1, 700, 3072, 1.0f, 1.0f},  {false, true, 1, 515, 1031, 0.5f, 2.0f},
                       {false, false, 1, 1000, 1031, 1.0f, 0.0f}, {false, false, 256, 1100, 200, 1.0f, 1.0f},
                       {false, true, 256, 700, 300, 1.0f, 0.0f},  {false, true, 300, 257, 129, 0.125f, 0.0f},
                       {true, false, 257, 200, 65, 1.0f, 1.0f},   {true, true, 129, 130, 70, 2.0f, 0.5f},
                       {false, false, 3, 17, 5, 1.0f, 0.0f}};

// How the product is entered: float32 operands under MatmulPrecision::kBf16 (gemm_projection), bf16 operands
// (gemm_bf16_deterministic), float32 A with a bf16 weight B (gemm_projection_bf16_weights; untransposed A only).
enum class Entry { kProjection, kBf16Operands, kBf16Weight };
const char* entry_name(Entry e) {
  return e == Entry::kProjection ? "gemm_projection" : e == Entry::kBf16Operands ? "bf16 operands" : "bf16 weight";
}

struct Operands {
  std::vector<float> a, b, c0;
  std::vector<uint16_t> a16, b16;  // a and b rounded to bf16
};

Operands operands(const Case& c) {
  Rng r(c.M * 7 + c.N * 3 + c.K);
  Operands o;
  o.a.resize(c.M * c.K);
  o.b.resize(c.K * c.N);
  o.c0.resize(c.M * c.N);
  for (auto* v : {&o.a, &o.b, &o.c0})
    for (float& x : *v) x = static_cast<float>(r.normal());
  for (float x : o.a) o.a16.push_back(to_bf16(x));
  for (float x : o.b) o.b16.push_back(to_bf16(x));
  return o;
}

std::vector<float> run(Entry e, const Case& c, const Operands& o) {
  std::vector<float> out = o.c0;
  const int64_t lda = c.ta ? c.M : c.K, ldb = c.tb ? c.K : c.N;
  if (e == Entry::kProjection)
    gemm_projection(c.ta, c.tb, c.M, c.N, c.K, c.alpha, o.a.data(), lda, o.b.data(), ldb, c.beta, out.data(), c.N);
  else if (e == Entry::kBf16Operands)
    gemm_bf16_deterministic(c.ta, c.tb, c.M, c.N, c.K, c.alpha, o.a16.data(), lda, o.b16.data(), ldb, c.beta,
                            out.data(), c.N);
  else
    gemm_projection_bf16_weights(c.tb, c.M, c.N, c.K, c.alpha, o.a.data(), lda, o.b16.data(), ldb, c.beta, out.data(),
                                 c.N);
  return out;
}

// Every entry and case under kernel k: bits at 1, 2 and 3 threads, and (on up to 24 rows of each product) the
// double loop over the rounded operands within 2 (K + 2) eps (|alpha| sum |products| + |beta c|). Returns the
// outputs at 1 thread, in order.
std::vector<std::vector<float>> check_kernel(Bf16Kernel k, const std::string& kernel) {
  constexpr double kEps = std::numeric_limits<float>::epsilon();
  KernelScope scope(k);
  std::vector<std::vector<float>> outputs;
  for (Entry e : {Entry::kProjection, Entry::kBf16Operands, Entry::kBf16Weight})
    for (const Case& c : kCases) {
      if (e == Entry::kBf16Weight && c.ta) continue;
      const Operands o = operands(c);
      const std::string what = kernel + ", " + entry_name(e) + ": " + std::to_string(c.M) + "x" + std::to_string(c.N) +
                               "x" + std::to_string(c.K) + (c.ta ? " ta" : "") + (c.tb ? " tb" : "");
      set_compute_threads(1);
      const auto one = run(e, c, o);
      set_compute_threads(2);
      const auto two = run(e, c, o);
      set_compute_threads(3);
      const auto three = run(e, c, o);
      EXPECT_TRUE(one == two) << what << ": 1 vs 2 threads";
      EXPECT_TRUE(one == three) << what << ": 1 vs 3 threads";
      const int64_t lda = c.ta ? c.M : c.K, ldb = c.tb ? c.K : c.N, step = std::max<int64_t>(1, c.M / 24);
      test::WorstError worst;
      for (int64_t i = 0; i < c.M; i += step)
        for (int64_t j = 0; j < c.N; ++j) {
          double acc = 0, mag = 0;
          for (int64_t kk = 0; kk < c.K; ++kk) {
            const double p = double(from_bf16(o.a16[c.ta ? kk * lda + i : i * lda + kk])) *
                             from_bf16(o.b16[c.tb ? j * ldb + kk : kk * ldb + j]);
            acc += p;
            mag += std::fabs(p);
          }
          const double cij = o.c0[i * c.N + j], want = c.alpha * acc + c.beta * cij;
          const double bound = 2.0 * (c.K + 2) * kEps * (std::fabs(c.alpha) * mag + std::fabs(c.beta * cij));
          worst.add(i * c.N + j, one[i * c.N + j], want, bound + 1e-30);
        }
      EXPECT_TRUE(worst.result()) << what;
      outputs.push_back(one);
    }
  return outputs;
}

TEST(Bf16Gemm, PortableAndConversionPathsMatchTheRoundedReferenceAndAreBitIdenticalAtOneTwoThreeThreads) {
  check_kernel(Bf16Kernel::kPortable, "portable");
}

TEST(Bf16Gemm, OneDnnBf16PanelsMatchTheRoundedReferenceAndAreBitIdenticalAtOneTwoThreeThreads) {
  if (!bf16_kernel_available(Bf16Kernel::kDnnl))
    GTEST_SKIP() << "no oneDNN bf16 matmul here (a build without oneDNN, or a CPU without AVX512_BF16 / AMX: "
                    "oneDNN 2.6 has none on AVX2)";
  const auto dnnl = check_kernel(Bf16Kernel::kDnnl, "oneDNN");
  const auto portable = check_kernel(Bf16Kernel::kPortable, "portable");
  // oneDNN really ran: its summation order differs from the portable loops', so some products differ in the last
  // bits (the prompt-sized ones at least), while all of them are within the bound above.
  ASSERT_EQ(dnnl.size(), portable.size());
  int differing = 0;
  for (size_t i = 0; i < dnnl.size(); ++i) differing += dnnl[i] != portable[i];
  EXPECT_GT(differing, 0);
}

// The portable kernel's AVX2 compilation gives the bits of its baseline one (the same operations in the same
// order): every case, one panel each.
TEST(Bf16Gemm, PortableKernelBuildsForAvx2AndBaselineGiveTheSameBits) {
  if (!portable_bf16_avx2_available()) GTEST_SKIP() << "no AVX2 build of the portable kernel here (CPU or build)";
  for (const Case& c : kCases) {
    const Operands o = operands(c);
    const int64_t lda = c.ta ? c.M : c.K, ldb = c.tb ? c.K : c.N;
    std::vector<float> avx2 = o.c0, baseline = o.c0;
    portable_bf16_panel(true, c.ta, c.tb, c.M, c.N, c.K, c.alpha, o.a16.data(), lda, o.b16.data(), ldb, c.beta,
                        avx2.data(), c.N);
    portable_bf16_panel(false, c.ta, c.tb, c.M, c.N, c.K, c.alpha, o.a16.data(), lda, o.b16.data(), ldb, c.beta,
                        baseline.data(), c.N);
    EXPECT_TRUE(avx2 == baseline) << c.M << "x" << c.N << "x" << c.K;
  }
}

TEST(Bf16Gemm, NamesTheBf16KernelThatRuns) {
  if (bf16_kernel_available(Bf16Kernel::kDnnl)) {
    KernelScope scope(Bf16Kernel::kDnnl);
    const std::string label = bf16_projection_label(256);
    EXPECT_EQ(label.rfind("oneDNN ", 0), 0u) << label;
    EXPECT_NE(label.find("bf16"), std::string::npos) << label;  // e.g. brg:avx512_core_bf16, or ..._amx
    EXPECT_NE(gemm_backend_name().find("bf16 projections: " + label), std::string::npos) << gemm_backend_name();
  } else {
    EXPECT_THROW(set_bf16_kernel(Bf16Kernel::kDnnl), Error);
  }
  KernelScope scope(Bf16Kernel::kPortable);
  EXPECT_EQ(bf16_kernel(), Bf16Kernel::kPortable);
  const std::string label = bf16_projection_label(256);
  EXPECT_EQ(label.rfind("bf16 via f32 conversion", 0), 0u) << label;
  EXPECT_NE(gemm_backend_name().find(label), std::string::npos) << gemm_backend_name();
  set_matmul_precision(MatmulPrecision::kF32);
  EXPECT_EQ(gemm_backend_name().find("bf16 projections"), std::string::npos) << gemm_backend_name();
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
