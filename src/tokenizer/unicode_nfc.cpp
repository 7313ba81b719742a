// Unicode Normalization Form C (UAX #15): full canonical decomposition, canonical ordering of combining
// marks, then canonical composition, with the tables of unicode_nfc_tables.cpp and the Hangul arithmetic.
// Bytes that are not well-formed UTF-8 pass through unchanged and block composition (they act as starters).
#include <algorithm>

#include "tokenizer/hf_bpe.h"
#include "tokenizer/unicode_class.h"
#include "tokenizer/unicode_nfc_tables.h"
#include "tokenizer/vocab_files.h"

namespace gaincell {
namespace {

using namespace nfc_detail;

constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr uint32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;
constexpr uint32_t kInvalidFlag = 0x80000000u;  // an invalid byte b is held as kInvalidFlag | b

uint32_t ccc(uint32_t cp) {
  if (cp < 0x300 || (cp & kInvalidFlag)) return 0;
  const CccRange* end = kCcc + kCccCount;
  const CccRange* it = std::lower_bound(kCcc, end, cp, [](const CccRange& r, uint32_t c) { return r.last < c; });
  return it != end && it->first <= cp ? it->ccc : 0;
}

const Decomp* find_decomp(uint32_t cp) {
  const Decomp* end = kDecomp + kDecompCount;
  const Decomp* it = std::lower_bound(kDecomp, end, cp, [](const Decomp& d, uint32_t c) { return d.cp < c; });
  return it != end && it->cp == cp ? it : nullptr;
}

void decompose(uint32_t cp, std::vector<uint32_t>& out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const uint32_t s = cp - kSBase;
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount) out.push_back(kTBase + s % kTCount);
    return;
  }
  const Decomp* d = (cp & kInvalidFlag) ? nullptr : find_decomp(cp);
  if (!d) {
    out.push_back(cp);
    return;
  }
  decompose(d->first, out);
  if (d->second) decompose(d->second, out);
}

// The primary composite of (a, b), or 0.
uint32_t compose(uint32_t a, uint32_t b) {
  if ((a | b) & kInvalidFlag) return 0;
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount)
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase && b < kTBase + kTCount)
    return a + (b - kTBase);
  const Compose* end = kCompose + kComposeCount;
  const Compose* it =
      std::lower_bound(kCompose, end, std::make_pair(a, b), [](const Compose& c, std::pair<uint32_t, uint32_t> k) {
        return c.first != k.first ? c.first < k.first : c.second < k.second;
      });
  return it != end && it->first == a && it->second == b ? it->composite : 0;
}

uint32_t decode_at(std::string_view text, size_t pos, size_t* len) {
  const Utf8Char ch = utf8_char_at(text, pos);
  *len = ch.len;
  const auto* s = reinterpret_cast<const unsigned char*>(text.data()) + pos;
  if (ch.len == 1) return s[0] < 0x80 ? s[0] : (kInvalidFlag | s[0]);
  if (ch.len == 2) return ((s[0] & 0x1Fu) << 6) | (s[1] & 0x3Fu);
  if (ch.len == 3) return ((s[0] & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu);
  return ((s[0] & 0x07u) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) | (s[3] & 0x3Fu);
}

}  // namespace

std::string nfc_normalize(std::string_view text) {
  // Nothing below U+0300 decomposes or composes with what follows except through a combining mark.
  if (std::all_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; }))
    return std::string(text);
  std::vector<uint32_t> cps;
  cps.reserve(text.size());
  for (size_t pos = 0, len = 0; pos < text.size(); pos += len) decompose(decode_at(text, pos, &len), cps);
  // Canonical ordering: a stable sort of each run of non-starters by combining class.
  for (size_t i = 0; i < cps.size();) {
    if (ccc(cps[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < cps.size() && ccc(cps[j]) != 0) ++j;
    std::stable_sort(cps.begin() + i, cps.begin() + j, [](uint32_t a, uint32_t b) { return ccc(a) < ccc(b); });
    i = j;
  }
  // Canonical composition.
  std::vector<uint32_t> out;
  out.reserve(cps.size());
  size_t starter = 0;
  bool have_starter = false;
  uint32_t last_ccc = 0;
  for (uint32_t cp : cps) {
    const uint32_t c = ccc(cp);
    if (have_starter && (out.size() == starter + 1 || (last_ccc != 0 && last_ccc < c))) {
      if (const uint32_t comp = compose(out[starter], cp)) {
        out[starter] = comp;
        continue;
      }
    }
    if (c == 0) starter = out.size(), have_starter = true;
    last_ccc = c;
    out.push_back(cp);
  }
  std::string s;
  s.reserve(text.size());
  for (uint32_t cp : out) {
    if (cp & kInvalidFlag)
      s.push_back(static_cast<char>(cp & 0xFF));
    else
      append_utf8(s, cp);
  }
  return s;
}

}  // namespace gaincell
