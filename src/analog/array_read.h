// The arrays of one head and one read of them (the fast path shared by the training form and the streaming
// decoder). Column c of the K store / row c of the V store holds one token, written at position
// written_at[c]. A read drives the query pulses, integrates each K column (with leakage by age), converts
// to pulses, integrates the V columns array by array and digitises each array with its ADC (paper-spec
// §2.4 steps 5-11). The float operation order mirrors gaincell_reference.cpp so both agree bit for bit.
#pragma once
#include <cstdint>
#include <vector>

#include "analog/cell_model.h"
#include "analog/mismatch.h"
#include "analog/quant_histograms.h"
#include "core/simd.h"  // GAINCELL_SIMD_CLONES

namespace gaincell {

// Zero floats after the last K row, so that vector loads of a row's last columns stay inside the allocation
// (16-float vectors).
constexpr int kColumnSlack = 16;

// A row stride for planes of `columns` floats read down their columns: rounded up to 16 floats and to an odd
// number of 64-byte lines, so that 64 consecutive rows fall in 64 different L1 sets (a stride of 1 KiB or 4 KiB
// puts them in 4 sets or 1, and a walk down a column misses L1).
inline int64_t column_stride(int64_t columns) {
  const int64_t s = (columns + 15) / 16 * 16;
  return s / 16 % 2 == 0 ? s + 16 : s;
}

// Stored cell values of one head: the offset-removed voltage y of every cell, K transposed as the array holds
// it (ky [D][k_ld], columns [0, ld) used) and V as rows (vy [ld][D]); with cell mismatch also the gains (1 + g) (kg,
// vg) and the offset currents (k_off, v_off). The powers (1 + g) y^p are formed on the fly by the reads with the
// reference's multiplications (((1*y)*y)*y, then (1 + g) times that), so storing y alone costs no bits.
struct HeadCells {
  int D = 0;
  int64_t ld = 0;    // columns
  int64_t k_ld = 0;  // row stride of the K planes: column_stride(ld)
  int n_pow = 0;
  bool mismatch = false;
  bool need[kMaxPowers] = {};  // power p is read from the cells (else p = 0 without mismatch: y^0 = 1)
  std::vector<float> ky, vy, kg, vg;
  std::vector<float> k_off, v_off;
  std::vector<int64_t> written_at;   // [ld], -1 = never written
  std::vector<uint8_t> v_nonfinite;  // [ld], the V column holds a NaN or an infinity
  int64_t n_v_nonfinite = 0;         // columns with v_nonfinite set
  // Columns [0, consecutive_end) hold the tokens consecutive_base, consecutive_base + 1, ... (the training form
  // writes token t into column t; the decoder until its window wraps): a read of one range inside them knows
  // every key's time and tile without looking (read_cells).
  int64_t consecutive_end = 0, consecutive_base = 0;

  void init(int dim, int64_t columns, const CellPoly& poly, bool with_mismatch);
  // Writes offset-removed voltages yk, yv [D] of token t into column col (physical slot `slot`).
  void write(int64_t col, int64_t t, const float* yk, const float* yv, const CellPoly& poly, const HeadMismatch* mm,
             int64_t slot);
};

// Constants of the reads of one head.
struct ReadConfig {
  const CellPoly* poly = nullptr;
  const Converters* cv = nullptr;
  const float* decay = nullptr;  // make_decay_table(lambda, poly->n, n_ages)
  // Optional: decay with each power's row reversed, decay_reversed[p * n_ages + j] = decay[p * n_ages + n_ages -
  // 1 - j]. When the keys of a read were written at consecutive times with no refresh since the first (the
  // training form, and the decoder until its window wraps), their delta^p is one contiguous run of it: no age
  // and no table look-up per key.
  const float* decay_reversed = nullptr;
  int64_t n_ages = 0;
  int window = 1024, cols = 64;
  int rows = 64;                      // K rows per array (array.rows)
  bool digital_row_sum = false;       // D > rows: each stacked K array converts its own charge (array.row_sum)
  bool ring = false;                  // array of a column = (written_at mod window) / cols, else written_at / cols
  int refresh = 0;                    // > 0: cells are restored every `refresh` tokens
  const HeadMismatch* mm = nullptr;   // d2d values, or null
  const Rng* c2c = nullptr;           // c2c stream of (layer, sequence, head), or null when read noise is off
  double sigma_s = 0, sigma_a = 0;    // read noise on S and A (uA x T_max)
  double snr_s_db = 0, snr_a_db = 0;  // read noise relative to the signal (dB, 0 = off; needs c2c)
  QuantHistograms* hist = nullptr;    // converter histograms of this (sequence, head), or null
};

struct ColRange {
  int64_t c0 = 0, c1 = 0;  // columns [c0, c1), read in this order
};

struct ReadScratch {
  std::vector<float> dot[kMaxPowers], w[kMaxPowers], acc[kMaxPowers];
  std::vector<float> dec[kMaxPowers];  // delta_k^p of each key's age
  std::vector<float> s, p, dot_off, a;
  // One K block's charges (a one-block read: the read noise on S), per-key S_sat, ADC inputs, ADC codes.
  std::vector<float> s_blk, s_sat, x, code;
  std::vector<int32_t> age, kidx;
  std::vector<double> noise;       // read-noise draws of one read (keys or dims)
  std::vector<uint64_t> noise_at;  // their addresses
  std::vector<int64_t> col, group;
};

struct ReadStats {
  int64_t keys = 0;    // columns read (keys in the window)
  int64_t arrays = 0;  // arrays (ADC groups) read
};

// dst[k] = sum_d q[d] * m[d * ld + col_k] for the columns of the ranges, in order (k counts on across ranges).
// Each sum runs d = 0, 1, ... in order, as a scalar loop does, vectorized over the columns (AVX2 where the
// CPU has it), each product added with one rounding: the same bits as `for d: s = fmaf(q[d], m[d * ld + c], s)`. Reads
// up to 7 floats past a range's last column (give m kColumnSlack floats of padding after its last row).
void dot_by_columns(float* dst, const float* q, const float* m, int D, int64_t ld, const ColRange* ranges,
                    int n_ranges);

// out[D] = sum over arrays of ADC(A_array / a_fs) for query pulses q[D] at time `now`. `dots` (optional, only
// for reads without a digital row sum): dots[p] holds, for each power p the cells need, this query's step-5 sums
// over the keys of the ranges in read order, and with mismatch dots[poly.n] the offset currents' sums
// (query_block_dots computes them).
ReadStats read_cells(float* out, const float* q, int64_t now, const ColRange* ranges, int n_ranges,
                     const HeadCells& cells, const ReadConfig& rc, ReadScratch& scr,
                     const float* const* dots = nullptr);

// Step 5 of Q queries (qp [Q][D]) over the columns [c0, c1) in one pass (the y^p formed once for all of them),
// the bits read_cells computes for each query alone: out[(j * slots + p) * (c1 - c0) + k] for the powers with
// cells.need[p], key k = column c0 + k, and with mismatch the offset sums at p = poly.n (slots =
// query_dot_slots).
void query_block_dots(float* out, const float* qp, int Q, int64_t c0, int64_t c1, const HeadCells& cells,
                      const CellPoly& poly);
inline int query_dot_slots(const HeadCells& cells, const CellPoly& poly) {
  return poly.n + (cells.mismatch ? 1 : 0);
}

}  // namespace gaincell
