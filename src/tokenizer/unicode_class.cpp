#include "tokenizer/unicode_class.h"

#include <algorithm>
#include <array>

namespace gaincell {
namespace {

constexpr std::array<CharClass, 128> make_ascii_table() {
  std::array<CharClass, 128> t{};
  for (int c = 0; c < 128; ++c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
      t[c] = CharClass::kLetter;
    else if (c >= '0' && c <= '9')
      t[c] = CharClass::kNumber;
    else if (c == ' ' || (c >= 0x09 && c <= 0x0D))
      t[c] = CharClass::kSpace;
    else
      t[c] = CharClass::kOther;
  }
  return t;
}
constexpr std::array<CharClass, 128> kAscii = make_ascii_table();

}  // namespace

CharClass char_class(uint32_t code_point) {
  if (code_point < 128) return kAscii[code_point];
  using unicode_detail::kRangeCount;
  using unicode_detail::kRanges;
  const auto* end = kRanges + kRangeCount;
  // First range whose last >= code_point.
  const auto* it = std::lower_bound(kRanges, end, code_point,
                                    [](const unicode_detail::CodePointRange& r, uint32_t cp) { return r.last < cp; });
  if (it != end && it->first <= code_point) return it->cls;
  return CharClass::kOther;
}

const char* unicode_tables_version() {
  return unicode_detail::kUnicodeVersion;
}

Utf8Char utf8_char_at(std::string_view text, size_t pos) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  const unsigned char b0 = s[pos];
  if (b0 < 0x80) return {kAscii[b0], 1};
  const Utf8Char invalid{CharClass::kOther, 1};
  int len;
  uint32_t cp, min_cp;
  if (b0 >= 0xC2 && b0 <= 0xDF)
    len = 2, cp = b0 & 0x1F, min_cp = 0x80;
  else if (b0 >= 0xE0 && b0 <= 0xEF)
    len = 3, cp = b0 & 0x0F, min_cp = 0x800;
  else if (b0 >= 0xF0 && b0 <= 0xF4)
    len = 4, cp = b0 & 0x07, min_cp = 0x10000;
  else
    return invalid;
  if (pos + len > n) return invalid;
  for (int k = 1; k < len; ++k) {
    const unsigned char b = s[pos + k];
    if ((b & 0xC0) != 0x80) return invalid;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min_cp || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return invalid;
  return {char_class(cp), static_cast<uint8_t>(len)};
}

}  // namespace gaincell
