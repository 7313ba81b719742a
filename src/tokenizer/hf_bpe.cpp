// Encoding and decoding with a Hugging Face tokenizer.json BPE pipeline (docs/tokenizer.md):
// added tokens -> normalizer -> pre-tokenizer -> BPE (ignore_merges, byte fallback, unk) per piece.
#include "tokenizer/hf_bpe.h"

#include <algorithm>

#include "core/error.h"
#include "tokenizer/unicode_class.h"

namespace gaincell {
namespace {

struct Section {
  std::string_view text;
  int32_t added = -1;  // index into HfBpeTokenizer::added, or -1 for plain text
};

// End of text without its trailing white space / start without leading white space (added-token strips).
std::string_view trim_end(std::string_view s) {
  size_t keep = 0;
  for (size_t pos = 0; pos < s.size();) {
    const Utf8Char c = utf8_char_at(s, pos);
    pos += c.len;
    if (c.cls != CharClass::kSpace) keep = pos;
  }
  return s.substr(0, keep);
}
std::string_view trim_start(std::string_view s) {
  size_t pos = 0;
  while (pos < s.size()) {
    const Utf8Char c = utf8_char_at(s, pos);
    if (c.cls != CharClass::kSpace) break;
    pos += c.len;
  }
  return s.substr(pos);
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  std::string out;
  size_t pos = 0;
  for (size_t hit; (hit = s.find(from, pos)) != std::string::npos; pos = hit + from.size())
    out.append(s, pos, hit - pos).append(to);
  out.append(s, pos, std::string::npos);
  s.swap(out);
}

}  // namespace

void HfBpeTokenizer::index_added_tokens() {
  for (auto& v : added_by_first_byte) v.clear();
  for (size_t i = 0; i < added.size(); ++i)
    added_by_first_byte[static_cast<unsigned char>(added[i].content[0])].push_back(static_cast<int32_t>(i));
  for (auto& v : added_by_first_byte)
    std::stable_sort(v.begin(), v.end(),
                     [this](int32_t a, int32_t b) { return added[a].content.size() > added[b].content.size(); });
}

std::vector<int32_t> HfBpeTokenizer::encode(std::string_view text) const {
  // 1. Cut out added tokens: at each position the longest one that matches, scanning left to right.
  std::vector<Section> sections;
  size_t start = 0;
  for (size_t i = 0; i < text.size();) {
    int32_t match = -1;
    for (int32_t k : added_by_first_byte[static_cast<unsigned char>(text[i])])
      if (text.compare(i, added[k].content.size(), added[k].content) == 0) {
        match = k;
        break;
      }
    if (match < 0) {
      ++i;
      continue;
    }
    if (i > start) sections.push_back({text.substr(start, i - start)});
    sections.push_back({text.substr(i, added[match].content.size()), match});
    i += added[match].content.size();
    start = i;
  }
  if (start < text.size()) sections.push_back({text.substr(start)});
  for (size_t i = 0; i < sections.size(); ++i) {
    if (sections[i].added < 0) continue;
    const HfAddedToken& a = added[sections[i].added];
    if (a.lstrip && i > 0 && sections[i - 1].added < 0) sections[i - 1].text = trim_end(sections[i - 1].text);
    if (a.rstrip && i + 1 < sections.size() && sections[i + 1].added < 0)
      sections[i + 1].text = trim_start(sections[i + 1].text);
  }
  // 2. Each plain section through normalizer, pre-tokenizer and model.
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 16);
  for (const Section& s : sections) {
    if (s.added >= 0)
      out.push_back(added[s.added].id);
    else if (!s.text.empty())
      encode_section(s.text, out);
  }
  return out;
}

void HfBpeTokenizer::encode_section(std::string_view section, std::vector<int32_t>& out) const {
  std::string x(section);
  for (const HfNormStep& n : normalizer) {
    if (n.kind == HfNormStep::kPrepend)
      x = n.a + x;
    else if (n.kind == HfNormStep::kReplace)
      replace_all(x, n.a, n.b);
    else
      x = nfc_normalize(x);
  }
  if (x.empty()) return;
  std::vector<std::string> pieces{std::move(x)}, next;
  for (const HfPreStep& p : pre_tokenizer) {
    next.clear();
    for (std::string& piece : pieces) {
      if (p.add_prefix_space && piece[0] != ' ') piece.insert(piece.begin(), ' ');
      if (p.kind == HfPreStep::kPrefixSpace) {
        next.push_back(std::move(piece));
        continue;
      }
      for (size_t pos = 0; pos < piece.size();) {
        const size_t end = pretoken_end(piece, pos, p.pattern);
        next.emplace_back(piece, pos, end - pos);
        pos = end;
      }
    }
    pieces.swap(next);
  }
  std::unordered_map<std::string_view, std::pair<size_t, size_t>> memo;  // piece -> [begin, end) in out
  for (const std::string& piece : pieces) {
    if (piece.size() <= 64) {
      auto it = memo.find(piece);
      if (it != memo.end()) {
        const auto [b, e] = it->second;
        for (size_t k = b; k < e; ++k) out.push_back(out[k]);
        continue;
      }
    }
    const size_t begin = out.size();
    encode_piece(piece, out);
    if (piece.size() <= 64 && memo.size() < (size_t{1} << 16)) memo.emplace(piece, std::make_pair(begin, out.size()));
  }
}

void HfBpeTokenizer::encode_piece(std::string_view piece, std::vector<int32_t>& out) const {
  if (ignore_merges) {
    auto it = id_of.find(std::string(piece));
    if (it != id_of.end()) {
      out.push_back(it->second);
      return;
    }
  }
  // Initial symbols: one per byte (byte-level) or per UTF-8 character; -1 for units not in the vocabulary.
  std::vector<int32_t> word;
  std::vector<std::string_view> unknown;  // the units behind the -1 symbols, in order
  for (size_t pos = 0; pos < piece.size();) {
    const size_t len = byte_level ? 1 : utf8_char_at(piece, pos).len;
    const std::string_view unit = piece.substr(pos, len);
    pos += len;
    int32_t id = -1;
    if (byte_level) {
      id = byte_id[static_cast<unsigned char>(unit[0])];
    } else {
      auto it = id_of.find(std::string(unit));
      if (it != id_of.end()) id = it->second;
    }
    if (id < 0) unknown.push_back(unit);
    word.push_back(id);
  }
  bpe_merge(merges, word);  // -1 symbols have no merge rule and stay in order
  size_t next_unknown = 0;
  bool last_was_unk = false;
  for (int32_t id : word) {
    if (id >= 0) {
      out.push_back(id);
      last_was_unk = false;
      continue;
    }
    const std::string_view unit = unknown[next_unknown++];
    bool all_bytes = byte_fallback;
    for (unsigned char b : unit) all_bytes = all_bytes && fallback_id[b] >= 0;
    if (all_bytes) {
      for (unsigned char b : unit) out.push_back(fallback_id[b]);
      last_was_unk = false;
    } else if (unk_id >= 0) {
      if (!(fuse_unk && last_was_unk)) out.push_back(unk_id);
      last_was_unk = true;
    } else {
      fail("tokenizer", "cannot encode the text: a character has no token, no byte-fallback tokens and no unk_token");
    }
  }
}

// The value of a hex digit, or -1.
static int hex_value(char c) {
  return c >= '0' && c <= '9'   ? c - '0'
         : c >= 'A' && c <= 'F' ? c - 'A' + 10
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                : -1;
}

std::string HfBpeTokenizer::token_text(int32_t id) const {
  if (is_added[id] || byte_level) return token[id];
  const std::string& t = token[id];
  // ByteFallback: a token "<0xHH>" stands for the byte HH.
  if (decode_byte_fallback && t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>' && hex_value(t[3]) >= 0 &&
      hex_value(t[4]) >= 0)
    return std::string(1, static_cast<char>(hex_value(t[3]) * 16 + hex_value(t[4])));
  std::string s = t;
  for (const auto& [from, to] : decode_replace) replace_all(s, from, to);
  return s;
}

std::string HfBpeTokenizer::decode_one(int32_t id) const {
  return token_text(id);
}

std::string HfBpeTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string s;
  for (int32_t id : ids) s += token_text(id);
  if (!strip_content.empty()) {
    size_t cut = 0;
    for (int k = 0; k < strip_start && s.compare(cut, strip_content.size(), strip_content) == 0; ++k)
      cut += strip_content.size();
    s.erase(0, cut);
    for (int k = 0; k < strip_stop && s.size() >= strip_content.size() &&
                    s.compare(s.size() - strip_content.size(), strip_content.size(), strip_content) == 0;
         ++k)
      s.resize(s.size() - strip_content.size());
  }
  return s;
}

}  // namespace gaincell
