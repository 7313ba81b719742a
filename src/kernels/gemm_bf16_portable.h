// The portable bf16 kernel (plain C++: bf16 widened to float32 by a 16-bit shift inside the product, float32
// accumulation), compiled twice: for baseline x86-64 in kernels/gemm_bf16.cpp and with AVX2 in
// kernels/gemm_bf16_avx2.cpp. Both compile the same operations in the same order (no FMA contraction under
// -std=c++20, no reassociation), so they give the same bits; the functions have internal linkage (an anonymous
// namespace), so the two compilations never replace each other at link time. Internal to kernels/.
#pragma once
#include <cstdint>
#include <cstring>

namespace gaincell {
namespace {

// bf16 bits -> float32 (core/bf16.h from_bf16, repeated here with internal linkage: nothing with external linkage
// may be compiled into the AVX2 object, where the linker could pick its copy for every caller).
inline float widen_bf16(uint16_t h) {
  const uint32_t u = uint32_t{h} << 16;
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

// dot(x[K], w[K]) with w in bf16: 16 partial sums (lane l takes k = l mod 16) added pairwise at the end, an order
// fixed by K alone that compilers vectorize without reassociating anything.
inline float dot_bf16(const float* x, const uint16_t* w, int64_t K) {
  float lane[16] = {};
  int64_t k = 0;
  for (; k + 16 <= K; k += 16)
    for (int l = 0; l < 16; ++l) lane[l] += x[k + l] * widen_bf16(w[k + l]);
  for (int l = 0; k + l < K; ++l) lane[l] += x[k + l] * widen_bf16(w[k + l]);
  for (int half = 8; half > 0; half /= 2)
    for (int l = 0; l < half; ++l) lane[l] += lane[l + half];
  return lane[0];
}

// acc[j] += sum_{r < n} x[r] w[r, j] (w bf16, row stride ldw), the rows added in order; four rows per pass over
// acc, each acc[j] still summed row after row.
inline void axpy_rows_bf16(float* acc, const float* x, const uint16_t* w, int64_t ldw, int64_t n, int64_t N) {
  int64_t r = 0;
  for (; r + 4 <= n; r += 4) {
    const float x0 = x[r], x1 = x[r + 1], x2 = x[r + 2], x3 = x[r + 3];
    const uint16_t *w0 = w + r * ldw, *w1 = w0 + ldw, *w2 = w1 + ldw, *w3 = w2 + ldw;
    for (int64_t j = 0; j < N; ++j) {
      float s = acc[j];
      s += x0 * widen_bf16(w0[j]);
      s += x1 * widen_bf16(w1[j]);
      s += x2 * widen_bf16(w2[j]);
      s += x3 * widen_bf16(w3[j]);
      acc[j] = s;
    }
  }
  for (; r < n; ++r) {
    const float xr = x[r];
    const uint16_t* wr = w + r * ldw;
    for (int64_t j = 0; j < N; ++j) acc[j] += xr * widen_bf16(wr[j]);
  }
}

// One panel on the calling thread, in plain C++: each row of op(A) widened to float32, then its products with
// B's rows (B transposed: dot products) or with B's columns (rows of B added in k order), float32 accumulation.
// row and acc are the caller's scratch of K and N floats.
inline void portable_bf16_panel_impl(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const uint16_t* a,
                                     int64_t lda, const uint16_t* b, int64_t ldb, float beta, float* c, int64_t ldc,
                                     float* row, float* acc) {
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t k = 0; k < K; ++k) row[k] = widen_bf16(ta ? a[k * lda + i] : a[i * lda + k]);
    if (tb) {
      for (int64_t j = 0; j < N; ++j) acc[j] = dot_bf16(row, b + j * ldb, K);
    } else {
      for (int64_t j = 0; j < N; ++j) acc[j] = 0.0f;
      axpy_rows_bf16(acc, row, b, ldb, K, N);
    }
    float* ci = c + i * ldc;
    for (int64_t j = 0; j < N; ++j) ci[j] = alpha * acc[j] + (beta == 0.0f ? 0.0f : beta * ci[j]);
  }
}

}  // namespace
}  // namespace gaincell
