// The GPT-2 pre-tokenizer, hand-written (no std::regex). It splits text exactly as the pattern
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// does with leftmost-first alternation (JS /u or Python `regex`), with the classes of unicode_class.h.
#pragma once
#include <cstddef>
#include <string_view>
#include <vector>

namespace gaincell {

// The end (exclusive) of the piece that starts at text[pos], pos < text.size().
size_t pretoken_end(std::string_view text, size_t pos);

// All pieces of text, in order; their concatenation is text.
std::vector<std::string_view> pretokenize(std::string_view text);

}  // namespace gaincell
