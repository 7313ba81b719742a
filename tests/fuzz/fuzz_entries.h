// One entry point per fuzzed parser: each feeds raw bytes to the parser exactly as a file's contents would
// reach it, then touches what the parser returned. An entry either returns or throws gaincell::Error (a clean
// rejection); anything else (another exception, a sanitizer report, a crash) is a bug. The libFuzzer targets
// (fuzz_target.cpp) and the GoogleTest replay of corpus and regressions (tests/unit/fuzz_regression_test.cpp)
// call the same entries. See docs/reliability.md.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace gaincell::fuzz {

using FuzzEntry = void (*)(const uint8_t* data, size_t size);

struct FuzzTarget {
  const char* name;  // also the folder name under tests/fuzz/corpus and tests/fuzz/regressions
  FuzzEntry entry;
};

// Every target, in a fixed order.
const std::vector<FuzzTarget>& fuzz_targets();
// The target named `name`; nullptr if none.
const FuzzTarget* find_fuzz_target(const std::string& name);

}  // namespace gaincell::fuzz
