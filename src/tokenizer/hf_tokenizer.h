// Hugging Face tokenizer.json (+ tokenizer_config.json) with a BPE model, as the `tokenizers` library and
// transformers.js run it (docs/tokenizer.md):
//   * byte-level BPE: Split pre-tokenizer with the GPT-2, Llama 3 or Qwen2 pattern and/or Digits, then ByteLevel
//     (Llama 3, Qwen2/3, SmolLM, GPT-2 exports); vocabulary strings in bytes_to_unicode form;
//   * SentencePiece-style BPE: normalizer Prepend("▁") + Replace(" ", "▁"), byte_fallback <0xXX> tokens, decoder
//     Replace/ByteFallback/Fuse/Strip (Llama 2, Mistral, TinyLlama).
// Added tokens (special or not) are cut out of the text before normalization, longest match first.
#pragma once
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

#include "tokenizer/backend.h"

namespace gaincell {

// Parses tokenizer.json text (named json_path in errors) and the optional tokenizer_config.json text (empty
// when the file is absent). Throws Error("tokenizer", ...) for malformed, inconsistent or unsupported files.
std::unique_ptr<TokenizerBackend> parse_hf_tokenizer(std::string_view json_text, std::string_view config_text,
                                                     const std::string& json_path, const std::string& config_path);
// The same from the already parsed tokenizer.json.
std::unique_ptr<TokenizerBackend> parse_hf_tokenizer(const nlohmann::json& j, std::string_view config_text,
                                                     const std::string& json_path, const std::string& config_path);

// Reads the special-token fields of a tokenizer_config.json: add_bos_token, add_eos_token (booleans when
// present) into *specials; returns {bos_token, eos_token} contents ("" when absent or null). Used by every kind.
struct ConfigTokens {
  std::string bos, eos;
  bool has_add_bos = false, has_add_eos = false;
};
ConfigTokens parse_tokenizer_config(std::string_view config_text, const std::string& config_path,
                                    SpecialTokens* specials);

}  // namespace gaincell
