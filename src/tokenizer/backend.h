// The interface behind gaincell::Tokenizer for the tokenizer kinds other than GPT-2 and bytes: Hugging Face
// tokenizer.json (hf_tokenizer.h), llama2.c tokenizer.bin (llama2c_tokenizer.h) and SentencePiece
// tokenizer.model (sentencepiece_tokenizer.h). Internal to src/tokenizer.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gaincell {

// The special tokens a model's text starts or ends with, and whether encoding for the model adds them.
struct SpecialTokens {
  int32_t bos_id = -1;  // -1 when the tokenizer has none
  int32_t eos_id = -1;
  bool add_bos = false;
  bool add_eos = false;
};

class TokenizerBackend {
 public:
  virtual ~TokenizerBackend() = default;
  // The ids of text alone (no BOS/EOS added).
  virtual std::vector<int32_t> encode(std::string_view text) const = 0;
  // ids are in [0, vocab_size()) (checked by the caller).
  virtual std::string decode(const std::vector<int32_t>& ids) const = 0;
  // The bytes one token stands for, for streaming output (no start-of-text space stripping).
  virtual std::string decode_one(int32_t id) const = 0;
  virtual int32_t vocab_size() const = 0;
  virtual const char* kind() const = 0;
  SpecialTokens specials;
};

}  // namespace gaincell
