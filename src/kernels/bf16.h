// bfloat16: the upper 16 bits of a float32 (8 exponent bits, 7 stored mantissa bits), and the precision of the
// digital projections (docs/precision.md). Under MatmulPrecision::kBf16 the weights and activations of every
// linear layer and the lm_head (forward and backward: linear_forward, matmul_transposed_forward and their
// backward) are rounded to bf16 and multiplied with float32 accumulation; everything else (norms, softmax,
// attention, the gain-cell simulation, losses, master weights and optimizer state) stays float32.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>

namespace gaincell {

// float32 -> bf16 bits, rounded to nearest, ties to even. NaN stays NaN (quiet, sign kept, never rounded into
// Inf); +-Inf stays +-Inf; finite values beyond the largest bf16 (about 3.39e38) round to +-Inf, as IEEE does.
inline uint16_t to_bf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);  // NaN: set quiet bit
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

inline float from_bf16(uint16_t h) {
  const uint32_t u = uint32_t{h} << 16;
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

// x rounded to the nearest bf16 value, as a float (exact: every bf16 is a float32).
inline float round_to_bf16(float x) {
  return from_bf16(to_bf16(x));
}

// out[i] = round_to_bf16(in[i]) / to_bf16(in[i]) / from_bf16(in[i]) for i < n, in parallel for large n.
void round_to_bf16(float* out, const float* in, int64_t n);
void to_bf16(uint16_t* out, const float* in, int64_t n);
void from_bf16(float* out, const uint16_t* in, int64_t n);

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
