// llama2.c tokenizer.bin (format: shared/data/SOURCES.md, docs/file-formats.md): int32 max_token_length, then
// one record {float32 score, int32 len, len bytes} per token until the end of the file. Encoding and decoding
// follow llama2.c's run.c (docs/tokenizer.md): a dummy-prefix " " token, one token per UTF-8 character or its
// bytes as <0xXX> (= byte + 3), then repeatedly the adjacent pair whose concatenation is a token with the
// highest score (leftmost on ties) is merged. BOS = 1, EOS = 2.
#pragma once
#include <memory>
#include <string>
#include <string_view>

#include "tokenizer/backend.h"

namespace gaincell {

// Parses the contents of a tokenizer.bin (named path in errors). Throws Error("tokenizer", ...).
std::unique_ptr<TokenizerBackend> parse_llama2c_tokenizer(std::string_view data, const std::string& path);

}  // namespace gaincell
