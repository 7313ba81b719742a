// Reading and validating GPT-2 tokenizer files: encoder.json / vocab.json (a JSON object of token string
// -> id) and vocab.bpe / merges.txt ("#version" line, then one "A B" merge per line in rank order).
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tokenizer/bpe.h"

namespace gaincell {

// s in single quotes, for error messages.
std::string quoted(std::string_view s);

// GPT-2's bytes_to_unicode(): the code point that stands for each byte in token strings.
const std::array<uint32_t, 256>& byte_to_code_point();

// Maps a token string in bytes_to_unicode form back to raw bytes; false if it has a character that stands
// for no byte (or is empty).
bool unicode_token_to_bytes(std::string_view token, std::string* bytes);
// Appends the UTF-8 encoding of code point cp (cp <= 0x10FFFF).
void append_utf8(std::string& out, uint32_t cp);
// Reads a tokenizer file of at most 256 MB; a missing or unreadable file throws Error("tokenizer", ...).
std::string read_tokenizer_file(const std::string& path);

// The tokenizer tables, with token strings already mapped back to raw bytes.
struct VocabTables {
  std::vector<std::string> token_bytes;                  // id -> bytes
  std::unordered_map<std::string, int32_t> id_of_bytes;  // bytes -> id
  std::array<int32_t, 256> byte_id{};                    // id of each single-byte token
  MergeTable merges;
};

// Parses a JSON object of string -> integer; text is named `path` in errors. Throws Error("tokenizer", ...).
std::vector<std::pair<std::string, int64_t>> parse_vocab_json(std::string_view text, const std::string& path);

// Loads and cross-checks both files. Throws Error("tokenizer", ...) naming the file and what was wrong.
VocabTables load_vocab_tables(const std::string& vocab_path, const std::string& merges_path);
// The same from the files' contents held in memory (the paths only name them in errors).
VocabTables parse_vocab_tables(std::string_view vocab_text, std::string_view merges_text, const std::string& vocab_path,
                               const std::string& merges_path);
// Only the merges file, over the vocabulary of `vocab` (its own merges are ignored): the merges checks of
// parse_vocab_tables, without re-parsing the vocabulary (the merges fuzz target).
MergeTable parse_merges(const VocabTables& vocab, std::string_view merges_text, const std::string& vocab_path,
                        const std::string& merges_path);

}  // namespace gaincell
