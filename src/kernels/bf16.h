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
// rounded to bf16 (into scratch copies) then multiplied with float32 accumulation. The product of two bf16
// values is exact in float32, so this is the result of a bf16 matmul with float32 accumulation, on any CPU;
// the bits are the same at any thread count.
void gemm_projection(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* a,
                     int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

}  // namespace gaincell
