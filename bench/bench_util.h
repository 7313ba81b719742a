// Shared helpers of the benchmarks: machine description, the machine's ceilings (fp32 FMA peak, memory
// bandwidth) measured in the same run, and result validation against a reference (style R23).
#pragma once
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>

namespace gaincell::bench {

std::string cpu_model();     // "model name" of /proc/cpuinfo
std::string load_average();  // first three fields of /proc/loadavg
bool has_avx2_fma();         // CPUID check guarding the *_avx2.cpp kernels
bool has_avx512f();          // CPUID check guarding the *_avx512.cpp kernel
// "avx512" where the CPU has AVX-512 (the FMA peak is then its 16-lane FMA's), "avx2", or "none".
const char* fma_peak_isa();

// Ceilings for `threads` threads, measured once per process on first use (median of 7 runs), in GFLOP/s and
// GB/s (stream convention: triad moves 12 bytes per element; the read kernel 4). The FMA peak is that of the
// widest FMA the CPU has (fma_peak_isa()): x_peak / peak_frac counters are fractions of it.
double fma_peak_gflops(int threads);
double triad_gbs(int threads);
double read_gbs(int threads);

// One run of each ceiling kernel on `threads` threads; returns the rate of that run.
double run_fma_peak_gflops(int threads);
double run_triad_gbs(int threads);
double run_read_gbs(int threads);

// Sets OpenMP and BLAS threads and records the count on the benchmark.
void use_threads(benchmark::State& state, int threads);
// Adds "min" and "max" to the mean/median/stddev aggregates of a repeated benchmark (best time = min, best
// rate = max).
void add_min_statistic(benchmark::internal::Benchmark* b);
// Skips the benchmark with a message when validation failed (the run then reports the error, no timing).
bool validation_failed(benchmark::State& state, const std::string& error);

// Deterministic pseudo-random floats in [-1, 1) (a fixed LCG, so runs are comparable).
void fill_uniform(float* x, int64_t n, uint64_t seed);

}  // namespace gaincell::bench

// The AVX2+FMA kernels (bench/ceilings_avx2.cpp); call only after has_avx2_fma().
namespace gaincell::bench::avx2 {
// 12 independent FMA chains of 8 lanes for `iters` iterations: 192 flops per iteration. Returns a sum so the
// work cannot be optimised away.
float fma_chains(int64_t iters, float seed);
// a = b + s * c over n floats (n a multiple of 8).
void triad(float* a, const float* b, const float* c, float s, int64_t n);
// Sum of n floats (n a multiple of 32), four vector accumulators.
float read_sum(const float* x, int64_t n);
}  // namespace gaincell::bench::avx2

// The AVX-512 FMA peak kernel (bench/ceilings_avx512.cpp); call only after has_avx512f().
namespace gaincell::bench::avx512 {
// 12 independent FMA chains of 16 lanes for `iters` iterations: 384 flops per iteration.
float fma_chains(int64_t iters, float seed);
}  // namespace gaincell::bench::avx512
