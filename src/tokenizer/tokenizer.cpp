#include "tokenizer/tokenizer.h"

#include <filesystem>

#include "core/error.h"
#include "core/file.h"
#include <nlohmann/json.hpp>
#include "tokenizer/bpe.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/vocab_files.h"

namespace gaincell {

struct Tokenizer::Impl {
  VocabTables tables;
  bool bytes = false;
};

namespace {

// Per-call memo of piece -> ids. Keys view into the text being encoded, so it never outlives encode();
// keeping it per call keeps encode() const and thread-safe without a lock.
class PieceCache {
 public:
  static constexpr size_t kMaxEntries = size_t{1} << 18;
  static constexpr size_t kMaxPieceBytes = 256;

  // Appends the cached ids of piece to out; false on a miss.
  bool append(std::string_view piece, std::vector<int32_t>& out) const {
    auto it = spans_.find(piece);
    if (it == spans_.end()) return false;
    out.insert(out.end(), ids_.begin() + it->second.first, ids_.begin() + it->second.first + it->second.second);
    return true;
  }
  void put(std::string_view piece, const std::vector<int32_t>& ids) {
    if (piece.size() > kMaxPieceBytes || spans_.size() >= kMaxEntries) return;
    spans_.emplace(piece, std::make_pair(static_cast<uint32_t>(ids_.size()), static_cast<uint32_t>(ids.size())));
    ids_.insert(ids_.end(), ids.begin(), ids.end());
  }

 private:
  std::unordered_map<std::string_view, std::pair<uint32_t, uint32_t>> spans_;
  std::vector<int32_t> ids_;
};

}  // namespace

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::from_files(const std::string& vocab_path, const std::string& merges_path) {
  auto impl = std::make_unique<Impl>();
  impl->tables = load_vocab_tables(vocab_path, merges_path);
  return Tokenizer(std::move(impl));
}

Tokenizer Tokenizer::bytes() {
  auto impl = std::make_unique<Impl>();
  impl->bytes = true;
  for (int b = 0; b < 256; ++b) {
    impl->tables.token_bytes.push_back(std::string(1, static_cast<char>(b)));
    impl->tables.byte_id[b] = b;
  }
  return Tokenizer(std::move(impl));
}

void Tokenizer::write_bytes_tokenizer(const std::string& dir) {
  write_file_atomic(dir + "/tokenizer.json", "{\"type\": \"bytes\"}\n");
}

Tokenizer Tokenizer::from_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) fail("tokenizer", "missing tokenizer folder '" + dir + "'");
  const fs::path d(dir);
  if (fs::exists(d / "tokenizer.json", ec)) {
    const std::string path = (d / "tokenizer.json").string();
    nlohmann::json j = nlohmann::json::parse(read_file(path, 1 << 16), nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || !j.contains("type") || j["type"] != "bytes")
      fail_expected("tokenizer", "{\"type\": \"bytes\"}", j.dump(), "in '" + path + "'");
    return bytes();
  }
  for (const auto& [vocab, merges] : {std::pair{"vocab.json", "merges.txt"}, std::pair{"encoder.json", "vocab.bpe"}}) {
    const bool has_vocab = fs::exists(d / vocab, ec), has_merges = fs::exists(d / merges, ec);
    if (has_vocab || has_merges) return from_files((d / vocab).string(), (d / merges).string());
  }
  fail_expected("tokenizer", "vocab.json + merges.txt or encoder.json + vocab.bpe", "neither", "in '" + dir + "'");
}

std::vector<int32_t> Tokenizer::encode(std::string_view text) const {
  if (impl_->bytes) return std::vector<int32_t>(reinterpret_cast<const unsigned char*>(text.data()),
                                                reinterpret_cast<const unsigned char*>(text.data()) + text.size());
  const VocabTables& t = impl_->tables;
  std::vector<int32_t> out, word;
  out.reserve(text.size() / 3 + 16);
  PieceCache cache;
  for (size_t pos = 0; pos < text.size();) {
    const size_t end = pretoken_end(text, pos);
    const std::string_view piece = text.substr(pos, end - pos);
    pos = end;
    if (piece.size() == 1) {
      out.push_back(t.byte_id[static_cast<unsigned char>(piece[0])]);
      continue;
    }
    if (cache.append(piece, out)) continue;
    word.clear();
    for (unsigned char b : piece) word.push_back(t.byte_id[b]);
    bpe_merge(t.merges, word);
    cache.put(piece, word);
    out.insert(out.end(), word.begin(), word.end());
  }
  return out;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  for (int32_t id : ids) out += decode_one(id);
  return out;
}

std::string Tokenizer::decode_one(int32_t id) const {
  if (id < 0 || id >= vocab_size())
    fail_expected("tokenizer", "a token id in [0, " + std::to_string(vocab_size()) + ")", std::to_string(id),
                  "when decoding");
  return impl_->tables.token_bytes[id];
}

bool Tokenizer::is_bytes() const { return impl_->bytes; }

int32_t Tokenizer::start_id() const { return impl_->bytes ? int32_t{'\n'} : kEndOfText; }

int32_t Tokenizer::vocab_size() const {
  return static_cast<int32_t>(impl_->tables.token_bytes.size());
}

}  // namespace gaincell
