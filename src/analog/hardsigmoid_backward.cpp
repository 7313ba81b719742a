// Backward of the software HardSigmoid attention out_i = sum_{j in window(i)} clip(q_i.k_j / sqrt(D), 0, 1) v_j.
#include <algorithm>
#include <cmath>

#include "analog/hardsigmoid_attention.h"

namespace gaincell {

void hardsigmoid_head_backward(float* dq, float* dk, float* dv, const float* dout, int64_t ld_out, const float* q,
                               const float* k, const float* v, int64_t ld, int T, int D, int window) {
  const float scale = 1.0f / std::sqrt(float(D));
  for (int t = 0; t < T; ++t)
    for (int d = 0; d < D; ++d) dq[t * ld + d] = dk[t * ld + d] = dv[t * ld + d] = 0.0f;
  for (int i = 0; i < T; ++i) {
    const float* qi = q + i * ld;
    const float* go = dout + i * ld_out;
    float* gq = dq + i * ld;
    for (int j = std::max(0, i - window + 1); j <= i; ++j) {
      const float* kj = k + j * ld;
      const float* vj = v + j * ld;
      float s = 0.0f, dp = 0.0f;
      for (int d = 0; d < D; ++d) {
        s += qi[d] * kj[d];
        dp += go[d] * vj[d];
      }
      const float x = s * scale, p = std::min(std::max(x, 0.0f), 1.0f);
      float* gv = dv + j * ld;
      for (int d = 0; d < D; ++d) gv[d] += p * go[d];
      if (x < 0.0f || x > 1.0f) continue;  // clip: no gradient outside [0, 1]
      const float ds = dp * scale;
      float* gk = dk + j * ld;
      for (int d = 0; d < D; ++d) {
        gq[d] += ds * kj[d];
        gk[d] += ds * qi[d];
      }
    }
  }
}

}  // namespace gaincell
