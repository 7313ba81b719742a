#include "tokenizer/pretokenize.h"

#include "tokenizer/unicode_class.h"

namespace gaincell {
namespace {

// Length of a contraction ('s 't 're 've 'm 'll 'd) at text[pos] == '\'', else 0. GPT-2 matches lowercase
// only; Llama 3 and Qwen2 match (?i:...), which for these ASCII letters is upper or lower case.
size_t contraction_len(std::string_view text, size_t pos, bool any_case) {
  auto lower = [any_case](char c) { return any_case && c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
  const size_t left = text.size() - pos - 1;
  if (left >= 1) {
    const char c = lower(text[pos + 1]);
    if (c == 's' || c == 't' || c == 'm' || c == 'd') return 2;
  }
  if (left >= 2) {
    const char two[2] = {lower(text[pos + 1]), lower(text[pos + 2])};
    const std::string_view s(two, 2);
    if (s == "re" || s == "ve" || s == "ll") return 3;
  }
  return 0;
}

// End of the run of characters of class cls starting at pos, at most max_chars characters.
size_t run_end(std::string_view text, size_t pos, CharClass cls, size_t max_chars = size_t(-1)) {
  for (size_t n = 0; pos < text.size() && n < max_chars; ++n) {
    const Utf8Char ch = utf8_char_at(text, pos);
    if (ch.cls != cls) break;
    pos += ch.len;
  }
  return pos;
}

bool is_cr_lf(char c) {
  return c == '\r' || c == '\n';
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

size_t gpt2_end(std::string_view text, size_t pos) {
  if (text[pos] == '\'') {
    const size_t n = contraction_len(text, pos, false);
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

// The Llama 3 / Qwen2 pattern; max_digits is 3 (Llama 3) or 1 (Qwen2).
size_t llama3_end(std::string_view text, size_t pos, size_t max_digits) {
  if (text[pos] == '\'') {  // (?i:'s|'t|'re|'ve|'m|'ll|'d)
    const size_t n = contraction_len(text, pos, true);
    if (n) return pos + n;
  }
  const Utf8Char ch = utf8_char_at(text, pos);
  if (ch.cls == CharClass::kLetter) return run_end(text, pos, CharClass::kLetter);  // [^\r\n\p{L}\p{N}]?\p{L}+
  const size_t next = pos + ch.len;
  const bool has_next = next < text.size();
  const Utf8Char nx = has_next ? utf8_char_at(text, next) : Utf8Char{CharClass::kOther, 0};
  if (ch.cls != CharClass::kNumber && !is_cr_lf(text[pos]) && has_next && nx.cls == CharClass::kLetter)
    return run_end(text, next, CharClass::kLetter);
  if (ch.cls == CharClass::kNumber) return run_end(text, pos, CharClass::kNumber, max_digits);  // \p{N}{1,3}
  // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
  size_t other = std::string_view::npos;
  if (ch.cls == CharClass::kOther)
    other = pos;
  else if (text[pos] == ' ' && has_next && nx.cls == CharClass::kOther)
    other = next;
  if (other != std::string_view::npos) {
    size_t end = run_end(text, other, CharClass::kOther);
    while (end < text.size() && is_cr_lf(text[end])) ++end;
    return end;
  }
  // ch is white space. \s*[\r\n]+: up to and including the last \r or \n of the white-space run.
  size_t end = pos, last_cr_lf = std::string_view::npos;
  while (end < text.size()) {
    const Utf8Char c = utf8_char_at(text, end);
    if (c.cls != CharClass::kSpace) break;
    if (is_cr_lf(text[end])) last_cr_lf = end;
    end += c.len;
  }
  if (last_cr_lf != std::string_view::npos) return last_cr_lf + 1;
  return space_end(text, pos);  // \s+(?!\S)|\s+
}

size_t digits_end(std::string_view text, size_t pos, bool individual) {
  const Utf8Char ch = utf8_char_at(text, pos);
  if (ch.cls == CharClass::kNumber) return individual ? pos + ch.len : run_end(text, pos, CharClass::kNumber);
  size_t end = pos;
  while (end < text.size()) {
    const Utf8Char c = utf8_char_at(text, end);
    if (c.cls == CharClass::kNumber) break;
    end += c.len;
  }
  return end;
}

}  // namespace

size_t pretoken_end(std::string_view text, size_t pos, SplitPattern pattern) {
  switch (pattern) {
    case SplitPattern::kLlama3:
      return llama3_end(text, pos, 3);
    case SplitPattern::kQwen2:
      return llama3_end(text, pos, 1);
    case SplitPattern::kDigits:
      return digits_end(text, pos, true);
    case SplitPattern::kDigitRuns:
      return digits_end(text, pos, false);
    case SplitPattern::kGpt2:
      break;
  }
  return gpt2_end(text, pos);
}

std::vector<std::string_view> pretokenize(std::string_view text, SplitPattern pattern) {
  std::vector<std::string_view> pieces;
  for (size_t pos = 0; pos < text.size();) {
    const size_t end = pretoken_end(text, pos, pattern);
    pieces.push_back(text.substr(pos, end - pos));
    pos = end;
  }
  return pieces;
}

}  // namespace gaincell
