// One call sets the thread count of every parallel layer: OpenMP (parallel_for) and the BLAS library.
#pragma once
#include <string>

namespace gaincell {

// n <= 0: all hardware threads.
void set_compute_threads(int n);
// Which GEMM runs, for benchmark and info output: the library of each shape class (kernels/gemm.h
// gemm_library_label: "OpenBLAS 0.3.21 ... core=Zen", "oneDNN 2.6.3 gemm:jit isa=avx2", "loops"), and oneDNN's
// implementation when it is built in but not selected; under MatmulPrecision::kBf16 also what computes the bf16
// projections (kernels/bf16.h bf16_projection_label).
std::string gemm_backend_name();

}  // namespace gaincell
