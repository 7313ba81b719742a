// The BPE tokenizer of a Hugging Face tokenizer.json, as loaded by hf_tokenizer.cpp. Token strings are held
// as the bytes they stand for (byte-level vocabularies are mapped back from bytes_to_unicode at load time).
// Internal to src/tokenizer.
#pragma once
#include <array>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tokenizer/backend.h"
#include "tokenizer/bpe.h"
#include "tokenizer/pretokenize.h"

namespace gaincell {

struct HfNormStep {
  enum Kind { kPrepend, kReplace, kNfc } kind;
  std::string a, b;  // Prepend: a = prefix; Replace: a -> b
};

struct HfPreStep {
  enum Kind { kSplit, kPrefixSpace } kind;
  SplitPattern pattern;
  bool add_prefix_space;  // ByteLevel add_prefix_space: a piece not starting with ' ' gets one first
};

struct HfAddedToken {
  std::string content;
  int32_t id;
  bool special, lstrip, rstrip;
};

class HfBpeTokenizer : public TokenizerBackend {
 public:
  std::vector<int32_t> encode(std::string_view text) const override;
  std::string decode(const std::vector<int32_t>& ids) const override;
  std::string decode_one(int32_t id) const override;
  int32_t vocab_size() const override { return static_cast<int32_t>(token.size()); }
  const char* kind() const override { return byte_level ? "tokenizer.json (byte-level BPE)" : "tokenizer.json (BPE)"; }
  // Builds the first-byte index of the added tokens (after `added` is complete).
  void index_added_tokens();

  // Pipeline.
  std::vector<HfNormStep> normalizer;
  std::vector<HfPreStep> pre_tokenizer;
  bool byte_level = false;
  // Model.
  std::vector<std::string> token;  // id -> bytes (added tokens beyond the model vocabulary: their content)
  std::vector<char> present, is_added;
  std::unordered_map<std::string, int32_t> id_of;  // model vocabulary only
  MergeTable merges;
  std::array<int32_t, 256> byte_id{};      // byte-level: the id of each single-byte token, -1 if none
  std::array<int32_t, 256> fallback_id{};  // byte fallback: the id of <0xXX>, -1 if none
  bool byte_fallback = false, ignore_merges = false, fuse_unk = false;
  int32_t unk_id = -1;
  std::vector<HfAddedToken> added;
  std::array<std::vector<int32_t>, 256> added_by_first_byte;  // indices into `added`, longest content first
  // Decoder.
  std::vector<std::pair<std::string, std::string>> decode_replace;
  bool decode_byte_fallback = false;
  std::string strip_content;
  int strip_start = 0, strip_stop = 0;

 private:
  void encode_section(std::string_view section, std::vector<int32_t>& out) const;
  void encode_piece(std::string_view piece, std::vector<int32_t>& out) const;
  std::string token_text(int32_t id) const;
};

// Canonical composition (NFC) of UTF-8 text; invalid UTF-8 bytes pass through unchanged (unicode_nfc.cpp).
std::string nfc_normalize(std::string_view text);

}  // namespace gaincell
