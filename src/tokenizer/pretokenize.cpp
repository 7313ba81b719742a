#include "tokenizer/pretokenize.h"

#include "tokenizer/unicode_class.h"

namespace gaincell {
namespace {

// Length of a contraction ('s 't 're 've 'm 'll 'd, lowercase only) at text[pos] == '\'', else 0.
size_t contraction_len(std::string_view text, size_t pos) {
  const size_t left = text.size() - pos - 1;
  if (left >= 1) {
    const char c = text[pos + 1];
    if (c == 's' || c == 't' || c == 'm' || c == 'd') return 2;
  }
  if (left >= 2) {
    const std::string_view two = text.substr(pos + 1, 2);
    if (two == "re" || two == "ve" || two == "ll") return 3;
  }
  return 0;
}

// End of the run of characters of class cls starting at pos.
size_t run_end(std::string_view text, size_t pos, CharClass cls) {
  while (pos < text.size()) {
    const Utf8Char ch = utf8_char_at(text, pos);
    if (ch.cls != cls) break;
    pos += ch.len;
  }
  return pos;
}

// \s+(?!\S)|\s+ at pos: the whole run if it reaches the end of text; otherwise the run without its
// last character, or that single character when the run has only one.
size_t space_end(std::string_view text, size_t pos) {
  size_t last_start = pos, end = pos;
  while (end < text.size()) {
    const Utf8Char ch = utf8_char_at(text, end);
    if (ch.cls != CharClass::kSpace) break;
    last_start = end;
    end += ch.len;
  }
  if (end == text.size()) return end;
  return last_start > pos ? last_start : end;
}

}  // namespace

size_t pretoken_end(std::string_view text, size_t pos) {
  if (text[pos] == '\'') {
    const size_t n = contraction_len(text, pos);
    if (n) return pos + n;
  }
  Utf8Char ch = utf8_char_at(text, pos);
  size_t start = pos;
  if (text[pos] == ' ' && pos + 1 < text.size()) {  // the optional leading space of ` ?X+`
    const Utf8Char next = utf8_char_at(text, pos + 1);
    if (next.cls != CharClass::kSpace) ch = next, start = pos + 1;
  }
  if (ch.cls == CharClass::kSpace) return space_end(text, pos);
  return run_end(text, start + ch.len, ch.cls);
}

std::vector<std::string_view> pretokenize(std::string_view text) {
  std::vector<std::string_view> pieces;
  for (size_t pos = 0; pos < text.size();) {
    const size_t end = pretoken_end(text, pos);
    pieces.push_back(text.substr(pos, end - pos));
    pos = end;
  }
  return pieces;
}

}  // namespace gaincell
