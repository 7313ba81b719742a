// Threading behind one interface (style R9): parallel_for over an index range, OpenMP underneath.
// Work is split statically, so which thread computes which index never depends on timing; kernels that
// reduce across indices must still combine partial results in a fixed order to stay bit-reproducible.
#pragma once
#include <omp.h>

#include <algorithm>
#include <cstdint>

namespace gaincell {

// Sets the number of OpenMP worker threads; n <= 0 means all hardware threads. The BLAS thread count is
// set together with it by kernels::set_compute_threads, which callers should prefer.
void set_num_threads(int n);
int num_threads();

// Calls fn(i) for i in [begin, end), in parallel, static schedule. `work` estimates the total cost in
// elementary operations; below kParallelMinWork the loop runs on the calling thread, because a parallel
// region costs microseconds (far more on a loaded machine) and decode-time kernels are tiny.
constexpr int64_t kParallelMinWork = 1 << 15;
template <typename F>
void parallel_for(int64_t begin, int64_t end, F&& fn, int64_t work = INT64_MAX) {
#pragma omp parallel for schedule(static) if (work >= kParallelMinWork && end - begin > 1)
  for (int64_t i = begin; i < end; ++i) fn(i);
}

// f(i) for i in [0, n) of an elementwise kernel (~20 operations each), in blocks of 4096 spread over the threads.
template <typename F>
void parallel_elementwise(int64_t n, const F& f) {
  parallel_for(
      0, (n + 4095) / 4096,
      [&](int64_t blk) {
        const int64_t end = std::min<int64_t>(n, (blk + 1) * 4096);
        for (int64_t i = blk * 4096; i < end; ++i) f(i);
      },
      n * 20);
}

}  // namespace gaincell
