#include "core/buffer.h"

#include <sys/mman.h>

namespace gaincell {

void advise_huge_pages(void* p, size_t bytes) {
#ifdef MADV_HUGEPAGE
  ::madvise(p, bytes, MADV_HUGEPAGE);  // advice only: a failure changes nothing
#else
  (void)p, (void)bytes;
#endif
}

}  // namespace gaincell
