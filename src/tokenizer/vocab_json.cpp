// A small strict parser for the one JSON shape a GPT-2 vocabulary has: {"token": id, ...}.
#include <cstdio>

#include "core/error.h"
#include "tokenizer/vocab_files.h"

namespace gaincell {
namespace {

class VocabJsonParser {
 public:
  VocabJsonParser(std::string_view text, const std::string& path) : s_(text), path_(path) {}

  std::vector<std::pair<std::string, int64_t>> parse() {
    std::vector<std::pair<std::string, int64_t>> entries;
    skip_space();
    expect('{', "a JSON object '{'");
    skip_space();
    if (peek() == '}') return finish(entries);
    for (;;) {
      skip_space();
      std::string key = parse_string();
      skip_space();
      expect(':', "':' after a key");
      skip_space();
      entries.emplace_back(std::move(key), parse_int());
      skip_space();
      if (peek() == '}') return finish(entries);
      expect(',', "',' or '}'");
    }
  }

 private:
  std::vector<std::pair<std::string, int64_t>>& finish(std::vector<std::pair<std::string, int64_t>>& entries) {
    ++pos_;
    skip_space();
    if (pos_ != s_.size()) error("end of file after the object", describe_here());
    return entries;
  }

  [[noreturn]] void error(const std::string& expected, const std::string& got) const {
    fail_expected("tokenizer", expected, got, "at byte " + std::to_string(pos_) + " of '" + path_ + "'");
  }
  std::string describe_here() const {
    if (pos_ >= s_.size()) return "end of file";
    const unsigned char c = s_[pos_];
    if (c >= 0x20 && c < 0x7F) return std::string("'") + char(c) + "'";
    char buf[16];
    std::snprintf(buf, sizeof buf, "byte 0x%02X", c);
    return buf;
  }
  int peek() const { return pos_ < s_.size() ? static_cast<unsigned char>(s_[pos_]) : -1; }
  void expect(char c, const std::string& what) {
    if (peek() != static_cast<unsigned char>(c)) error(what, describe_here());
    ++pos_;
  }
  void skip_space() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\r' || s_[pos_] == '\t')) ++pos_;
  }

  uint32_t parse_hex4() {
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      const int c = peek();
      int d = c >= '0' && c <= '9'   ? c - '0'
              : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                     : -1;
      if (d < 0) error("4 hex digits after \\u", describe_here());
      v = v * 16 + d, ++pos_;
    }
    return v;
  }

  uint32_t parse_escape() {
    const int c = peek();
    ++pos_;
    switch (c) {
      case '"':
        return '"';
      case '\\':
        return '\\';
      case '/':
        return '/';
      case 'b':
        return '\b';
      case 'f':
        return '\f';
      case 'n':
        return '\n';
      case 'r':
        return '\r';
      case 't':
        return '\t';
      case 'u':
        break;
      default:
        --pos_, error("a JSON escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u)", describe_here());
    }
    uint32_t cp = parse_hex4();
    if (cp >= 0xDC00 && cp <= 0xDFFF) error("a high surrogate before a low one", "a lone low surrogate");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      if (peek() != '\\' || pos_ + 1 >= s_.size() || s_[pos_ + 1] != 'u')
        error("a low surrogate \\uDCxx", describe_here());
      pos_ += 2;
      const uint32_t lo = parse_hex4();
      if (lo < 0xDC00 || lo > 0xDFFF) error("a low surrogate \\uDC00-\\uDFFF", "another code unit");
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    return cp;
  }

  std::string parse_string() {
    expect('"', "a string key '\"'");
    std::string out;
    for (;;) {
      const int c = peek();
      if (c < 0) error("a closing '\"'", "end of file");
      ++pos_;
      if (c == '"') return out;
      if (c < 0x20) --pos_, error("no control characters inside a string", describe_here());
      if (c == '\\')
        append_utf8(out, parse_escape());
      else
        out += char(c);
    }
  }

  int64_t parse_int() {
    const size_t start = pos_;
    if (peek() == '-') ++pos_;
    if (peek() < '0' || peek() > '9') pos_ = start, error("an integer token id", describe_value());
    int64_t v = 0;
    while (peek() >= '0' && peek() <= '9') {
      if (v > (int64_t{1} << 40)) pos_ = start, error("an id that fits in 32 bits", describe_value());
      v = v * 10 + (s_[pos_++] - '0');
    }
    if (peek() == '.' || peek() == 'e' || peek() == 'E') pos_ = start, error("an integer token id", describe_value());
    return s_[start] == '-' ? -v : v;
  }

  // A short excerpt of the value at pos_, for messages.
  std::string describe_value() const {
    if (pos_ >= s_.size()) return "end of file";
    size_t end = pos_;
    while (end < s_.size() && end - pos_ < 16 && s_[end] != ',' && s_[end] != '}' && s_[end] != '\n') ++end;
    return quoted(s_.substr(pos_, end - pos_));
  }

  std::string_view s_;
  const std::string& path_;
  size_t pos_ = 0;
};

}  // namespace

std::vector<std::pair<std::string, int64_t>> parse_vocab_json(std::string_view text, const std::string& path) {
  return VocabJsonParser(text, path).parse();
}

}  // namespace gaincell
