// The machine's ceilings, measured in the same run as the kernels they bound: fp32 FMA peak (AVX2, 12
// independent chains) and memory bandwidth (stream triad, and a read-only sum closer to what decoding does).
#include <cmath>
#include <string>
#include <vector>

#include "bench_util.h"

namespace gaincell::bench {
namespace {

std::string check_fma_kernel() {
  if (!has_avx2_fma()) return "CPU lacks AVX2+FMA";
  const int64_t iters = 1000;
  double want = 0;
  for (int k = 0; k < 12; ++k) {
    float a = 1.0f + k;
    for (int64_t i = 0; i < iters; ++i) a = std::fma(a, 0.999f, 1e-3f);
    want += 8.0 * a;
  }
  float got = avx2::fma_chains(iters, 1.0f);
  if (std::fabs(got - want) > 1e-5 * std::fabs(want))
    return "fma_chains " + std::to_string(got) + " vs " + std::to_string(want);
  if (has_avx512f()) {  // 16 lanes per chain: twice the AVX2 sum
    got = avx512::fma_chains(iters, 1.0f);
    if (std::fabs(got - 2 * want) > 1e-5 * std::fabs(2 * want))
      return "avx512 fma_chains " + std::to_string(got) + " vs " + std::to_string(2 * want);
  }
  return "";
}

std::string check_stream_kernels() {
  if (!has_avx2_fma()) return "CPU lacks AVX2+FMA";
  constexpr int64_t n = 1024;
  alignas(32) float a[n], b[n], c[n];
  fill_uniform(b, n, 5);
  fill_uniform(c, n, 6);
  avx2::triad(a, b, c, 0.5f, n);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (a[i] != std::fma(0.5f, c[i], b[i])) return "triad element " + std::to_string(i);
    sum += b[i];
  }
  float got = avx2::read_sum(b, n);
  if (std::fabs(got - sum) > 1e-5 * n) return "read_sum " + std::to_string(got) + " vs " + std::to_string(sum);
  return "";
}

void BM_FmaPeak(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  if (validation_failed(state, check_fma_kernel())) return;
  state.counters["threads"] = threads;
  run_fma_peak_gflops(threads);  // warm-up
  double gflops = 0;
  for (auto _ : state) gflops = run_fma_peak_gflops(threads);
  state.counters["GFLOP/s"] = gflops;
  state.SetLabel(fma_peak_isa());
}

void BM_StreamTriad(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  if (validation_failed(state, check_stream_kernels())) return;
  state.counters["threads"] = threads;
  run_triad_gbs(threads);
  double gbs = 0;
  for (auto _ : state) gbs = run_triad_gbs(threads);
  state.counters["GB/s"] = gbs;
}

void BM_ReadBandwidth(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  if (validation_failed(state, check_stream_kernels())) return;
  state.counters["threads"] = threads;
  run_read_gbs(threads);
  double gbs = 0;
  for (auto _ : state) gbs = run_read_gbs(threads);
  state.counters["GB/s"] = gbs;
}

void ceiling_args(benchmark::internal::Benchmark* b) {
  b->ArgName("threads")->Arg(1)->Arg(2)->Iterations(1)->Repetitions(7)->ReportAggregatesOnly(true);
  b->Unit(benchmark::kMillisecond);
  add_min_statistic(b);
}

BENCHMARK(BM_FmaPeak)->Apply(ceiling_args);
BENCHMARK(BM_StreamTriad)->Apply(ceiling_args);
BENCHMARK(BM_ReadBandwidth)->Apply(ceiling_args);

}  // namespace
}  // namespace gaincell::bench
