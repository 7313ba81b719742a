// GEMMs of bf16 operands with float32 accumulation (docs/precision.md): the operands are bf16 bits (uint16_t,
// core/bf16.h), every product of two bf16 values is exact in float32, and the sums are float32. They run in
// gemm_deterministic's fixed panels (kernels/gemm_panels.h), so the bits are the same at any thread count.
#pragma once
#include <cstdint>
#include <string>

#include "kernels/gemm.h"  // RowProduct

namespace gaincell {

// What computes the bf16 panels. kDnnl: oneDNN's bf16 matmul primitives (single-threaded, cached per panel
// shape), which exist on CPUs with AVX512_BF16 or AMX; its one-row panels (decoding) run our vdpbf16ps kernels.
// kPortable: plain C++ that widens bf16 to float32 (a 16-bit shift) inside the product, on any CPU. kAuto: kDnnl where
// it exists, else kPortable.
enum class Bf16Kernel { kAuto, kDnnl, kPortable };
// Forces a kernel (kAuto restores the default); throws Error when kDnnl does not exist in this build or on this CPU.
void set_bf16_kernel(Bf16Kernel k);
bool bf16_kernel_available(Bf16Kernel k);
// The kernel in use (never kAuto).
Bf16Kernel bf16_kernel();
// "oneDNN 2.6.3 brg:avx512_core_bf16 isa=avx512_core_bf16" (oneDNN's implementation string of a bf16 product of
// M rows), "vdpbf16ps rows (AVX512_BF16)" (kDnnl's one-row panels where the CPU has AVX512_BF16: oneDNN 2.6
// re-packs the weights on every call, slower than the product for one row), or "portable (bf16 widened to f32 in
// the product)".
std::string bf16_kernel_label(Bf16Kernel k, int64_t M);

// out[r * cols + c] = to_bf16(x[r * ld + c]) (a compact copy, rounded to nearest even), or, transposed, the copy of
// x^T: out[c * rows + r]. In parallel for large matrices.
void to_bf16_matrix(uint16_t* out, const float* x, int64_t rows, int64_t cols, int64_t ld, bool transposed = false);

// C[M, N] = alpha op(A) op(B) + beta C with bf16 A and B (row-major, leading dimensions in elements; beta 0
// ignores C's old contents), by the current kernel, through gemm_deterministic's panels: the same panel lengths,
// the decoding row's K cut with its partial rows added in panel order, products of at most 2^16 multiply-adds as
// portable loops on the calling thread. kPortable with more than one row widens A and B to float32 copies and
// runs gemm_deterministic (the float32 library GEMM: same values, BLAS speed); one row runs the portable panel
// loops, which read B in 16 bits.
void gemm_bf16_deterministic(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                             const uint16_t* a, int64_t lda, const uint16_t* b, int64_t ldb, float beta, float* c,
                             int64_t ldc);
// The bf16 twin of gemm_row_products (kernels/gemm.h): c_i[1, N_i] = a[1, K] B_i^T, each with the bits of
// gemm_bf16_deterministic(false, true, 1, N_i, K, 1, a, K, B_i, ldb_i, 0, c_i, N_i), in one parallel region.
void gemm_bf16_row_products(const uint16_t* a, int64_t K, const RowProduct<uint16_t>* parts, int n_parts);

}  // namespace gaincell
