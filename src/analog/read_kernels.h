// The vector kernels of a gain-cell read (array_read.cpp): loops over keys or dims on 8- and 16-float vectors,
// compiled per target (core/simd.h's clones), each with the bits of the reference's scalar loop: every element
// runs the scalar code's operations in its order (no FMA: the analog module is built with -ffp-contract=off).
#pragma once
#include <cstdint>

#include "analog/array_read.h"

namespace gaincell {

// acc[d] = sum over the keys k = kidx[j], j < m (in order), of w[k] * v[col[k] * D + d], from 0 or (add) from
// acc[d].
void mix_rows(float* acc, const float* w, const float* v, const int64_t* col, const int32_t* kidx, int64_t m, int D,
              bool add = false);
// Step 5 over the column ranges: dst[p][k] = sum_d q[d] * c_p(d, col_k) for the powers p < n_pow with need[p],
// c_p = y^p, or (1 + g) y^p with mismatch (ky, kg [D][ld]).
void dot_powers(float* const* dst, const bool* need, int n_pow, bool mismatch, const float* q, const float* ky,
                const float* kg, int D, int64_t ld, const ColRange* r, int nr);
// Step 10's sums: acc[p][d] = sum over the keys k = kidx[j], j < m, of w[p][k] * c_p(col_k, d) (vy, vg [ld][D]).
void mix_powers(float* const* acc, const float* const* w, const bool* need, int n_pow, bool mismatch, const float* vy,
                const float* vg, const int64_t* col, const int32_t* kidx, int64_t m, int D);
// Steps 6-7 of one K block: sb[k] = sum over the active powers p < np, from 0, of (alpha[p] dec[p][k]) dot[p][k],
// plus off[k] (off may be null).
void block_charges(float* sb, const float* const* dot, const float* const* dec, const float* alpha, const bool* active,
                   int np, const float* off, int64_t n);
// Step 8 of one K block: the pulse min(max(sb / S_sat, 0), 1) (S_sat per key, or sat_c when sat is null) sets S and
// P (first block) or adds to them (P at most 1).
void block_pulses(float* s, float* p, const float* sb, const float* sat, float sat_c, int64_t n, bool first);
// Steps 6-8 and the weights of a one-block read in one pass: s[k] = S (block_charges' sum, plus noise[k] when
// given), p[k] = P, w[j][k] = P dec[j][k]. A power j with dot[j] null has the same dot dot_c[j] for every key (y^0
// without mismatch: the sum of the query pulses).
void charges_to_weights(float* s, float* p, float* const* w, const float* const* dot, const float* dot_c,
                        const float* const* dec, const float* alpha, const bool* active, int np, const float* off,
                        const float* noise, const float* sat, float sat_c, int64_t n);
// w[k] = p[k] * dec[k].
void scale_by(float* w, const float* p, const float* dec, int64_t n);
// kidx[0, m) = the keys k in [k0, k1), in order, whose pulse p[k] is not 0 (NaN included; -0 counts as 0); returns
// m. Writes up to kKeySlack entries past kidx[m].
constexpr int kKeySlack = 16;
int64_t nonzero_keys(int32_t* kidx, const float* p, int64_t k0, int64_t k1);
// a[d] += alpha * b[d].
void add_scaled(float* a, float alpha, const float* b, int D);
// Step 11's ADC inputs: x[d] = A[d] / a_fs, then x (1 + gain[d]) + off[d] with the ADC's errors (gain, off null
// without them).
void adc_inputs(float* x, const float* A, int D, float a_fs, const float* gain, const float* off);

}  // namespace gaincell
