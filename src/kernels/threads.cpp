#include "kernels/threads.h"

#include "core/parallel.h"
#include "kernels/bf16.h"
#include "kernels/gemm.h"

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
  const GemmLibrary one_row = gemm_library_for_rows(1), rows = gemm_library_for_rows(256);
  std::string name = one_row == rows
                         ? gemm_library_label(rows, 256)
                         : "rows: " + gemm_library_label(rows, 256) + "; 1 row: " + gemm_library_label(one_row, 1);
  if (gemm_library_available(GemmLibrary::kDnnl) && one_row != GemmLibrary::kDnnl && rows != GemmLibrary::kDnnl)
    name += " (oneDNN built in, not selected: " + gemm_library_label(GemmLibrary::kDnnl, 256) + ")";
  if (matmul_precision() == MatmulPrecision::kBf16) name += "; bf16 projections: " + bf16_projection_label(256);
  return name;
}

}  // namespace gaincell
