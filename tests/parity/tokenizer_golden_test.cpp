// GPT-2 tokenizer vs the reference npm encoder gpt-3-encoder@1.1.4: edge-case strings (always) and two whole
// corpus files from ../shared (skipped when absent). Goldens: tools/tokenizer_goldens/make_goldens.sh.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/file.h"
#include "test_paths.h"
#include "tokenizer/tokenizer.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {

class TokenizerGolden : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tokenizer_ = std::make_unique<Tokenizer>(Tokenizer::from_dir(data_dir() + "/tokenizer/gpt2"));
  }
  static void TearDownTestSuite() { tokenizer_.reset(); }
  static nlohmann::json golden(const std::string& name) {
    return nlohmann::json::parse(read_file(test::data_path("tokenizer/" + name)));
  }
  static std::unique_ptr<Tokenizer> tokenizer_;
};
std::unique_ptr<Tokenizer> TokenizerGolden::tokenizer_;

// FNV-1a 64 of the ids as little-endian int32, as make_goldens.js computes it.
uint64_t fnv1a64_le_int32(const std::vector<int32_t>& ids) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (int32_t id : ids) {
    const uint32_t u = static_cast<uint32_t>(id);
    for (int k = 0; k < 4; ++k) h = (h ^ ((u >> (8 * k)) & 0xFF)) * 0x100000001b3ull;
  }
  return h;
}

std::string hex16(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

TEST_F(TokenizerGolden, VocabularyIsGpt2) {
  EXPECT_EQ(tokenizer_->vocab_size(), 50257);
  EXPECT_EQ(tokenizer_->decode_one(Tokenizer::kEndOfText), "<|endoftext|>");
  EXPECT_EQ(tokenizer_->decode_one(220), " ");
  EXPECT_EQ(tokenizer_->decode_one(198), "\n");
}

TEST_F(TokenizerGolden, EveryCaseMatchesReference) {
  const nlohmann::json cases = golden("cases.json").at("cases");
  ASSERT_GE(cases.size(), 40u);
  for (const auto& c : cases) {
    const std::string text = c.at("text").get<std::string>();
    const std::vector<int32_t> expected = c.at("ids").get<std::vector<int32_t>>();
    const std::vector<int32_t> ids = tokenizer_->encode(text);
    EXPECT_EQ(ids, expected) << "case " << c.at("name");
    EXPECT_EQ(tokenizer_->decode(expected), text) << "case " << c.at("name");
  }
}

TEST_F(TokenizerGolden, EndOfTextIsPlainText) {
  const std::vector<int32_t> expected = {27, 91, 437, 1659, 5239, 91, 29};
  EXPECT_EQ(tokenizer_->encode("<|endoftext|>"), expected);
}

TEST_F(TokenizerGolden, WholeFilesMatchReference) {
  const nlohmann::json files = golden("files.json").at("files");
  ASSERT_EQ(files.size(), 2u);
  for (const auto& f : files) GAINCELL_REQUIRE_FILE(test::shared_path("data/" + f.at("path").get<std::string>()));
  for (const auto& f : files) {
    const std::string rel = f.at("path").get<std::string>();
    SCOPED_TRACE(rel);
    const std::string text = read_file(test::shared_path("data/" + rel));
    ASSERT_EQ(text.size(), f.at("bytes").get<size_t>()) << "not the file the goldens were made from";
    const std::vector<int32_t> ids = tokenizer_->encode(text);
    ASSERT_EQ(ids.size(), f.at("count").get<size_t>());
    EXPECT_EQ(hex16(fnv1a64_le_int32(ids)), f.at("fnv1a64_le_int32").get<std::string>());
    const auto first = f.at("first").get<std::vector<int32_t>>(), last = f.at("last").get<std::vector<int32_t>>();
    EXPECT_EQ(std::vector<int32_t>(ids.begin(), ids.begin() + first.size()), first);
    EXPECT_EQ(std::vector<int32_t>(ids.end() - last.size(), ids.end()), last);
    EXPECT_EQ(tokenizer_->decode(ids), text);
  }
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
