#include "kernels/bf16.h"

#include <algorithm>
#include <atomic>
#include <vector>

#include "core/error.h"
#include "core/parallel.h"
#include "core/simd.h"
#include "kernels/gemm.h"
#include "kernels/gemm_bf16.h"

namespace gaincell {

namespace {

// out[j] = round_to_bf16(x[j]) for j < n, in a loop that vectorizes (to_bf16 is branch-free).
GAINCELL_SIMD_CLONES void round_row(float* out, const float* x, int64_t n) {
  for (int64_t j = 0; j < n; ++j) out[j] = round_to_bf16(x[j]);
}

}  // namespace

void round_to_bf16(float* out, const float* in, int64_t n) {
  constexpr int64_t kBlock = 4096;
  parallel_for(
      0, (n + kBlock - 1) / kBlock,
      [&](int64_t b) { round_row(out + b * kBlock, in + b * kBlock, std::min(kBlock, n - b * kBlock)); }, n * 4);
}

namespace {

std::atomic<MatmulPrecision> g_precision{MatmulPrecision::kF32};

struct Shadow {
  const float* values = nullptr;
  const uint16_t* copy = nullptr;
  int64_t n = 0;
};
thread_local Shadow g_shadow;  // per thread: a trainer on one thread never affects GEMMs on another

// The shadow's copy of the rows x cols operand at x (row stride ld), or nullptr when it does not lie inside it.
const uint16_t* shadow_of(const float* x, int64_t rows, int64_t cols, int64_t ld) {
  if (g_shadow.copy == nullptr || rows <= 0 || cols <= 0) return nullptr;
  const auto lo = reinterpret_cast<uintptr_t>(g_shadow.values), at = reinterpret_cast<uintptr_t>(x);
  if (at < lo || (at - lo) % sizeof(float) != 0) return nullptr;
  const int64_t offset = static_cast<int64_t>((at - lo) / sizeof(float));
  if (offset + (rows - 1) * ld + cols > g_shadow.n) return nullptr;
  return g_shadow.copy + offset;
}

// rows x cols of a matrix with row stride ld, rounded to bf16 into a compact copy (row stride cols).
const float* rounded_copy(std::vector<float>& scratch, const float* x, int64_t rows, int64_t cols, int64_t ld) {
  if (scratch.size() < static_cast<size_t>(rows * cols)) scratch.resize(rows * cols);
  float* out = scratch.data();
  parallel_for(
      0, rows, [&](int64_t r) { round_row(out + r * cols, x + r * ld, cols); }, rows * cols * 4);
  return out;
}

}  // namespace

void set_bf16_shadow(const float* values, const uint16_t* copy, int64_t n) {
  g_shadow = Shadow{values, copy, n};
}

void clear_bf16_shadow() {
  g_shadow = Shadow{};
}

void set_matmul_precision(MatmulPrecision p) {
  g_precision.store(p);
}

MatmulPrecision matmul_precision() {
  return g_precision.load();
}

MatmulPrecision parse_matmul_precision(const std::string& name) {
  if (name == "f32") return MatmulPrecision::kF32;
  if (name == "bf16") return MatmulPrecision::kBf16;
  fail_expected("precision", "f32 or bf16", "'" + name + "'");
}

const char* matmul_precision_name(MatmulPrecision p) {
  return p == MatmulPrecision::kBf16 ? "bf16" : "f32";
}

void gemm_projection(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* a, int64_t lda,
                     const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (matmul_precision() == MatmulPrecision::kF32) {
    gemm_deterministic(ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  if (bf16_kernel() == Bf16Kernel::kDnnl) {  // bf16 copies (A untransposed) into oneDNN's bf16 panels
    thread_local std::vector<uint16_t> a16, b16;
    if (a16.size() < static_cast<size_t>(M * K)) a16.resize(M * K);
    to_bf16_matrix(a16.data(), a, ta ? K : M, ta ? M : K, lda, ta);
    if (const uint16_t* b_copy = shadow_of(b, tb ? N : K, tb ? K : N, ldb)) {
      gemm_bf16_deterministic(false, tb, M, N, K, alpha, a16.data(), K, b_copy, ldb, beta, c, ldc);
      return;
    }
    if (b16.size() < static_cast<size_t>(K * N)) b16.resize(K * N);
    to_bf16_matrix(b16.data(), b, tb ? N : K, tb ? K : N, ldb);
    gemm_bf16_deterministic(false, tb, M, N, K, alpha, a16.data(), K, b16.data(), tb ? K : N, beta, c, ldc);
    return;
  }
  // Elsewhere the conversion path: float32 copies of the rounded operands through the float32 GEMM.
  thread_local std::vector<float> scratch_a, scratch_b;  // grow once to the largest operands, then reused
  const int64_t a_rows = ta ? K : M, a_cols = ta ? M : K, b_rows = tb ? N : K, b_cols = tb ? K : N;
  const float* ra = rounded_copy(scratch_a, a, a_rows, a_cols, lda);
  const float* rb = rounded_copy(scratch_b, b, b_rows, b_cols, ldb);
  gemm_deterministic(ta, tb, M, N, K, alpha, ra, a_cols, rb, b_cols, beta, c, ldc);
}

void gemm_projection_bf16_weights(bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* a, int64_t lda,
                                  const uint16_t* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  thread_local std::vector<uint16_t> a16;
  if (a16.size() < static_cast<size_t>(M * K)) a16.resize(M * K);
  to_bf16_matrix(a16.data(), a, M, K, lda);
  gemm_bf16_deterministic(false, tb, M, N, K, alpha, a16.data(), K, b, ldb, beta, c, ldc);
}

std::string bf16_projection_label(int64_t M) {
  if (bf16_kernel() == Bf16Kernel::kDnnl) {
    const std::string rows = bf16_kernel_label(Bf16Kernel::kDnnl, M), one = bf16_kernel_label(Bf16Kernel::kDnnl, 1);
    return rows == one ? rows : rows + "; 1 row: " + one;
  }
  return std::string("bf16 via f32 conversion") +
         (bf16_kernel_available(Bf16Kernel::kDnnl) ? " (forced)" : " (no oneDNN bf16 matmul in this build or CPU)") +
         "; 1 row with bf16 weights: portable kernel";
}

}  // namespace gaincell
