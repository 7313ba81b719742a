// SentencePiece tokenizer.model through Debian's libsentencepiece (the library SentencePiece models are made
// for; no re-implementation). Encoding is SentencePieceProcessor::Encode of the text alone.
#pragma once
#include <memory>
#include <string>

#include "tokenizer/backend.h"

namespace gaincell {

// Loads a tokenizer.model file. Throws Error("tokenizer", ...) with the library's message when it fails.
std::unique_ptr<TokenizerBackend> load_sentencepiece_tokenizer(const std::string& path);

}  // namespace gaincell
