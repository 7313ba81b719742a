#include "tokenizer/tokenizer.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"
#include "tokenizer/backend.h"
#include "tokenizer/bpe.h"
#include "tokenizer/hf_tokenizer.h"
#include "tokenizer/llama2c_tokenizer.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/sentencepiece_tokenizer.h"
#include "tokenizer/vocab_files.h"

namespace gaincell {

struct Tokenizer::Impl {
  VocabTables tables;
  bool bytes = false;
  std::unique_ptr<TokenizerBackend> backend;  // the other kinds
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

namespace {

std::string optional_text(const std::string& path) {
  return path.empty() || !file_exists(path) ? std::string() : read_tokenizer_file(path);
}

// tokenizer_config.json's add_bos_token / add_eos_token override a backend's own defaults.
void apply_config(TokenizerBackend& b, const std::string& config_path) {
  const std::string text = optional_text(config_path);
  if (text.empty()) return;
  SpecialTokens s = b.specials;
  parse_tokenizer_config(text, config_path, &s);
  if (s.add_bos && b.specials.bos_id < 0)
    fail_expected("tokenizer", "a BOS token when add_bos_token is true", "none", "in '" + config_path + "'");
  if (s.add_eos && b.specials.eos_id < 0)
    fail_expected("tokenizer", "an EOS token when add_eos_token is true", "none", "in '" + config_path + "'");
  b.specials.add_bos = s.add_bos, b.specials.add_eos = s.add_eos;
}

}  // namespace

Tokenizer Tokenizer::from_hf_json_text(std::string_view json_text, std::string_view config_text,
                                       const std::string& json_path, const std::string& config_path) {
  auto impl = std::make_unique<Impl>();
  impl->backend = parse_hf_tokenizer(json_text, config_text, json_path, config_path);
  return Tokenizer(std::move(impl));
}

Tokenizer Tokenizer::from_hf_json(const std::string& json_path, const std::string& config_path) {
  return from_hf_json_text(read_tokenizer_file(json_path), optional_text(config_path), json_path, config_path);
}

Tokenizer Tokenizer::from_llama2c_bytes(std::string_view data, const std::string& bin_path) {
  auto impl = std::make_unique<Impl>();
  impl->backend = parse_llama2c_tokenizer(data, bin_path);
  return Tokenizer(std::move(impl));
}

Tokenizer Tokenizer::from_llama2c(const std::string& bin_path, const std::string& config_path) {
  Tokenizer t = from_llama2c_bytes(read_tokenizer_file(bin_path), bin_path);
  apply_config(*t.impl_->backend, config_path);
  return t;
}

Tokenizer Tokenizer::from_sentencepiece(const std::string& model_path, const std::string& config_path) {
  if (!file_exists(model_path)) fail("tokenizer", "missing file '" + model_path + "'");
  auto impl = std::make_unique<Impl>();
  impl->backend = load_sentencepiece_tokenizer(model_path);
  apply_config(*impl->backend, config_path);
  return Tokenizer(std::move(impl));
}

Tokenizer Tokenizer::from_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) fail("tokenizer", "missing tokenizer folder '" + dir + "'");
  const fs::path d(dir);
  const std::string config = (d / "tokenizer_config.json").string();
  const std::string json_path = (d / "tokenizer.json").string();
  bool bytes_json = false;
  if (fs::exists(json_path, ec)) {
    const std::string text = read_tokenizer_file(json_path);
    nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && j.contains("model")) {
      auto impl = std::make_unique<Impl>();
      impl->backend = parse_hf_tokenizer(j, optional_text(config), json_path, config);
      return Tokenizer(std::move(impl));
    }
    if (!j.is_object() || !j.contains("type") || j["type"] != "bytes")
      fail_expected("tokenizer", "a Hugging Face tokenizer.json (with \"model\") or {\"type\": \"bytes\"}",
                    j.is_discarded() ? "text that is not JSON" : j.dump().substr(0, 60), "in '" + json_path + "'");
    bytes_json = true;
  }
  if (fs::exists(d / "tokenizer.model", ec)) return from_sentencepiece((d / "tokenizer.model").string(), config);
  if (fs::exists(d / "tokenizer.bin", ec)) return from_llama2c((d / "tokenizer.bin").string(), config);
  for (const auto& [vocab, merges] : {std::pair{"vocab.json", "merges.txt"}, std::pair{"encoder.json", "vocab.bpe"}}) {
    const bool has_vocab = fs::exists(d / vocab, ec), has_merges = fs::exists(d / merges, ec);
    if (has_vocab || has_merges) return from_files((d / vocab).string(), (d / merges).string());
  }
  if (bytes_json) return bytes();
  fail_expected("tokenizer",
                "tokenizer.json, tokenizer.model, tokenizer.bin, vocab.json + merges.txt or encoder.json + vocab.bpe",
                "none of them", "in '" + dir + "'");
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, EncodeOptions options) const {
  std::vector<int32_t> ids;
  if (options.add_bos) {
    if (bos_id() < 0) fail_expected("tokenizer", "a BOS token to add", "a tokenizer without one");
    ids.push_back(bos_id());
  }
  const std::vector<int32_t> body = encode(text);
  ids.insert(ids.end(), body.begin(), body.end());
  if (options.add_eos) {
    if (eos_id() < 0) fail_expected("tokenizer", "an EOS token to add", "a tokenizer without one");
    ids.push_back(eos_id());
  }
  return ids;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text) const {
  if (impl_->backend) return impl_->backend->encode(text);
  if (impl_->bytes)
    return std::vector<int32_t>(reinterpret_cast<const unsigned char*>(text.data()),
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
  if (impl_->backend) {
    for (int32_t id : ids) check_id(id);
    return impl_->backend->decode(ids);
  }
  std::string out;
  for (int32_t id : ids) out += decode_one(id);
  return out;
}

void Tokenizer::check_id(int32_t id) const {
  if (id < 0 || id >= vocab_size())
    fail_expected("tokenizer", "a token id in [0, " + std::to_string(vocab_size()) + ")", std::to_string(id),
                  "when decoding");
}

std::string Tokenizer::decode_one(int32_t id) const {
  check_id(id);
  if (impl_->backend) return impl_->backend->decode_one(id);
  return impl_->tables.token_bytes[id];
}

bool Tokenizer::is_bytes() const {
  return impl_->bytes;
}

int32_t Tokenizer::start_id() const {
  if (impl_->bytes) return int32_t{'\n'};
  if (!impl_->backend) return kEndOfText;
  if (bos_id() >= 0) return bos_id();
  return eos_id() >= 0 ? eos_id() : 0;
}

int32_t Tokenizer::bos_id() const {
  if (impl_->backend) return impl_->backend->specials.bos_id;
  return !impl_->bytes && vocab_size() > kEndOfText ? kEndOfText : -1;
}

int32_t Tokenizer::eos_id() const {
  if (impl_->backend) return impl_->backend->specials.eos_id;
  return !impl_->bytes && vocab_size() > kEndOfText ? kEndOfText : -1;
}

bool Tokenizer::add_bos() const {
  return impl_->backend && impl_->backend->specials.add_bos;
}
bool Tokenizer::add_eos() const {
  return impl_->backend && impl_->backend->specials.add_eos;
}

std::string Tokenizer::kind() const {
  if (impl_->backend) return impl_->backend->kind();
  return impl_->bytes ? "bytes" : "gpt2";
}

int32_t Tokenizer::vocab_size() const {
  if (impl_->backend) return impl_->backend->vocab_size();
  return static_cast<int32_t>(impl_->tables.token_bytes.size());
}

}  // namespace gaincell
