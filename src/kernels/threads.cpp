#include "kernels/threads.h"

#include "core/parallel.h"

#if GAINCELL_WITH_OPENBLAS
#include <cblas.h>
#endif

namespace gaincell {

void set_compute_threads(int n) {
  set_num_threads(n);
#if GAINCELL_WITH_OPENBLAS
  openblas_set_num_threads(num_threads());
#endif
}

std::string gemm_backend_name() {
#if GAINCELL_WITH_OPENBLAS
  return std::string("OpenBLAS ") + openblas_get_config() + " core=" + openblas_get_corename();
#else
  return "naive";
#endif
}

}  // namespace gaincell
