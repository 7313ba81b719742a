#include "bench_util.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <vector>

#include "core/buffer.h"
#include "kernels/threads.h"

namespace gaincell::bench {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Three 64 MiB arrays (twice the 32 MiB L3), allocated and first touched once per process.
constexpr int64_t kStreamFloats = int64_t{1} << 24;
struct StreamArrays {
  AlignedBuffer<float> a{kStreamFloats}, b{kStreamFloats}, c{kStreamFloats};
  StreamArrays() {
    fill_uniform(a.data(), kStreamFloats, 1);
    fill_uniform(b.data(), kStreamFloats, 2);
    fill_uniform(c.data(), kStreamFloats, 3);
  }
};
StreamArrays& stream_arrays() {
  static StreamArrays s;
  return s;
}

double cached(std::map<int, double>& cache, int threads, double (*run)(int)) {
  auto it = cache.find(threads);
  if (it != cache.end()) return it->second;
  run(threads);  // warm-up
  std::vector<double> v;
  for (int r = 0; r < 7; ++r) v.push_back(run(threads));
  return cache[threads] = median_of(v);
}

}  // namespace

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

std::string load_average() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a + " " + b + " " + c;
}

bool has_avx2_fma() {
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

bool has_avx512f() {
  return __builtin_cpu_supports("avx512f") && has_avx2_fma();
}

const char* fma_peak_isa() {
  return has_avx512f() ? "avx512" : has_avx2_fma() ? "avx2" : "none";
}

void fill_uniform(float* x, int64_t n, uint64_t seed) {
  uint64_t s = seed * 6364136223846793005ULL + 1442695040888963407ULL;
  for (int64_t i = 0; i < n; ++i) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    x[i] = static_cast<float>(static_cast<double>(s >> 40) / double(1 << 23) - 1.0);
  }
}

double run_fma_peak_gflops(int threads) {
  if (!has_avx2_fma()) return 0.0;
  constexpr int64_t kIters = 20'000'000;
  const bool wide = has_avx512f();
  std::vector<float> sink(threads);
  auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads)
  sink[omp_get_thread_num()] = wide ? avx512::fma_chains(kIters, 1.0f + omp_get_thread_num())
                                    : avx2::fma_chains(kIters, 1.0f + omp_get_thread_num());
  double s = seconds_since(t0);
  benchmark::DoNotOptimize(sink.data());
  return (wide ? 384.0 : 192.0) * kIters * threads / s * 1e-9;
}

double run_triad_gbs(int threads) {
  if (!has_avx2_fma()) return 0.0;
  StreamArrays& st = stream_arrays();
  constexpr int kPasses = 4;
  auto t0 = std::chrono::steady_clock::now();
  for (int p = 0; p < kPasses; ++p) {
#pragma omp parallel num_threads(threads)
    {
      int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
      int64_t b = kStreamFloats / 8 * t / nt * 8, e = kStreamFloats / 8 * (t + 1) / nt * 8;
      avx2::triad(st.a.data() + b, st.b.data() + b, st.c.data() + b, 0.5f, e - b);
    }
  }
  double s = seconds_since(t0);
  return 12.0 * kStreamFloats * kPasses / s * 1e-9;
}

double run_read_gbs(int threads) {
  if (!has_avx2_fma()) return 0.0;
  StreamArrays& st = stream_arrays();
  constexpr int kPasses = 4;
  std::vector<float> sink(threads);
  auto t0 = std::chrono::steady_clock::now();
  for (int p = 0; p < kPasses; ++p) {
#pragma omp parallel num_threads(threads)
    {
      int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
      int64_t b = kStreamFloats / 32 * t / nt * 32, e = kStreamFloats / 32 * (t + 1) / nt * 32;
      // The three arrays read back to back: 192 MiB per pass, far beyond the caches.
      sink[t] += avx2::read_sum(st.a.data() + b, e - b) + avx2::read_sum(st.b.data() + b, e - b) +
                 avx2::read_sum(st.c.data() + b, e - b);
    }
  }
  double s = seconds_since(t0);
  benchmark::DoNotOptimize(sink.data());
  return 12.0 * kStreamFloats * kPasses / s * 1e-9;
}

double fma_peak_gflops(int threads) {
  static std::map<int, double> cache;
  return cached(cache, threads, run_fma_peak_gflops);
}
double triad_gbs(int threads) {
  static std::map<int, double> cache;
  return cached(cache, threads, run_triad_gbs);
}
double read_gbs(int threads) {
  static std::map<int, double> cache;
  return cached(cache, threads, run_read_gbs);
}

void use_threads(benchmark::State& state, int threads) {
  set_compute_threads(threads);
  state.counters["threads"] = threads;
}

void add_min_statistic(benchmark::internal::Benchmark* b) {
  b->ComputeStatistics("min", [](const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); });
  b->ComputeStatistics("max", [](const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); });
}

bool validation_failed(benchmark::State& state, const std::string& error) {
  if (error.empty()) return false;
  state.SkipWithError(("validation failed: " + error).c_str());
  for (auto _ : state) {
  }
  return true;
}

}  // namespace gaincell::bench
