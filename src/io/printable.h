// Internal to src/io: renders bytes read from a file for a one-line error message (style R15).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace gaincell {

// s in single quotes, cut after max_chars ("..." marks the cut), bytes outside printable ASCII as \xNN, so a
// hostile name or header cannot break the message over lines.
inline std::string quoted_printable(std::string_view s, size_t max_chars = 40) {
  static const char kHex[] = "0123456789abcdef";
  std::string out = "'";
  for (char c : s.substr(0, max_chars)) {
    if (c >= 0x20 && c < 0x7f) {
      out += c;
    } else {
      uint8_t b = static_cast<uint8_t>(c);
      out += std::string("\\x") + kHex[b >> 4] + kHex[b & 15];
    }
  }
  return out + (s.size() > max_chars ? "...'" : "'");
}

}  // namespace gaincell
