// bfloat16: the upper 16 bits of a float32 (8 exponent bits, 7 stored mantissa bits), and the precision of the
// digital projections (docs/precision.md). Under MatmulPrecision::kBf16 the weights and activations of every
// linear layer and the lm_head (forward and backward: linear_forward, matmul_transposed_forward and their
// backward) are rounded to bf16 and multiplied with float32 accumulation; everything else (norms, softmax,
// attention, the gain-cell simulation, losses, master weights and optimizer state) stays float32.
#pragma once
#include <cstdint>
#include <string>

#include "core/bf16.h"  // to_bf16, from_bf16, round_to_bf16 (scalar)

namespace gaincell {

// out[i] = round_to_bf16(in[i]) for i < n, in parallel for large n.
void round_to_bf16(float* out, const float* in, int64_t n);

enum class MatmulPrecision { kF32, kBf16 };
// The precision of the projections, process-wide like the thread count (the CLI's --precision sets it once).
void set_matmul_precision(MatmulPrecision p);
MatmulPrecision matmul_precision();
// "f32" | "bf16"; anything else throws Error "[precision] expected f32 or bf16, got ...".
MatmulPrecision parse_matmul_precision(const std::string& name);
const char* matmul_precision_name(MatmulPrecision p);

// A projection GEMM (same arguments as gemm_deterministic) in the current matmul precision: float32, or A and B
// rounded to bf16 then multiplied with float32 accumulation. The product of two bf16 values is exact in float32,
// so this is the result of a bf16 matmul with float32 accumulation; the bits are the same at any thread count.
// Where oneDNN's bf16 matmul exists (bf16_kernel() == kDnnl: AVX512_BF16 or AMX) the operands are converted to
// bf16 copies and multiplied by gemm_bf16_deterministic; elsewhere (or with set_bf16_kernel(kPortable)) by the
// conversion path: float32 copies of the rounded operands through gemm_deterministic. The two agree to float32
// summation-order error.
void gemm_projection(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* a,
                     int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);
// A bf16 copy of a block of float32 weights, kept by its owner (the trainer under --precision bf16 fills it
// once per step from the weights it is about to use): while it is set, gemm_projection takes a B operand that lies
// inside [values, values + n) from the copy instead of rounding it again, in every call of the step's forward and
// backward (gpt2: two roundings of 124 M weights per step saved). The owner keeps copy[i] == to_bf16(values[i])
// while it is set, so the results are the same bits as without it. Per thread: set and cleared on the thread that
// calls the GEMMs (Bf16ShadowScope), so a trainer never affects products another thread computes.
void set_bf16_shadow(const float* values, const uint16_t* copy, int64_t n);
void clear_bf16_shadow();
struct Bf16ShadowScope {
  Bf16ShadowScope(const float* values, const uint16_t* copy, int64_t n) { set_bf16_shadow(values, copy, n); }
  ~Bf16ShadowScope() { clear_bf16_shadow(); }
  Bf16ShadowScope(const Bf16ShadowScope&) = delete;
  Bf16ShadowScope& operator=(const Bf16ShadowScope&) = delete;
};

// C[M, N] = alpha A op(B) + beta C for a weight B held in bf16 (a Model loaded with bf16 projection weights,
// [K, N] or, trans_b, [N, K]): A (float32, row stride lda) rounded to bf16 per call, then
// gemm_bf16_deterministic (oneDNN's bf16 panels, or the portable kernel that reads B in 16 bits). Runs in bf16
// whatever matmul_precision() says: the weight is bf16.
void gemm_projection_bf16_weights(bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* a,
                                  int64_t lda, const uint16_t* b, int64_t ldb, float beta, float* c, int64_t ldc);
// What computes gemm_projection under kBf16 for M rows: oneDNN's bf16 implementation ("oneDNN 2.6.3
// brg:avx512_core_bf16 isa=avx512_core_bf16") or "bf16 via f32 conversion ..." (naming why, and the portable
// kernel that decodes with bf16 weights).
std::string bf16_projection_label(int64_t M);

}  // namespace gaincell
