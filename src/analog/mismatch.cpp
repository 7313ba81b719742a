#include "analog/mismatch.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/simd_v8.h"

namespace gaincell {
namespace {

enum : uint64_t { kKCells = 1, kVCells = 2, kC2p = 3, kAdc = 4 };

void draw_cells(std::vector<float>& gain, std::vector<float>& off, const Rng& arr, uint64_t kind, int s0, int s1,
                int dim, double sg, double so) {
  Rng r = arr.split(kind);
  for (int s = s0; s < s1; ++s)
    for (int d = 0; d < dim; ++d) {
      gain[size_t(s) * dim + d] = float(sg * r.normal());
      off[size_t(s) * dim + d] = float(so * r.normal());
    }
}

}  // namespace

namespace {

// Acklam's coefficients: the central region (kA, kB) and the tails (kC, kD).
constexpr double kA[6] = {-3.969683028665376e+01, 2.209460984245205e+02,  -2.759285104469687e+02,
                          1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
constexpr double kB[5] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01,
                          -1.328068155288572e+01};
constexpr double kC[6] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                          -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
constexpr double kD[4] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00};
constexpr double kLow = 0.02425;  // the central region is (kLow, 1 - kLow)

}  // namespace

double normal_quantile(double u) {
  if (u > kLow && u < 1.0 - kLow) {
    double q = u - 0.5, r = q * q;
    return (((((kA[0] * r + kA[1]) * r + kA[2]) * r + kA[3]) * r + kA[4]) * r + kA[5]) * q /
           (((((kB[0] * r + kB[1]) * r + kB[2]) * r + kB[3]) * r + kB[4]) * r + 1.0);
  }
  double q = std::sqrt(-2.0 * std::log(u < 0.5 ? u : 1.0 - u));
  double x = (((((kC[0] * q + kC[1]) * q + kC[2]) * q + kC[3]) * q + kC[4]) * q + kC[5]) /
             ((((kD[0] * q + kD[1]) * q + kD[2]) * q + kD[3]) * q + 1.0);
  return u < 0.5 ? x : -x;
}

namespace {

typedef uint64_t U8 __attribute__((vector_size(64)));
typedef int64_t I8 __attribute__((vector_size(64)));
typedef double D8 __attribute__((vector_size(64)));

// The uniforms' integers m at the tails' edges (c2c_normal: u = (m + 0.5) 2^-53, central for kLow < u < 1 - kLow).
constexpr double kTwo53 = 9007199254740992.0;
constexpr uint64_t kTailLow = uint64_t(kLow * kTwo53 - 0.5);               // u <= kLow: m <= this
constexpr uint64_t kTailHigh = uint64_t((1.0 - kLow) * kTwo53 - 0.5) + 1;  // u >= 1 - kLow: m >= this

GAINCELL_VECTOR_HELPER U8 mix8(U8 z) {  // Rng::mix on each lane
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Eight draws of c2c_normals, with key = the key of s.split(tag).split(a) and t the addresses: per lane split(b),
// one next_u64 (counter 1), the uniform and the central quantile, each operation as the scalar code does it (the
// constants are Rng's). u = (m + 0.5) 2^-53 with m = r >> 11 (exact): the tails u <= kLow and u >= 1 - kLow (as
// normal_quantile rounds it) are m <= kTailLow and m >= kTailHigh, where x is not the quantile (one draw in 20).
struct Draws8 {
  D8 x, u;
  U8 m;
};
GAINCELL_VECTOR_HELPER Draws8 draw8(uint64_t key, U8 t) {
  const U8 k = mix8((U8{} + key) ^ mix8(t + 0xD1B54A32D192ED03ull));  // split(b)
  const U8 r = mix8(k + 0x9E3779B97F4A7C15ull);                       // next_u64(), counter 1
  const D8 u = (__builtin_convertvector(I8(r >> 11), D8) + 0.5) * (1.0 / 9007199254740992.0);
  const D8 q = u - 0.5, rr = q * q;
  const D8 x = (((((kA[0] * rr + kA[1]) * rr + kA[2]) * rr + kA[3]) * rr + kA[4]) * rr + kA[5]) * q /
               (((((kB[0] * rr + kB[1]) * rr + kB[2]) * rr + kB[3]) * rr + kB[4]) * rr + 1.0);
  return {x, u, r >> 11};
}

GAINCELL_VECTOR_HELPER U8 addresses8(const uint64_t* b, uint64_t b0, int64_t i) {
  const U8 lane = {0, 1, 2, 3, 4, 5, 6, 7};
  U8 t;
  if (b)
    __builtin_memcpy(&t, b + i, sizeof t);
  else
    t = (b0 + uint64_t(i)) + lane;
  return t;
}

// c2c_normals over the first n - n % 8 draws, 8 lanes (one AVX-512 register of doubles); the lanes are tested for
// a tail only in the vectors that hold one.
GAINCELL_SIMD_CLONES_512 void normals_kernel(double* out, uint64_t key, const uint64_t* b, uint64_t b0, int64_t n) {
#pragma GCC unroll 2
  for (int64_t i = 0; i + 8 <= n; i += 8) {
    const Draws8 d = draw8(key, addresses8(b, b0, i));
    __builtin_memcpy(out + i, &d.x, sizeof d.x);
    // The tests as the top bits of differences (m < 2^53: GCC lowers 64-bit vector comparisons lane by lane).
    const U8 tail = ((d.m - (kTailLow + 1)) | ((kTailHigh - 1) - d.m)) >> 63;
    const U8 t4 = __builtin_shufflevector(tail, tail, 4, 5, 6, 7, 0, 1, 2, 3) | tail;
    const U8 t2 = __builtin_shufflevector(t4, t4, 2, 3, 0, 1, 2, 3, 0, 1) | t4;
    if ((t2[0] | t2[1]) == 0) continue;
    for (int j = 0; j < 8; ++j)
      if (tail[j]) out[i + j] = normal_quantile(d.u[j]);
  }
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
// The same values on AVX-512 CPUs without a branch per vector: each vector's tail lanes (index and u) are
// compressed into tail_at / tail_u (n + 8 entries each), and their quantiles computed after the loop. A third of
// the vectors hold a tail, at random, so the test per vector was mispredicted about as often.
__attribute__((target("arch=x86-64-v4"))) void normals_kernel_avx512(double* out, uint64_t key, const uint64_t* b,
                                                                     uint64_t b0, int64_t n, int64_t* tail_at,
                                                                     double* tail_u) {
  const __m512i low = _mm512_set1_epi64(int64_t(kTailLow)), high = _mm512_set1_epi64(int64_t(kTailHigh));
  const __m512i lane = _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7);
  int64_t tails = 0;
#pragma GCC unroll 2
  for (int64_t i = 0; i + 8 <= n; i += 8) {
    const Draws8 d = draw8(key, addresses8(b, b0, i));
    __builtin_memcpy(out + i, &d.x, sizeof d.x);
    const __m512i m = __m512i(d.m);
    const __mmask8 k =
        __mmask8(_mm512_cmp_epu64_mask(m, low, _MM_CMPINT_LE) | _mm512_cmp_epu64_mask(m, high, _MM_CMPINT_NLT));
    _mm512_storeu_pd(tail_u + tails, _mm512_maskz_compress_pd(k, __m512d(d.u)));
    _mm512_storeu_si512(tail_at + tails, _mm512_maskz_compress_epi64(k, _mm512_add_epi64(_mm512_set1_epi64(i), lane)));
    tails += __builtin_popcount(k);
  }
  for (int64_t j = 0; j < tails; ++j) out[tail_at[j]] = normal_quantile(tail_u[j]);
}
#endif

void normals(double* out, uint64_t key, const uint64_t* b, uint64_t b0, int64_t n) {
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
  if (avx512_kernels()) {
    thread_local std::vector<int64_t> tail_at;  // grown once to the largest batch, then reused
    thread_local std::vector<double> tail_u;
    if (tail_at.size() < size_t(n) + 8) tail_at.resize(size_t(n) + 8), tail_u.resize(size_t(n) + 8);
    return normals_kernel_avx512(out, key, b, b0, n, tail_at.data(), tail_u.data());
  }
#endif
  normals_kernel(out, key, b, b0, n);
}

}  // namespace

void c2c_normals(double* out, const Rng& s, NoiseTag tag, uint64_t a, const uint64_t* b, uint64_t b0, int64_t n) {
  const uint64_t key = s.split(uint64_t(tag)).split(a).key();
  const int64_t body = n - n % 8;
  normals(out, key, b, b0, body);
  if (body == n) return;
  // The last n % 8 draws as one more vector (each lane depends only on its own address; the spare lanes' draws
  // are dropped): the scalar draws cost about as much as the vector of 8.
  uint64_t at[8] = {};
  double x[8];
  for (int64_t i = body; i < n; ++i) at[i - body] = b ? b[i] : b0 + uint64_t(i);
  normals(x, key, at, 0, 8);
  for (int64_t i = body; i < n; ++i) out[i] = x[i - body];
}

HeadMismatch draw_head_mismatch(const HardwareConfig& hw, int window, int cols, int dim, int layer, int head,
                                int c2p_blocks) {
  const NoiseConfig& n = hw.noise;
  HeadMismatch m;
  m.window = window;
  m.dim = dim;
  bool cells = n.cell_gain_sigma > 0 || n.cell_offset_sigma_ua > 0;
  bool c2p = n.c2p_sat_sigma > 0, adc = n.adc_gain_sigma > 0 || n.adc_offset_sigma > 0;
  int n_arrays = (window + cols - 1) / cols;
  if (cells) {
    m.k_gain.resize(size_t(window) * dim);
    m.k_off.resize(m.k_gain.size());
    m.v_gain.resize(m.k_gain.size());
    m.v_off.resize(m.k_gain.size());
  }
  if (c2p) m.s_sat.resize(size_t(window) * std::max(c2p_blocks, 1));
  if (adc) {
    m.adc_gain.resize(size_t(n_arrays) * dim);
    m.adc_off.resize(m.adc_gain.size());
  }
  Rng chip = Rng(n.chip_seed).split(uint64_t(layer)).split(uint64_t(head));
  for (int a = 0; a < n_arrays; ++a) {  // one array at a time, as when the array is created
    Rng arr = chip.split(uint64_t(a));
    int s0 = a * cols, s1 = std::min(window, s0 + cols);
    if (cells) {
      draw_cells(m.k_gain, m.k_off, arr, kKCells, s0, s1, dim, n.cell_gain_sigma, n.cell_offset_sigma_ua);
      draw_cells(m.v_gain, m.v_off, arr, kVCells, s0, s1, dim, n.cell_gain_sigma, n.cell_offset_sigma_ua);
    }
    if (c2p) {
      Rng r = arr.split(kC2p);
      for (int s = s0; s < s1; ++s)
        m.s_sat[s] = float(hw.converters.s_sat_ua_tmax * (1.0 + n.c2p_sat_sigma * r.normal()));
      for (int blk = 1; blk < c2p_blocks; ++blk) {  // the converters of the stacked K arrays (digital row sum)
        Rng rb = r.split(uint64_t(blk));
        for (int s = s0; s < s1; ++s)
          m.s_sat[size_t(blk) * window + s] =
              float(hw.converters.s_sat_ua_tmax * (1.0 + n.c2p_sat_sigma * rb.normal()));
      }
    }
    if (adc) {
      Rng r = arr.split(kAdc);
      for (int d = 0; d < dim; ++d) {
        m.adc_gain[size_t(a) * dim + d] = float(n.adc_gain_sigma * r.normal());
        m.adc_off[size_t(a) * dim + d] = float(n.adc_offset_sigma * r.normal());
      }
    }
  }
  return m;
}

}  // namespace gaincell
