// One call sets the thread count of every parallel layer: OpenMP (parallel_for) and the BLAS library.
#pragma once
#include <string>

namespace gaincell {

// n <= 0: all hardware threads.
void set_compute_threads(int n);
// Which GEMM runs ("OpenBLAS 0.3.21 (Haswell core)", "naive"), for benchmark and info output.
std::string gemm_backend_name();

}  // namespace gaincell
