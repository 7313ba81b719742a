// libFuzzer main for one parser: compiled once per target with GAINCELL_FUZZ_TARGET naming it (CMakeLists.txt).
// A clean rejection (gaincell::Error) is fine; any other exception, and a GAINCELL_ASSERT failure (component
// "internal"), escapes and libFuzzer reports a crash.
#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "fuzz/fuzz_entries.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const gaincell::fuzz::FuzzTarget* target = gaincell::fuzz::find_fuzz_target(GAINCELL_FUZZ_TARGET);
  try {
    target->entry(data, size);
  } catch (const gaincell::Error& e) {
    if (e.component() == "internal") throw;
  }
  return 0;
}
