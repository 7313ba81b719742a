// Hand-written pre-tokenizers (no std::regex). Each splits text exactly as its pattern does with
// leftmost-first alternation (JS /u or Python `regex`), with the classes of unicode_class.h:
//   kGpt2:   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   kLlama3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
//            \s*[\r\n]+|\s+(?!\S)|\s+
//   kQwen2:  the kLlama3 pattern with \p{N} (one number character) instead of \p{N}{1,3}
//   kDigits: [^\p{N}]+|\p{N} (Hugging Face's Digits pre-tokenizer, individual_digits = true)
//   kDigitRuns: [^\p{N}]+|\p{N}+ (the same, individual_digits = false)
#pragma once
#include <cstddef>
#include <string_view>
#include <vector>

namespace gaincell {

enum class SplitPattern { kGpt2, kLlama3, kQwen2, kDigits, kDigitRuns };

// The end (exclusive) of the piece that starts at text[pos], pos < text.size().
size_t pretoken_end(std::string_view text, size_t pos, SplitPattern pattern = SplitPattern::kGpt2);

// All pieces of text, in order; their concatenation is text.
std::vector<std::string_view> pretokenize(std::string_view text, SplitPattern pattern = SplitPattern::kGpt2);

}  // namespace gaincell
