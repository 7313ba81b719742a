#include "core/simd.h"

#include <atomic>

namespace gaincell {
namespace {

std::atomic<bool> g_allowed{true};

}  // namespace

bool avx512_kernels() {
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
  static const bool has = __builtin_cpu_supports("avx512f");
  return has && g_allowed.load(std::memory_order_relaxed);
#else
  return false;
#endif
}

void set_avx512_kernels(bool allowed) {
  g_allowed.store(allowed, std::memory_order_relaxed);
}

}  // namespace gaincell
