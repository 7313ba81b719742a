#include "tokenizer/llama2c_tokenizer.h"

#include <cmath>
#include <cstring>
#include <queue>
#include <unordered_map>

#include "core/error.h"

namespace gaincell {
namespace {

constexpr int32_t kBos = 1, kEos = 2, kFirstByteToken = 3;
constexpr int32_t kMaxTokenLength = 1 << 16;

class Llama2cTokenizer : public TokenizerBackend {
 public:
  std::vector<int32_t> encode(std::string_view text) const override;
  std::string decode(const std::vector<int32_t>& ids) const override;
  std::string decode_one(int32_t id) const override { return piece_bytes(id, false); }
  int32_t vocab_size() const override { return static_cast<int32_t>(piece.size()); }
  const char* kind() const override { return "llama2.c tokenizer.bin"; }

  std::vector<std::string> piece;
  std::vector<float> score;
  std::unordered_map<std::string, int32_t> id_of;  // the first id of each piece

 private:
  int32_t lookup(std::string_view s) const {
    auto it = id_of.find(std::string(s));
    return it == id_of.end() ? -1 : it->second;
  }
  // The bytes of one token; <0xXX> pieces are the byte; after BOS a leading space is dropped.
  std::string piece_bytes(int32_t id, bool after_bos) const {
    const std::string& p = piece[id];
    if (id >= kFirstByteToken && id < kFirstByteToken + 256)
      return std::string(1, static_cast<char>(id - kFirstByteToken));
    if (after_bos && !p.empty() && p[0] == ' ') return p.substr(1);
    return p;
  }
};

// A candidate merge of symbol `pos` with its right neighbour, valid while both still hold ids a and b.
struct ScoredMerge {
  float score;
  int32_t pos, a, b, result;
  bool operator<(const ScoredMerge& o) const { return score != o.score ? score < o.score : pos > o.pos; }
};

std::vector<int32_t> Llama2cTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids;
  if (text.empty()) return ids;
  const int32_t space = lookup(" ");
  if (space >= 0) ids.push_back(space);
  for (size_t pos = 0; pos < text.size();) {
    // A "character": one byte and the continuation bytes (10xxxxxx) after it, at most 4 bytes in all.
    size_t len = 1;
    while (pos + len < text.size() && len < 4 && (static_cast<unsigned char>(text[pos + len]) & 0xC0) == 0x80) ++len;
    const int32_t id = lookup(text.substr(pos, len));
    if (id >= 0) {
      ids.push_back(id);
    } else {
      for (size_t k = 0; k < len; ++k) ids.push_back(static_cast<unsigned char>(text[pos + k]) + kFirstByteToken);
    }
    pos += len;
  }
  // Highest-scoring pair first, leftmost on ties, as run.c's loop; a heap with lazy invalidation.
  const int32_t n = static_cast<int32_t>(ids.size());
  std::vector<int32_t> next(n), prev(n);
  std::vector<char> alive(n, 1);
  for (int32_t i = 0; i < n; ++i) next[i] = i + 1 < n ? i + 1 : -1, prev[i] = i - 1;
  std::priority_queue<ScoredMerge> heap;
  auto push = [&](int32_t i) {
    if (i < 0 || next[i] < 0) return;
    const int32_t r = lookup(piece[ids[i]] + piece[ids[next[i]]]);
    if (r >= 0) heap.push({score[r], i, ids[i], ids[next[i]], r});
  };
  for (int32_t i = 0; i + 1 < n; ++i) push(i);
  while (!heap.empty()) {
    const ScoredMerge c = heap.top();
    heap.pop();
    if (!alive[c.pos] || ids[c.pos] != c.a || next[c.pos] < 0 || ids[next[c.pos]] != c.b) continue;
    const int32_t right = next[c.pos];
    ids[c.pos] = c.result;
    alive[right] = 0;
    next[c.pos] = next[right];
    if (next[right] >= 0) prev[next[right]] = c.pos;
    push(prev[c.pos]);
    push(c.pos);
  }
  std::vector<int32_t> out;
  for (int32_t i = 0; i >= 0 && i < n; i = next[i]) out.push_back(ids[i]);
  return out;
}

std::string Llama2cTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i) s += piece_bytes(ids[i], i > 0 && ids[i - 1] == kBos);
  return s;
}

class Reader {
 public:
  Reader(std::string_view data, const std::string& path) : d_(data), path_(path) {}
  bool at_end() const { return pos_ == d_.size(); }
  size_t pos() const { return pos_; }
  template <class T>
  T get(const char* what) {
    if (d_.size() - pos_ < sizeof(T))
      fail_expected("tokenizer", std::string("4 more bytes for ") + what,
                    std::to_string(d_.size() - pos_) + " (file truncated)", at());
    T v;
    std::memcpy(&v, d_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string bytes(size_t n) {
    if (d_.size() - pos_ < n)
      fail_expected("tokenizer", std::to_string(n) + " token bytes",
                    std::to_string(d_.size() - pos_) + " (file truncated)", at());
    std::string s(d_.substr(pos_, n));
    pos_ += n;
    return s;
  }
  std::string at() const { return "at byte " + std::to_string(pos_) + " of '" + path_ + "'"; }

 private:
  std::string_view d_;
  const std::string& path_;
  size_t pos_ = 0;
};

}  // namespace

std::unique_ptr<TokenizerBackend> parse_llama2c_tokenizer(std::string_view data, const std::string& path) {
  Reader r(data, path);
  const int32_t max_len = r.get<int32_t>("max_token_length");
  if (max_len < 1 || max_len > kMaxTokenLength)
    fail_expected("tokenizer", "max_token_length in [1, " + std::to_string(kMaxTokenLength) + "]",
                  std::to_string(max_len), "in '" + path + "'");
  auto t = std::make_unique<Llama2cTokenizer>();
  while (!r.at_end()) {
    const std::string id = "token " + std::to_string(t->piece.size());
    const float score = r.get<float>("a score");
    if (!std::isfinite(score))
      fail_expected("tokenizer", "a finite score", std::to_string(score), "for " + id + " " + r.at());
    const int32_t len = r.get<int32_t>("a length");
    if (len < 0 || len > max_len)
      fail_expected("tokenizer", "a length in [0, max_token_length = " + std::to_string(max_len) + "]",
                    std::to_string(len), "for " + id + " " + r.at());
    std::string p = r.bytes(static_cast<size_t>(len));
    t->id_of.emplace(p, static_cast<int32_t>(t->piece.size()));
    t->piece.push_back(std::move(p));
    t->score.push_back(score);
  }
  if (t->piece.size() < kFirstByteToken + 256)
    fail_expected("tokenizer", "at least 259 tokens (<unk>, BOS, EOS, <0x00>..<0xFF>)", std::to_string(t->piece.size()),
                  "in '" + path + "'");
  for (int b = 0; b < 256; ++b) {
    char want[8];
    std::snprintf(want, sizeof want, "<0x%02X>", b);
    if (t->piece[kFirstByteToken + b] != want)
      fail_expected("tokenizer",
                    std::string("the byte token '") + want + "' at id " + std::to_string(kFirstByteToken + b),
                    "'" + t->piece[kFirstByteToken + b] + "'", "in '" + path + "'");
  }
  t->specials = {kBos, kEos, true, false};
  return t;
}

}  // namespace gaincell
