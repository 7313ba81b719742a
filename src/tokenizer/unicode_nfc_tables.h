// Data of Unicode canonical composition, generated into unicode_nfc_tables.cpp by tools/gen_nfc_tables.py.
#pragma once
#include <cstddef>
#include <cstdint>

namespace gaincell::nfc_detail {

struct Decomp {
  uint32_t cp, first, second;  // second = 0 for a singleton decomposition
};
struct CccRange {
  uint32_t first, last, ccc;
};
struct Compose {
  uint32_t first, second, composite;
};

extern const char* const kNfcUnicodeVersion;
extern const size_t kDecompCount, kCccCount, kComposeCount;
extern const Decomp kDecomp[];
extern const CccRange kCcc[];
extern const Compose kCompose[];

}  // namespace gaincell::nfc_detail
