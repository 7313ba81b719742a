#include "train/optimizer.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/bf16.h"
#include "core/parallel.h"
#include "core/simd.h"

namespace gaincell {
namespace {
constexpr int64_t kChunk = 1 << 14;

// One chunk of the AdamW update. Separate restrict-qualified pointers let the compiler vectorise it (the
// lambda's captured references alias as far as it knows, which kept the loop scalar: 15 % of a gpt2 step), and
// the clones give it 8 or 16 lanes (sqrt and division round as the scalar ones; no contraction, src/CMakeLists.txt).
// kZero also leaves the gradient at 0 and kBf16 writes the new value rounded to bf16 (AdamWFusion): the same
// pass, so neither costs another sweep over 124 M floats.
template <bool kZero, bool kBf16>
inline __attribute__((always_inline)) void adamw_body(float* __restrict value, float* __restrict grad,
                                                      float* __restrict m, float* __restrict v,
                                                      uint16_t* __restrict bf16, int64_t n, float grad_scale,
                                                      float decay, float b1, float b2, float step_size, float bc2_sqrt,
                                                      float eps) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = grad[i] * grad_scale;
    const float p = value[i] * decay;
    const float mi = m[i] + (g - m[i]) * (1.0f - b1);
    const float vi = v[i] * b2 + (1.0f - b2) * g * g;
    m[i] = mi;
    v[i] = vi;
    const float denom = std::sqrt(vi) / bc2_sqrt + eps;
    const float next = p - step_size * (mi / denom);
    value[i] = next;
    if constexpr (kZero) grad[i] = 0.0f;
    if constexpr (kBf16) bf16[i] = to_bf16(next);
  }
}

#define GAINCELL_ADAMW_CHUNK(name, zero, bf16_out)                                                                  \
  GAINCELL_SIMD_CLONES_512 void name(float* __restrict value, float* __restrict grad, float* __restrict m,          \
                                     float* __restrict v, uint16_t* __restrict bf16, int64_t n, float grad_scale,   \
                                     float decay, float b1, float b2, float step_size, float bc2_sqrt, float eps) { \
    adamw_body<zero, bf16_out>(value, grad, m, v, bf16, n, grad_scale, decay, b1, b2, step_size, bc2_sqrt, eps);    \
  }
GAINCELL_ADAMW_CHUNK(adamw_chunk, false, false)
GAINCELL_ADAMW_CHUNK(adamw_chunk_zero, true, false)
GAINCELL_ADAMW_CHUNK(adamw_chunk_bf16, false, true)
GAINCELL_ADAMW_CHUNK(adamw_chunk_zero_bf16, true, true)
#undef GAINCELL_ADAMW_CHUNK

// The sum of squares of each chunk of kChunk gradients, in double: four lanes over i = 0, 4, 8, ..., the tail
// into lane 0, then (lane 0 + lane 1) + (lane 2 + lane 3). kGroup full chunks run interleaved (16 independent
// sums: a single chunk's four-lane chain was latency bound, 10 % of a bf16 gpt2 step), each in its own order,
// so every chunk's sum has the bits it has alone.
constexpr int64_t kGroup = 4;
GAINCELL_SIMD_CLONES_512 void chunk_square_sums(const float* g, int64_t n, double* out) {
  if (n == kGroup * kChunk) {
    double acc[kGroup][4] = {};
    for (int64_t i = 0; i < kChunk; i += 4)
      for (int64_t c = 0; c < kGroup; ++c)
        for (int l = 0; l < 4; ++l) {
          const double x = g[c * kChunk + i + l];
          acc[c][l] += x * x;
        }
    for (int64_t c = 0; c < kGroup; ++c) out[c] = (acc[c][0] + acc[c][1]) + (acc[c][2] + acc[c][3]);
    return;
  }
  for (int64_t b = 0, c = 0; b < n; b += kChunk, ++c) {  // the last, partial group: one chunk at a time
    const int64_t e = std::min(n, b + kChunk);
    double acc[4] = {0.0, 0.0, 0.0, 0.0};
    int64_t i = b;
    for (; i + 4 <= e; i += 4)
      for (int l = 0; l < 4; ++l) acc[l] += double(g[i + l]) * g[i + l];
    for (; i < e; ++i) acc[0] += double(g[i]) * g[i];
    out[c] = (acc[0] + acc[1]) + (acc[2] + acc[3]);
  }
}

}  // namespace

AdamW::AdamW(const std::vector<ParamSpan>& spans, AdamWConfig config) : spans_(spans), config_(config) {
  int64_t n = 0;
  for (const ParamSpan& s : spans_) n += s.numel;
  m_.resize(static_cast<size_t>(n));
  v_.resize(static_cast<size_t>(n));
  m_.zero();
  v_.zero();
}

void AdamW::step(float lr, int64_t t, float grad_scale, const AdamWFusion& fuse) {
  const float b1 = config_.beta1, b2 = config_.beta2, eps = config_.eps;
  const double bc1 = 1.0 - std::pow(double(b1), double(t));
  const double bc2 = 1.0 - std::pow(double(b2), double(t));
  const float step_size = static_cast<float>(lr / bc1);
  const float bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  int64_t offset = 0;
  for (const ParamSpan& s : spans_) {
    float* m = m_.data() + offset;
    float* v = v_.data() + offset;
    const float decay = s.decay ? 1.0f - lr * config_.weight_decay : 1.0f;
    // The span's bf16 copy when it lies inside the fused range (a span is inside it or outside it, as a whole).
    uint16_t* bf16 = nullptr;
    const uintptr_t at = reinterpret_cast<uintptr_t>(s.value), base = reinterpret_cast<uintptr_t>(fuse.bf16_base);
    if (fuse.bf16 && at >= base && at + uintptr_t(s.numel) * 4 <= base + uintptr_t(fuse.bf16_count) * 4)
      bf16 = fuse.bf16 + (at - base) / 4;
    auto* chunk =
        fuse.zero_grads ? (bf16 ? adamw_chunk_zero_bf16 : adamw_chunk_zero) : (bf16 ? adamw_chunk_bf16 : adamw_chunk);
    parallel_for(
        0, (s.numel + kChunk - 1) / kChunk,
        [&](int64_t c) {
          const int64_t b = c * kChunk, e = std::min(s.numel, b + kChunk);
          chunk(s.value + b, s.grad + b, m + b, v + b, bf16 ? bf16 + b : nullptr, e - b, grad_scale, decay, b1, b2,
                step_size, bc2_sqrt, eps);
        },
        s.numel * 12);
    offset += s.numel;
  }
}

double grad_norm(const std::vector<ParamSpan>& spans) {
  double total = 0.0;
  std::vector<double> partial;
  for (const ParamSpan& s : spans) {
    const int64_t chunks = (s.numel + kChunk - 1) / kChunk;
    partial.assign(static_cast<size_t>(chunks), 0.0);
    parallel_for(
        0, (chunks + kGroup - 1) / kGroup,
        [&](int64_t group) {
          const int64_t c = group * kGroup, b = c * kChunk;
          chunk_square_sums(s.grad + b, std::min(s.numel - b, kGroup * kChunk), partial.data() + c);
        },
        s.numel * 2);
    for (double p : partial) total += p;
  }
  return std::sqrt(total);
}

float clip_factor(double norm, double max_norm) {
  return max_norm > 0.0 && norm > max_norm ? static_cast<float>(max_norm / (norm + 1e-6)) : 1.0f;
}

double clip_grad_norm(const std::vector<ParamSpan>& spans, double max_norm) {
  const double norm = grad_norm(spans);
  const float coef = clip_factor(norm, max_norm);
  if (coef != 1.0f)
    for (const ParamSpan& s : spans)
      parallel_for(
          0, (s.numel + kChunk - 1) / kChunk,
          [&](int64_t c) {
            const int64_t b = c * kChunk, e = std::min(s.numel, b + kChunk);
            for (int64_t i = b; i < e; ++i) s.grad[i] *= coef;
          },
          s.numel);
  return norm;
}

float LrSchedule::at(int64_t step) const {
  if (warmup > 0 && step < warmup) return lr * static_cast<float>(step + 1) / static_cast<float>(warmup);
  const int64_t span = total_steps - 1 - warmup;
  if (span <= 0) return lr;
  const double ratio = std::min(1.0, double(step - warmup) / double(span));
  const double coeff = 0.5 * (1.0 + std::cos(M_PI * ratio));
  return static_cast<float>(min_lr + coeff * (double(lr) - min_lr));
}

}  // namespace gaincell
