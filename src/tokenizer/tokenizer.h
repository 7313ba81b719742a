// GPT-2 byte-level BPE tokenizer, bit-exact with OpenAI's encoder.py / the npm gpt-3-encoder: the GPT-2
// pre-tokenization pattern, the bytes_to_unicode table, merge ranks. "<|endoftext|>" in text is plain
// text (as encode_ordinary); use start_id() to insert the separator id.
// A folder may instead hold a byte tokenizer (tokenizer.json = {"type": "bytes"}): ids are the 256 byte
// values, for small models trained from scratch (docs/tokenizer.md).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace gaincell {

class Tokenizer {
 public:
  static constexpr int32_t kEndOfText = 50256;

  // Loads vocab.json + merges.txt, or encoder.json + vocab.bpe, from a model folder. Throws
  // Error("tokenizer", ...) for missing, truncated or inconsistent files.
  static Tokenizer from_dir(const std::string& dir);
  // Loads from explicit files (vocab = encoder.json/vocab.json, merges = vocab.bpe/merges.txt).
  static Tokenizer from_files(const std::string& vocab_path, const std::string& merges_path);
  // The 256-id byte tokenizer.
  static Tokenizer bytes();
  // Writes DIR/tokenizer.json for the byte tokenizer (atomic).
  static void write_bytes_tokenizer(const std::string& dir);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  std::vector<int32_t> encode(std::string_view text) const;
  // Decodes ids to bytes; an id outside [0, vocab_size) throws Error("tokenizer", ...).
  std::string decode(const std::vector<int32_t>& ids) const;
  std::string decode_one(int32_t id) const;
  int32_t vocab_size() const;
  bool is_bytes() const;
  // The id that starts a text or separates documents: <|endoftext|> for GPT-2, '\n' for bytes.
  int32_t start_id() const;

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace gaincell
