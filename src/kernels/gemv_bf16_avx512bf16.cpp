// Decoding rows of the bf16 GEMM with vdpbf16ps (AVX512_BF16): compiled with -mavx512bf16 (src/CMakeLists.txt:
// files named *_avx512bf16.cpp), called only after a CPUID check (kernels/gemm_bf16.cpp). vdpbf16ps adds the
// two exact float32 products of a pair of bf16 values to a float32 lane, one rounding per addition (denormal
// inputs and results flushed to zero), so these are float32 accumulations in an order fixed by the shape.
#include "kernels/gemm_bf16_rows.h"

#if defined(__AVX512BF16__)
#include <immintrin.h>

#include <cstring>

namespace gaincell {
namespace {

__m512bh as_bh(__m512i x) {
  return reinterpret_cast<__m512bh>(x);
}

// A pair (a[k], a[k + 1]) (the second 0 when absent) broadcast to every 32-bit lane.
__m512i pair_of(const uint16_t* a, int64_t k, int64_t K) {
  const uint32_t lo = a[k], hi = k + 1 < K ? a[k + 1] : 0u;
  return _mm512_set1_epi32(static_cast<int>(lo | hi << 16));
}

}  // namespace

void gemv_bf16_rows_avx512bf16(float* c, const uint16_t* a, const uint16_t* b, int64_t ldb, int64_t K, int64_t N) {
  // 128 columns per pass, their sums in 8 registers while the pass walks down the rows in pairs. After
  // unpacklo/unpackhi of two rows' 32 columns, 32-bit lane 4L + i of `lo` holds column 8L + i and that of `hi`
  // column 8L + 4 + i (L = 128-bit lane, i < 4); the permutes at the end put them back in order.
  constexpr int kBlocks = 4;
  const __m512i first = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
  const __m512i second = _mm512_setr_epi32(8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
  for (int64_t j0 = 0; j0 < N; j0 += 32 * kBlocks) {
    __mmask32 mask[kBlocks];
    for (int q = 0; q < kBlocks; ++q) {
      const int64_t left = N - j0 - 32 * q;
      mask[q] = left >= 32 ? ~__mmask32{0} : left <= 0 ? __mmask32{0} : (__mmask32{1} << left) - 1;
    }
    __m512 acc[2 * kBlocks];
    for (auto& x : acc) x = _mm512_setzero_ps();
    for (int64_t k = 0; k < K; k += 2) {  // rows k and k + 1 (a zero row past K)
      const __m512i ap = pair_of(a, k, K);
      const uint16_t* r0 = b + k * ldb + j0;
      const uint16_t* r1 = k + 1 < K ? r0 + ldb : nullptr;
      if (k + 9 < K)  // the pass reads 256 bytes of rows a row length apart: fetch the rows 4 pairs ahead
        for (int q = 0; q < 2 * kBlocks; ++q)
          _mm_prefetch(reinterpret_cast<const char*>(r0 + 8 * ldb + (q % kBlocks) * 32 + (q / kBlocks) * ldb),
                       _MM_HINT_T0);
      for (int q = 0; q < kBlocks; ++q) {
        const __m512i x = _mm512_maskz_loadu_epi16(mask[q], r0 + 32 * q);
        const __m512i y = r1 ? _mm512_maskz_loadu_epi16(mask[q], r1 + 32 * q) : _mm512_setzero_si512();
        acc[2 * q] = _mm512_dpbf16_ps(acc[2 * q], as_bh(_mm512_unpacklo_epi16(x, y)), as_bh(ap));
        acc[2 * q + 1] = _mm512_dpbf16_ps(acc[2 * q + 1], as_bh(_mm512_unpackhi_epi16(x, y)), as_bh(ap));
      }
    }
    for (int q = 0; q < kBlocks; ++q) {
      const int64_t j = j0 + 32 * q;
      if (j >= N) break;
      float out[32];
      _mm512_storeu_ps(out, _mm512_permutex2var_ps(acc[2 * q], first, acc[2 * q + 1]));
      _mm512_storeu_ps(out + 16, _mm512_permutex2var_ps(acc[2 * q], second, acc[2 * q + 1]));
      std::memcpy(c + j, out, static_cast<size_t>(N - j >= 32 ? 32 : N - j) * sizeof(float));
    }
  }
}

void gemv_bf16_dots_avx512bf16(float* c, const uint16_t* a, const uint16_t* b, int64_t ldb, int64_t K, int64_t N) {
  for (int64_t j = 0; j < N; ++j) {
    const uint16_t* row = b + j * ldb;
    __m512 acc = _mm512_setzero_ps();
    for (int64_t k = 0; k < K; k += 32) {
      const __mmask32 m = K - k >= 32 ? ~__mmask32{0} : (__mmask32{1} << (K - k)) - 1;
      acc =
          _mm512_dpbf16_ps(acc, as_bh(_mm512_maskz_loadu_epi16(m, a + k)), as_bh(_mm512_maskz_loadu_epi16(m, row + k)));
    }
    float lane[16];
    _mm512_storeu_ps(lane, acc);
    for (int half = 8; half > 0; half /= 2)
      for (int l = 0; l < half; ++l) lane[l] += lane[l + half];
    c[j] = lane[0];
  }
}

}  // namespace gaincell
#endif
