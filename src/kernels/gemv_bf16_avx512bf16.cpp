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

// The sum of acc's 16 lanes by halving: lanes l + 8 onto l, then l + 4, l + 2 and l + 1 (the order of the
// scalar loop `for half = 8, 4, 2, 1: lane[l] += lane[l + half]`, so the same bits).
static float halving_sum(__m512 acc) {
  alignas(64) float lane[16];  // (the register halves through memory: GCC 12's extract intrinsics trip
  _mm512_store_ps(lane, acc);  // -Wmaybe-uninitialized)
  const __m256 s8 = _mm256_add_ps(_mm256_load_ps(lane), _mm256_load_ps(lane + 8));
  const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  return _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1)));
}

void gemv_bf16_dots_avx512bf16(float* c, const uint16_t* a, const uint16_t* b, int64_t ldb, int64_t K, int64_t N) {
  // Four rows at a time: four independent accumulation chains (one row's chain of vdpbf16ps waited on its own
  // latency), and each load of a serves four rows. Every row sums its 32-element blocks in k order, then halves.
  int64_t j = 0;
  for (; j + 4 <= N; j += 4) {
    const uint16_t* row = b + j * ldb;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    for (int64_t k = 0; k < K; k += 32) {
      const __mmask32 m = K - k >= 32 ? ~__mmask32{0} : (__mmask32{1} << (K - k)) - 1;
      const __m512bh x = as_bh(_mm512_maskz_loadu_epi16(m, a + k));
      acc0 = _mm512_dpbf16_ps(acc0, x, as_bh(_mm512_maskz_loadu_epi16(m, row + k)));
      acc1 = _mm512_dpbf16_ps(acc1, x, as_bh(_mm512_maskz_loadu_epi16(m, row + ldb + k)));
      acc2 = _mm512_dpbf16_ps(acc2, x, as_bh(_mm512_maskz_loadu_epi16(m, row + 2 * ldb + k)));
      acc3 = _mm512_dpbf16_ps(acc3, x, as_bh(_mm512_maskz_loadu_epi16(m, row + 3 * ldb + k)));
    }
    c[j] = halving_sum(acc0);
    c[j + 1] = halving_sum(acc1);
    c[j + 2] = halving_sum(acc2);
    c[j + 3] = halving_sum(acc3);
  }
  for (; j < N; ++j) {
    const uint16_t* row = b + j * ldb;
    __m512 acc = _mm512_setzero_ps();
    for (int64_t k = 0; k < K; k += 32) {
      const __mmask32 m = K - k >= 32 ? ~__mmask32{0} : (__mmask32{1} << (K - k)) - 1;
      acc =
          _mm512_dpbf16_ps(acc, as_bh(_mm512_maskz_loadu_epi16(m, a + k)), as_bh(_mm512_maskz_loadu_epi16(m, row + k)));
    }
    c[j] = halving_sum(acc);
  }
}

}  // namespace gaincell
#endif
