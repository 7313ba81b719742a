#include "tokenizer/sentencepiece_tokenizer.h"

#include <sentencepiece_processor.h>

#include "core/error.h"

namespace gaincell {
namespace {

class SentencePieceTokenizer : public TokenizerBackend {
 public:
  std::vector<int32_t> encode(std::string_view text) const override {
    std::vector<int> ids;
    const auto status = sp.Encode(text, &ids);
    if (!status.ok()) fail("tokenizer", "sentencepiece cannot encode the text: " + status.ToString());
    return std::vector<int32_t>(ids.begin(), ids.end());
  }
  std::string decode(const std::vector<int32_t>& ids) const override {
    std::string out;
    const auto status = sp.Decode(std::vector<int>(ids.begin(), ids.end()), &out);
    if (!status.ok()) fail("tokenizer", "sentencepiece cannot decode the ids: " + status.ToString());
    return out;
  }
  std::string decode_one(int32_t id) const override {
    if (sp.IsByte(id)) return std::string(1, static_cast<char>(std::stoi(sp.IdToPiece(id).substr(3, 2), nullptr, 16)));
    if (sp.IsControl(id) || sp.IsUnknown(id)) return sp.IdToPiece(id);
    std::string p = sp.IdToPiece(id);
    std::string out;
    static const std::string kMeta = "\xE2\x96\x81";  // U+2581, SentencePiece's space
    for (size_t pos = 0; pos < p.size();) {
      if (p.compare(pos, kMeta.size(), kMeta) == 0)
        out += ' ', pos += kMeta.size();
      else
        out += p[pos++];
    }
    return out;
  }
  int32_t vocab_size() const override { return sp.GetPieceSize(); }
  const char* kind() const override { return "SentencePiece tokenizer.model"; }

  sentencepiece::SentencePieceProcessor sp;
};

}  // namespace

std::unique_ptr<TokenizerBackend> load_sentencepiece_tokenizer(const std::string& path) {
  auto t = std::make_unique<SentencePieceTokenizer>();
  const auto status = t->sp.Load(path);
  if (!status.ok()) fail("tokenizer", "cannot load SentencePiece model '" + path + "': " + status.ToString());
  if (t->sp.GetPieceSize() <= 0) fail_expected("tokenizer", "a non-empty vocabulary", "none", "in '" + path + "'");
  t->specials.bos_id = t->sp.bos_id();
  t->specials.eos_id = t->sp.eos_id();
  t->specials.add_bos = t->specials.bos_id >= 0;
  return t;
}

}  // namespace gaincell
