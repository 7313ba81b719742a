// GFLOP/s of GPT-2 124M's matmul shapes through matmul_forward / matmul_transposed_forward, next to a plain
// cblas_sgemm call of the same shape and the FMA peak measured in this run (counter peak_frac).
// Args: rows N (1 = decoding, 64 / 256 = prompt), shape index (kShapes), threads. BM_Matmul runs the default
// library of the build (kernels/gemm.h), BM_MatmulOpenBlas / BM_MatmulDnnl force one; the label names the
// kernel that ran (OpenBLAS's core, oneDNN's implementation string and ISA).
#include <cmath>
#include <map>
#include <memory>
#include <string>

#include "bench_util.h"
#include "core/buffer.h"
#include "kernels/gemm.h"
#include "kernels/ops.h"

#if GAINCELL_WITH_OPENBLAS
#include <cblas.h>
#endif

namespace gaincell::bench {
namespace {

struct Shape {
  const char* name;
  int64_t K, M;
  bool transposed;  // lm_head: out = x @ wte^T with wte [M, K]
};
constexpr Shape kShapes[] = {{"c_attn", 768, 2304, false},
                             {"c_proj", 768, 768, false},
                             {"c_fc", 768, 3072, false},
                             {"mlp_proj", 3072, 768, false},
                             {"lm_head", 768, 50257, true}};

struct Operands {
  AlignedBuffer<float> x, out;
};
struct Weights {
  AlignedBuffer<float> w, bias;
};
// Weights per shape and activations per (N, shape), allocated and touched once.
Weights& weights_of(int s) {
  static std::map<int, std::unique_ptr<Weights>> cache;
  auto& w = cache[s];
  if (!w) {
    w = std::make_unique<Weights>();
    w->w.resize(kShapes[s].K * kShapes[s].M);
    fill_uniform(w->w.data(), w->w.size(), 10 + s);
    w->bias.resize(kShapes[s].M);
    fill_uniform(w->bias.data(), w->bias.size(), 20 + s);
  }
  return *w;
}
const float* weights(int s) {
  return weights_of(s).w.data();
}
const float* bias_of(int s) {
  return weights_of(s).bias.data();
}

Operands& operands(int64_t N, int s) {
  static std::map<std::pair<int64_t, int>, std::unique_ptr<Operands>> cache;
  auto& o = cache[{N, s}];
  if (!o) {
    o = std::make_unique<Operands>();
    o->x.resize(N * kShapes[s].K);
    fill_uniform(o->x.data(), o->x.size(), 30 + s + N);
    o->out.resize(N * kShapes[s].M);
    o->out.zero();
  }
  return *o;
}

void run_ours(int64_t N, int s) {
  const Shape& sh = kShapes[s];
  Operands& o = operands(N, s);
  if (sh.transposed)
    matmul_transposed_forward(o.out.data(), o.x.data(), weights(s), N, sh.K, sh.M);
  else
    matmul_forward(o.out.data(), o.x.data(), weights(s), bias_of(s), N, sh.K, sh.M);
}

// Rows 0 and N-1 against a double-precision loop; per element |err| <= 2 K eps sum_k |x_k w_k| + 1e-6.
std::string check_ours(int64_t N, int s) {
  const Shape& sh = kShapes[s];
  run_ours(N, s);
  const Operands& o = operands(N, s);
  const float* w = weights(s);
  const float* bias = sh.transposed ? nullptr : bias_of(s);
  for (int64_t n : {int64_t{0}, N - 1}) {
    for (int64_t m = 0; m < sh.M; ++m) {
      double acc = bias ? bias[m] : 0.0, mag = std::fabs(acc);
      for (int64_t k = 0; k < sh.K; ++k) {
        double p = double(o.x[n * sh.K + k]) * (sh.transposed ? w[m * sh.K + k] : w[k * sh.M + m]);
        acc += p;
        mag += std::fabs(p);
      }
      const double err = std::fabs(o.out[n * sh.M + m] - acc);
      const double bound = 2.0 * sh.K * 1.1920929e-7 * mag + 1e-6;
      if (!(err <= bound))
        return std::string(sh.name) + " row " + std::to_string(n) + " col " + std::to_string(m) + ": got " +
               std::to_string(o.out[n * sh.M + m]) + " want " + std::to_string(acc) + " bound " + std::to_string(bound);
    }
  }
  return "";
}

void set_rate_counters(benchmark::State& state, int64_t N, int s, int threads, const std::string& kernel) {
  const Shape& sh = kShapes[s];
  const double flops = 2.0 * N * sh.K * sh.M;
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["peak_frac"] =
      benchmark::Counter(flops / (fma_peak_gflops(threads) * 1e9), benchmark::Counter::kIsIterationInvariantRate);
  // Bytes of weights streamed per second (the bound of decoding, N = 1).
  state.counters["wGB/s"] = benchmark::Counter(4e-9 * sh.K * sh.M, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(std::string(sh.name) + (kernel.empty() ? "" : " " + kernel));
}

void run_matmul(benchmark::State& state, GemmLibrary lib) {
  const int64_t N = state.range(0);
  const int s = static_cast<int>(state.range(1)), threads = static_cast<int>(state.range(2));
  use_threads(state, threads);
  set_gemm_library(lib);
  if (validation_failed(state, check_ours(N, s))) return;
  for (int i = 0; i < 3; ++i) run_ours(N, s);  // warm-up
  for (auto _ : state) run_ours(N, s);
  set_rate_counters(state, N, s, threads, gemm_library_label(gemm_library_for_rows(N), N));
  set_gemm_library(GemmLibrary::kAuto);
}

void BM_Matmul(benchmark::State& state) {
  run_matmul(state, GemmLibrary::kAuto);
}
#if GAINCELL_WITH_OPENBLAS
void BM_MatmulOpenBlas(benchmark::State& state) {
  run_matmul(state, GemmLibrary::kOpenBlas);
}
#endif
#if GAINCELL_WITH_DNNL
void BM_MatmulDnnl(benchmark::State& state) {
  run_matmul(state, GemmLibrary::kDnnl);
}
#endif

#if GAINCELL_WITH_OPENBLAS
// Plain cblas_sgemm of the same shape (no bias, no N = 1 special case): what BLAS gives without our wrapper.
void BM_Cblas(benchmark::State& state) {
  const int64_t N = state.range(0);
  const int s = static_cast<int>(state.range(1)), threads = static_cast<int>(state.range(2));
  const Shape& sh = kShapes[s];
  use_threads(state, threads);
  Operands& o = operands(N, s);
  const float* w = weights(s);
  auto run = [&] {
    if (sh.transposed)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, sh.M, sh.K, 1.0f, o.x.data(), sh.K, w, sh.K, 0.0f,
                  o.out.data(), sh.M);
    else
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, sh.M, sh.K, 1.0f, o.x.data(), sh.K, w, sh.M, 0.0f,
                  o.out.data(), sh.M);
  };
  run();
  float want = 0;  // element (N-1, M-1) against a double loop
  double acc = 0;
  for (int64_t k = 0; k < sh.K; ++k)
    acc += double(o.x[(N - 1) * sh.K + k]) * (sh.transposed ? w[(sh.M - 1) * sh.K + k] : w[k * sh.M + sh.M - 1]);
  want = static_cast<float>(acc);
  const float got = o.out[N * sh.M - 1];
  if (validation_failed(state, std::fabs(got - want) > 1e-3f * (1.0f + std::fabs(want))
                                   ? "cblas_sgemm " + std::to_string(got) + " vs " + std::to_string(want)
                                   : ""))
    return;
  for (int i = 0; i < 3; ++i) run();
  for (auto _ : state) run();
  set_rate_counters(state, N, s, threads, "cblas_sgemm");
}
#endif

void matmul_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"N", "shape", "threads"});
  for (int threads : {1, 2})
    for (int64_t N : {1, 64, 256})
      for (int s = 0; s < 5; ++s) b->Args({N, s, threads});
  // Wall-clock time: the main thread's CPU time misses the OpenMP workers and the time lost to other load.
  b->UseRealTime()->MinTime(0.2)->Repetitions(5)->ReportAggregatesOnly(true)->Unit(benchmark::kMicrosecond);
  add_min_statistic(b);
}

BENCHMARK(BM_Matmul)->Apply(matmul_args);
#if GAINCELL_WITH_OPENBLAS
BENCHMARK(BM_MatmulOpenBlas)->Apply(matmul_args);
BENCHMARK(BM_Cblas)->Apply(matmul_args);
#endif
#if GAINCELL_WITH_DNNL
BENCHMARK(BM_MatmulDnnl)->Apply(matmul_args);
#endif

}  // namespace
}  // namespace gaincell::bench
