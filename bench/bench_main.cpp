// gaincell_bench: Google Benchmark main plus the context every result needs (style R23): CPU, GEMM kernel,
// thread counts, OPENBLAS_CORETYPE and OMP_WAIT_POLICY as found, load average, measured ceilings.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "bench_util.h"
#include "kernels/bf16.h"
#include "kernels/gemm.h"
#include "kernels/gemm_bf16.h"
#include "kernels/threads.h"

namespace {

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v ? v : fallback;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace gaincell::bench;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  // GAINCELL_BENCH_GEMM=openblas|dnnl|loops runs every benchmark on one GEMM library (A/B of the whole engine);
  // unset: the build's default per shape class (kernels/gemm.h).
  const std::string lib = env_or("GAINCELL_BENCH_GEMM", "");
  if (!lib.empty()) {
    if (lib != "openblas" && lib != "dnnl" && lib != "loops") {
      std::fprintf(stderr, "gaincell_bench: error: GAINCELL_BENCH_GEMM expected openblas|dnnl|loops, got %s\n",
                   lib.c_str());
      return 1;
    }
    gaincell::set_gemm_library(lib == "openblas" ? gaincell::GemmLibrary::kOpenBlas
                               : lib == "dnnl"   ? gaincell::GemmLibrary::kDnnl
                                                 : gaincell::GemmLibrary::kLoops);
  }
  // GAINCELL_BENCH_PRECISION=f32|bf16: the projections' precision (bf16: the engine benchmarks hold the
  // projection weights in bf16, as the CLI's --precision bf16 does). GAINCELL_BENCH_BF16=dnnl|portable forces the
  // bf16 kernel (unset: oneDNN's bf16 matmul where the CPU has it).
  const std::string precision = env_or("GAINCELL_BENCH_PRECISION", "f32");
  const std::string bf16 = env_or("GAINCELL_BENCH_BF16", "");
  try {
    gaincell::set_matmul_precision(gaincell::parse_matmul_precision(precision));
    if (!bf16.empty()) {
      if (bf16 != "dnnl" && bf16 != "portable") {
        std::fprintf(stderr, "gaincell_bench: error: GAINCELL_BENCH_BF16 expected dnnl|portable, got %s\n",
                     bf16.c_str());
        return 1;
      }
      gaincell::set_bf16_kernel(bf16 == "dnnl" ? gaincell::Bf16Kernel::kDnnl : gaincell::Bf16Kernel::kPortable);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gaincell_bench: error: %s\n", e.what());
    return 1;
  }
  benchmark::AddCustomContext("precision", precision);
  benchmark::AddCustomContext("cpu_model", cpu_model());
  benchmark::AddCustomContext("gemm_backend", gaincell::gemm_backend_name());
  benchmark::AddCustomContext("OPENBLAS_CORETYPE", env_or("OPENBLAS_CORETYPE", "(unset)"));
  benchmark::AddCustomContext("OMP_WAIT_POLICY", env_or("OMP_WAIT_POLICY", "(unset)"));
  benchmark::AddCustomContext("GOMP_SPINCOUNT", env_or("GOMP_SPINCOUNT", "(unset)"));
  benchmark::AddCustomContext("avx2_fma", has_avx2_fma() ? "yes" : "no");
  benchmark::AddCustomContext("fma_peak_isa", fma_peak_isa());
  benchmark::AddCustomContext("loadavg_at_start", load_average());
  std::fprintf(stderr, "gemm backend: %s\n", gaincell::gemm_backend_name().c_str());
  benchmark::RunSpecifiedBenchmarks();
  std::fprintf(stderr, "loadavg at end: %s\n", load_average().c_str());
  benchmark::Shutdown();
  return 0;
}
