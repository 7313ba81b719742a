#include "io/token_file.h"

#include <cstring>
#include <string>

#include "core/error.h"

namespace gaincell {
namespace {

template <typename T>
void put(std::string& s, T v) {
  for (size_t i = 0; i < sizeof(T); ++i) s.push_back(static_cast<char>((static_cast<uint64_t>(v) >> (8 * i)) & 0xFF));
}

uint64_t get(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

void write_token_file(const std::string& path, const std::vector<int32_t>& ids, int64_t vocab_size) {
  if (vocab_size <= 0 || vocab_size > INT32_MAX)
    fail_expected("tokens", "a vocabulary size in [1, 2^31)", std::to_string(vocab_size), "for '" + path + "'");
  const int width = vocab_size <= 65536 ? 2 : 4;
  std::string header(kTokenFileMagic, 8);
  put<uint32_t>(header, kTokenFileVersion);
  put<uint32_t>(header, static_cast<uint32_t>(width));
  put<uint64_t>(header, ids.size());
  put<uint32_t>(header, static_cast<uint32_t>(vocab_size));
  put<uint32_t>(header, 0);
  std::string body;
  body.reserve(ids.size() * width);
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= vocab_size)
      fail_expected("tokens", "ids in [0, " + std::to_string(vocab_size) + ")", std::to_string(ids[i]),
                    "at index " + std::to_string(i) + " for '" + path + "'");
    if (width == 2)
      put<uint16_t>(body, static_cast<uint16_t>(ids[i]));
    else
      put<uint32_t>(body, static_cast<uint32_t>(ids[i]));
  }
  AtomicFile f(path);
  f.write(header);
  f.write(body);
  f.commit();
}

TokenFile TokenFile::load(const std::string& path, int64_t model_vocab) {
  TokenFile t;
  t.file_ = MappedFile(path);
  const uint8_t* d = t.file_.data();
  const size_t size = t.file_.size();
  const std::string where = "in token file '" + path + "'";
  if (size < kTokenFileHeaderBytes) fail_expected("tokens", "a 32-byte header", std::to_string(size) + " bytes", where);
  if (std::memcmp(d, kTokenFileMagic, 8) != 0) fail_expected("tokens", "magic 'GCTOKENS'", "other bytes", where);
  const uint64_t version = get(d + 8, 4), width = get(d + 12, 4), count = get(d + 16, 8), vocab = get(d + 24, 4);
  if (version != kTokenFileVersion)
    fail_expected("tokens", "version " + std::to_string(kTokenFileVersion), std::to_string(version), where);
  if (width != 2 && width != 4) fail_expected("tokens", "2 or 4 bytes per id", std::to_string(width), where);
  if (vocab == 0 || vocab > INT32_MAX) fail_expected("tokens", "vocab_size in [1, 2^31)", std::to_string(vocab), where);
  const uint64_t body = size - kTokenFileHeaderBytes;
  if (count > body / width || count * width != body)
    fail_expected("tokens",
                  std::to_string(kTokenFileHeaderBytes) + " + count x " + std::to_string(width) + " bytes for count " +
                      std::to_string(count),
                  std::to_string(size) + " bytes (truncated or trailing data)", where);
  t.ids_ = d + kTokenFileHeaderBytes;
  t.count_ = static_cast<int64_t>(count);
  t.vocab_ = static_cast<int64_t>(vocab);
  t.width_ = static_cast<int>(width);
  const int64_t limit = model_vocab > 0 ? std::min<int64_t>(model_vocab, t.vocab_) : t.vocab_;
  for (int64_t i = 0; i < t.count_; ++i) {
    // Unsigned: a 4-byte id >= 2^31 must not pass as a negative int32.
    const uint64_t id = get(t.ids_ + static_cast<size_t>(i) * t.width_, t.width_);
    if (id >= static_cast<uint64_t>(limit))
      fail_expected("tokens", "ids < " + std::to_string(limit) + (model_vocab > 0 ? " (the model's vocabulary)" : ""),
                    std::to_string(id), "at index " + std::to_string(i) + " " + where);
  }
  return t;
}

int32_t TokenFile::at(int64_t i) const {
  return static_cast<int32_t>(get(ids_ + static_cast<size_t>(i) * width_, width_));
}

void TokenFile::copy(int32_t* out, int64_t begin, int64_t n) const {
  if (begin < 0 || n < 0 || begin > count_ || n > count_ - begin)  // no begin + n overflow
    fail_expected("tokens", "a range inside [0, " + std::to_string(count_) + ")",
                  "[" + std::to_string(begin) + ", " + std::to_string(begin + n) + ")", "in '" + path() + "'");
  for (int64_t j = 0; j < n; ++j) out[j] = at(begin + j);
}

}  // namespace gaincell
