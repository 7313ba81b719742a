// Token files (train.bin / val.bin of `gaincell data prepare`): a 32-byte little-endian header, then the ids.
//   offset 0  8 bytes  magic "GCTOKENS"
//   offset 8  u32      version (1)
//   offset 12 u32      bytes per id: 2 (uint16) or 4 (uint32)
//   offset 16 u64      count: number of ids
//   offset 24 u32      vocab_size the ids were made for (every id < vocab_size)
//   offset 28 u32      reserved, 0
//   offset 32          count ids, little-endian
// Loading validates everything (magic, version, width, size == 32 + count x width, every id < vocab_size and
// < the caller's vocabulary) and throws Error("tokens", ...) naming the file. See docs/token-files.md.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/file.h"

namespace gaincell {

inline constexpr char kTokenFileMagic[8] = {'G', 'C', 'T', 'O', 'K', 'E', 'N', 'S'};
inline constexpr uint32_t kTokenFileVersion = 1;
inline constexpr size_t kTokenFileHeaderBytes = 32;

// Writes ids atomically; uint16 when vocab_size <= 65536, else uint32. Ids outside [0, vocab_size) throw.
void write_token_file(const std::string& path, const std::vector<int32_t>& ids, int64_t vocab_size);

class TokenFile {
 public:
  // Maps and validates path; model_vocab > 0 additionally requires every id < model_vocab.
  static TokenFile load(const std::string& path, int64_t model_vocab = 0);
  int64_t size() const { return count_; }
  int64_t vocab_size() const { return vocab_; }
  int32_t at(int64_t i) const;
  // out[j] = ids[begin + j] for j < n (range checked).
  void copy(int32_t* out, int64_t begin, int64_t n) const;
  const std::string& path() const { return file_.path(); }

 private:
  MappedFile file_;
  const uint8_t* ids_ = nullptr;
  int64_t count_ = 0;
  int64_t vocab_ = 0;
  int width_ = 0;
};

}  // namespace gaincell
