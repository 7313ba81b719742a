#include "tokenizer/vocab_files.h"

#include <filesystem>

#include "core/error.h"
#include "core/file.h"

namespace gaincell {
namespace {

constexpr size_t kMaxFileBytes = size_t{256} << 20;
constexpr uint32_t kMaxMappedCodePoint = 256 + 68;

std::array<uint32_t, 256> make_byte_to_code_point() {
  std::array<uint32_t, 256> cp{};
  uint32_t extra = 0;
  for (uint32_t b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    cp[b] = printable ? b : 256 + extra++;
  }
  return cp;
}

// code point -> byte, or -1 for code points that stand for no byte.
std::array<int16_t, kMaxMappedCodePoint> make_code_point_to_byte() {
  std::array<int16_t, kMaxMappedCodePoint> inv;
  inv.fill(-1);
  for (int b = 0; b < 256; ++b) inv[byte_to_code_point()[b]] = static_cast<int16_t>(b);
  return inv;
}

// A token as written in the files (each byte as its bytes_to_unicode character).
std::string display(const std::string& bytes) {
  std::string out;
  for (unsigned char b : bytes) append_utf8(out, byte_to_code_point()[b]);
  return out;
}

void load_vocab(std::string_view text, const std::string& path, VocabTables& t) {
  const auto entries = parse_vocab_json(text, path);
  if (entries.empty())
    fail_expected("tokenizer", "a non-empty vocabulary", "an empty JSON object", "in '" + path + "'");
  const int64_t size = static_cast<int64_t>(entries.size());
  t.token_bytes.assign(size, std::string());
  std::vector<char> seen(size, 0);
  std::string bytes;
  for (const auto& [key, id] : entries) {
    const std::string where = "for token '" + key + "' in '" + path + "'";
    if (id < 0 || id >= size)
      fail_expected("tokenizer", "an id in [0, " + std::to_string(size) + ")", std::to_string(id), where);
    if (seen[id]) fail_expected("tokenizer", "unique ids", "id " + std::to_string(id) + " twice", where);
    if (!unicode_token_to_bytes(key, &bytes))
      fail_expected("tokenizer", "a token in GPT-2 byte-to-unicode form", "other characters", where);
    if (!t.id_of_bytes.emplace(bytes, static_cast<int32_t>(id)).second)
      fail_expected("tokenizer", "unique tokens", "a duplicate key", where);
    seen[id] = 1;
    t.token_bytes[id] = bytes;
  }
  int missing = 0, first_missing = -1;
  for (int b = 0; b < 256; ++b) {
    auto it = t.id_of_bytes.find(std::string(1, char(b)));
    t.byte_id[b] = it == t.id_of_bytes.end() ? -1 : it->second;
    if (t.byte_id[b] < 0 && missing++ == 0) first_missing = b;
  }
  if (missing)
    fail_expected("tokenizer", "all 256 byte tokens", std::to_string(256 - missing),
                  "in '" + path + "' (missing e.g. '" + display(std::string(1, char(first_missing))) + "' for byte " +
                      std::to_string(first_missing) + ")");
}

int32_t merge_part_id(const VocabTables& t, std::string_view part, const std::string& line_where,
                      const std::string& vocab_path) {
  std::string bytes;
  if (!unicode_token_to_bytes(part, &bytes))
    fail_expected("tokenizer", "merge parts in GPT-2 byte-to-unicode form", quoted(part), line_where);
  auto it = t.id_of_bytes.find(bytes);
  if (it == t.id_of_bytes.end())
    fail("tokenizer",
         "inconsistent files: '" + std::string(part) + "' " + line_where + " is not a token of '" + vocab_path + "'");
  return it->second;
}

void add_merge_line(std::string_view line, int32_t rank, const std::string& line_where, const std::string& vocab_path,
                    const VocabTables& t, MergeTable& merges) {
  const size_t space = line.find(' ');
  if (space == std::string_view::npos || space == 0 || space + 1 == line.size() ||
      line.find(' ', space + 1) != std::string_view::npos)
    fail_expected("tokenizer", "a merge 'A B' (two parts, one space)", quoted(line), line_where);
  const std::string_view a = line.substr(0, space), b = line.substr(space + 1);
  const int32_t ia = merge_part_id(t, a, line_where, vocab_path), ib = merge_part_id(t, b, line_where, vocab_path);
  auto it = t.id_of_bytes.find(t.token_bytes[ia] + t.token_bytes[ib]);
  if (it == t.id_of_bytes.end())
    fail("tokenizer", "inconsistent files: the result of merge '" + std::string(line) + "' " + line_where +
                          " is not a token of '" + vocab_path + "'");
  if (!merges.add(ia, ib, {rank, it->second}))
    fail_expected("tokenizer", "each merge once", quoted(line) + " again", line_where);
}

void load_merges(std::string_view text, const std::string& path, const std::string& vocab_path, const VocabTables& t,
                 MergeTable& merges) {
  std::string_view rest(text);
  size_t line_no = 1, eol = rest.find('\n');
  const std::string_view header = rest.substr(0, eol);
  if (header.substr(0, 8) != "#version")
    fail_expected("tokenizer", "a first line '#version: ...'",
                  text.empty() ? "an empty file" : quoted(header.substr(0, 40)), "in '" + path + "'");
  rest = eol == std::string_view::npos ? std::string_view() : rest.substr(eol + 1);
  int32_t rank = 0;
  while (!rest.empty()) {
    ++line_no;
    eol = rest.find('\n');
    std::string_view line = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? std::string_view() : rest.substr(eol + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    add_merge_line(line, rank++, "at line " + std::to_string(line_no) + " of '" + path + "'", vocab_path, t, merges);
  }
}

// Every multi-byte token must come out of some merge, except special tokens "<|...|>"; otherwise the
// merges file is truncated or belongs to another vocabulary.
void check_reachable(const std::string& vocab_path, const std::string& merges_path, const VocabTables& t,
                     const MergeTable& merges) {
  std::vector<char> produced(t.token_bytes.size(), 0);
  for (const auto& [pair, rule] : merges.rules()) produced[rule.result] = 1;
  for (size_t id = 0; id < t.token_bytes.size(); ++id) {
    const std::string& bytes = t.token_bytes[id];
    const bool special =
        bytes.size() >= 4 && bytes.compare(0, 2, "<|") == 0 && bytes.compare(bytes.size() - 2, 2, "|>") == 0;
    if (bytes.size() < 2 || produced[id] || special) continue;
    fail("tokenizer", "inconsistent files: token '" + display(bytes) + "' (id " + std::to_string(id) + ") of '" +
                          vocab_path + "' is neither a byte nor the result of a merge in '" + merges_path +
                          "' (merges file truncated or from another vocabulary?)");
  }
}

}  // namespace

// Maps a token string from the files back to raw bytes; false if it has a character that stands for no byte.
bool unicode_token_to_bytes(std::string_view token, std::string* bytes) {
  static const std::array<int16_t, kMaxMappedCodePoint> inv = make_code_point_to_byte();
  bytes->clear();
  for (size_t i = 0; i < token.size();) {
    const unsigned char b0 = token[i];
    uint32_t cp;
    if (b0 < 0x80) {
      cp = b0, i += 1;
    } else if ((b0 & 0xE0) == 0xC0 && i + 1 < token.size() && (token[i + 1] & 0xC0) == 0x80) {
      cp = ((b0 & 0x1F) << 6) | (token[i + 1] & 0x3F), i += 2;
    } else {
      return false;
    }
    if (cp >= kMaxMappedCodePoint || inv[cp] < 0 || (cp >= 0x80) != (b0 >= 0x80)) return false;  // no overlongs
    bytes->push_back(static_cast<char>(inv[cp]));
  }
  return !bytes->empty();
}

std::string read_tokenizer_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) fail("tokenizer", "missing file '" + path + "'");
  try {
    return read_file(path, kMaxFileBytes);
  } catch (const Error& e) {
    fail("tokenizer", std::string("cannot read '") + path + "': " + e.what());
  }
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6)), out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12)), out += char(0x80 | ((cp >> 6) & 0x3F)), out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18)), out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F)), out += char(0x80 | (cp & 0x3F));
  }
}

std::string quoted(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('\'');
  out.append(s);
  out.push_back('\'');
  return out;
}

const std::array<uint32_t, 256>& byte_to_code_point() {
  static const std::array<uint32_t, 256> table = make_byte_to_code_point();
  return table;
}

VocabTables load_vocab_tables(const std::string& vocab_path, const std::string& merges_path) {
  const std::string vocab_text = read_tokenizer_file(vocab_path);
  const std::string merges_text = read_tokenizer_file(merges_path);
  return parse_vocab_tables(vocab_text, merges_text, vocab_path, merges_path);
}

VocabTables parse_vocab_tables(std::string_view vocab_text, std::string_view merges_text, const std::string& vocab_path,
                               const std::string& merges_path) {
  VocabTables t;
  load_vocab(vocab_text, vocab_path, t);
  t.merges = parse_merges(t, merges_text, vocab_path, merges_path);
  return t;
}

MergeTable parse_merges(const VocabTables& vocab, std::string_view merges_text, const std::string& vocab_path,
                        const std::string& merges_path) {
  MergeTable merges;
  load_merges(merges_text, merges_path, vocab_path, vocab, merges);
  check_reachable(vocab_path, merges_path, vocab, merges);
  return merges;
}

}  // namespace gaincell
