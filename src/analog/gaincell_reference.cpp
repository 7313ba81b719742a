#include "analog/gaincell_reference.h"

#include <algorithm>
#include <cmath>

namespace gaincell {
namespace {

bool in_window(int i, int j, int window) {
  return j <= i && j >= std::max(0, i - window + 1);
}

float ipow(float y, int p) {
  float r = 1.0f;
  for (int e = 0; e < p; ++e) r *= y;
  return r;
}

}  // namespace

void reference_first_product(float* S, const float* qp, const float* y, int T, int D, const CellPoly& poly,
                             double lambda, int window) {
  std::vector<float> decay = make_decay_table(lambda, poly.n, T);
  for (int i = 0; i < T; ++i)
    for (int j = 0; j < T; ++j) {
      float s = 0.0f;
      if (in_window(i, j, window)) {
        for (int p = 0; p < poly.n; ++p) {
          if (!poly.active[p]) continue;
          float dot = 0.0f;
          for (int d = 0; d < D; ++d) dot = std::fma(qp[i * D + d], ipow(y[j * D + d], p), dot);  // fused
          s += poly.alpha[p] * decay[size_t(p) * T + (i - j)] * dot;
        }
      }
      S[size_t(i) * T + j] = s;  // step 6: masked entries are 0
    }
}

void reference_charge_to_pulse(float* P, const float* S, int64_t n, float s_sat) {
  for (int64_t e = 0; e < n; ++e) P[e] = std::min(std::max(S[e] / s_sat, 0.0f), 1.0f);
}

void reference_second_product(float* out, const float* P, const float* y, int T, int D, const CellPoly& poly,
                              double lambda, int window, int cols, bool ring_tiles, const Quantizer& adc, float a_fs) {
  std::vector<float> decay = make_decay_table(lambda, poly.n, T);
  int n_tiles = ring_tiles ? (std::min(window, T) + cols - 1) / cols : (T + cols - 1) / cols;
  std::vector<float> acc(size_t(n_tiles) * D);
  for (int i = 0; i < T; ++i) {
    for (int d = 0; d < D; ++d) out[i * D + d] = 0.0f;
    for (int tile = 0; tile < n_tiles; ++tile) {
      bool any = false;
      std::vector<float> A(D, 0.0f);
      for (int p = 0; p < poly.n; ++p) {
        if (!poly.active[p]) continue;
        std::vector<float> sum(D, 0.0f);
        // Keys of this tile in slot order (for ring tiles: the order of the physical array's rows).
        for (int slot = 0; slot < T; ++slot) {
          int j = slot;
          if (ring_tiles) {  // the key held in physical slot `slot` when query i reads
            if (slot >= window) break;
            int base = (i / window) * window;
            j = base + slot <= i ? base + slot : base + slot - window;
            if (j < 0) continue;
          }
          int t = (ring_tiles ? j % window : j) / cols;
          if (t != tile || !in_window(i, j, window)) continue;
          any = true;
          float w = P[size_t(i) * T + j] * decay[size_t(p) * T + (i - j)];
          for (int d = 0; d < D; ++d) sum[d] = std::fma(w, ipow(y[j * D + d], p), sum[d]);  // fused
        }
        for (int d = 0; d < D; ++d) A[d] += poly.alpha[p] * sum[d];
      }
      if (!any) continue;  // an array without keys in the window is not read
      for (int d = 0; d < D; ++d) out[i * D + d] += adc(A[d] / a_fs);  // steps 10-11
    }
  }
}

void reference_gaincell_head(float* out, const float* q, const float* k, const float* v, int T, int D,
                             const ReferenceHeadParams& p, std::vector<float>* S_out, std::vector<float>* P_out) {
  std::vector<float> qp(size_t(T) * D), yk(size_t(T) * D), yv(size_t(T) * D);
  for (int t = 0; t < T; ++t) {  // steps 1-4
    query_pulses(&qp[t * D], &q[t * D], D, p.a_q, p.b_q, p.cv);
    stored_voltages(&yk[t * D], &k[t * D], D, p.a_k, p.b_k, p.cv);
    stored_voltages(&yv[t * D], &v[t * D], D, p.a_v, p.b_v, p.cv);
  }
  for (auto& x : yk) x -= p.cv.v_offset;
  for (auto& x : yv) x -= p.cv.v_offset;
  std::vector<float> S(size_t(T) * T), P(size_t(T) * T);
  if (p.digital_row_sum && D > p.rows) {  // each stacked K array converts its own charge; pulses add digitally
    std::fill(S.begin(), S.end(), 0.0f);
    std::fill(P.begin(), P.end(), 0.0f);
    for (int r0 = 0; r0 < D; r0 += p.rows) {
      const int Db = std::min(p.rows, D - r0);
      std::vector<float> qb(size_t(T) * Db), yb(size_t(T) * Db), Sb(size_t(T) * T), Pb(size_t(T) * T);
      for (int t = 0; t < T; ++t)
        for (int d = 0; d < Db; ++d) {
          qb[size_t(t) * Db + d] = qp[size_t(t) * D + r0 + d];
          yb[size_t(t) * Db + d] = yk[size_t(t) * D + r0 + d];
        }
      reference_first_product(Sb.data(), qb.data(), yb.data(), T, Db, p.poly, p.lambda, p.window);
      reference_charge_to_pulse(Pb.data(), Sb.data(), int64_t(T) * T, p.cv.s_sat);
      for (size_t e = 0; e < S.size(); ++e) {
        S[e] += Sb[e];
        P[e] = std::min(P[e] + Pb[e], 1.0f);
      }
    }
  } else {
    reference_first_product(S.data(), qp.data(), yk.data(), T, D, p.poly, p.lambda, p.window);
    reference_charge_to_pulse(P.data(), S.data(), int64_t(T) * T, p.cv.s_sat);
  }
  reference_second_product(out, P.data(), yv.data(), T, D, p.poly, p.lambda, p.window, p.cols, p.ring_tiles, p.cv.adc,
                           p.cv.a_fs);
  float a = scale_of(p.a_out);
  for (int64_t e = 0; e < int64_t(T) * D; ++e) out[e] = a * out[e] + p.b_out;  // step 12
  if (S_out) *S_out = std::move(S);
  if (P_out) *P_out = std::move(P);
}

}  // namespace gaincell
