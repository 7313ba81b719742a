// llama2.c tokenizer.bin vs the independent Python reference tools/llama2c_tokenizer/reference.py (tok512.bin
// of stories260K, copied to tests/data/tokenizer/llama2c/), and SentencePiece tokenizer.model (through
// libsentencepiece) vs spm_encode on a model trained offline by tools/sentencepiece_goldens/make_goldens.sh.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/file.h"
#include "test_paths.h"
#include "tokenizer/tokenizer.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {

TEST(Llama2cTokenizerGolden, MatchesPythonReference) {
  const Tokenizer tok = Tokenizer::from_dir(test::data_path("tokenizer/llama2c"));
  EXPECT_EQ(tok.kind(), "llama2.c tokenizer.bin");
  EXPECT_EQ(tok.vocab_size(), 512);
  EXPECT_EQ(tok.bos_id(), 1);
  EXPECT_EQ(tok.eos_id(), 2);
  EXPECT_TRUE(tok.add_bos());
  const auto g = nlohmann::json::parse(read_file(test::data_path("tokenizer/llama2c_goldens.json")));
  int n = 0;
  for (const auto& [name, c] : g["cases"].items()) {
    const std::string text = c["text"].get<std::string>();
    const std::vector<int32_t> want = c["ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(tok.encode(text), want) << name;
    std::vector<int32_t> with_bos = tok.encode(text, tok.specials());
    ASSERT_FALSE(with_bos.empty());
    EXPECT_EQ(with_bos[0], 1) << name;
    // run.c's decoder: the piece after BOS loses its leading space, <0xXX> pieces are bytes.
    EXPECT_EQ(tok.decode(with_bos), "\n<s>\n" + text) << name;
    ++n;
  }
  EXPECT_EQ(n, 16);
}

// SOURCES.md: the fox sentence is 35 tokens including BOS.
TEST(Llama2cTokenizerGolden, FoxSentenceLength) {
  const Tokenizer tok = Tokenizer::from_dir(test::data_path("tokenizer/llama2c"));
  EXPECT_EQ(tok.encode("One day, a clever fox found a shiny key under the old oak tree.", tok.specials()).size(), 35u);
}

TEST(SentencePieceTokenizerGolden, MatchesSpmEncode) {
  const Tokenizer tok = Tokenizer::from_dir(test::data_path("tokenizer/spm"));
  EXPECT_EQ(tok.kind(), "SentencePiece tokenizer.model");
  EXPECT_EQ(tok.vocab_size(), 400);
  EXPECT_EQ(tok.bos_id(), 1);
  EXPECT_EQ(tok.eos_id(), 2);
  EXPECT_TRUE(tok.add_bos());
  const auto g = nlohmann::json::parse(read_file(test::data_path("tokenizer/spm_goldens.json")));
  ASSERT_EQ(g["cases"].size(), 11u);
  for (const auto& c : g["cases"]) {
    const std::string text = c["text"].get<std::string>();
    const std::vector<int32_t> want = c["ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(tok.encode(text), want) << text;
    EXPECT_EQ(tok.decode(want), text) << text;
    std::string streamed;
    for (int32_t id : want) streamed += tok.decode_one(id);
    EXPECT_EQ(streamed.substr(streamed[0] == ' ' ? 1 : 0), text) << text;
  }
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
