// `gaincell tokenize` on the tokenizer kinds of docs/tokenizer.md: the ids of the text alone by default,
// BOS/EOS only with --add-special (and only where the tokenizer's configuration adds them).
#include <gtest/gtest.h>

#include "test_paths.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {

using test::gc;
using test::Result;

std::string dir(const char* name) {
  return test::data_path(std::string("tokenizer/") + name);
}

TEST(TokenizeCli, Llama2cTextAloneThenWithBos) {
  // Ids from tools/llama2c_tokenizer/reference.py (tests/data/tokenizer/llama2c_goldens.json, case "single").
  Result r = gc("tokenize --model " + dir("llama2c") + " --prompt a");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "[261]\n");
  r = gc("tokenize --model " + dir("llama2c") + " --prompt a --add-special");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "[1,261]\n");
}

TEST(TokenizeCli, HfJsonAddsBosOnlyWhereConfigured) {
  // tests/data/tokenizer/hf_goldens.json, case "special_llama2": added tokens in text are matched.
  Result r = gc("tokenize --model " + dir("llama2") + " --prompt '<s>Hello</s> and <unk> inside'");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "[1,22557,2,28705,304,28705,0,28705,3416]\n");
  r = gc("tokenize --model " + dir("llama2") + " --prompt Hello --add-special");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out.substr(0, 3), "[1,");
  // Qwen3's configuration adds nothing (add_bos_token false, no BOS token).
  Result a = gc("tokenize --model " + dir("qwen3") + " --prompt Hello");
  Result b = gc("tokenize --model " + dir("qwen3") + " --prompt Hello --add-special");
  ASSERT_EQ(a.rc, 0) << a.err;
  ASSERT_EQ(b.rc, 0) << b.err;
  EXPECT_EQ(a.out, b.out);
}

TEST(TokenizeCli, BadTokenizerIsOneLineError) {
  Result r = gc("tokenize --model " + dir("hostile_missing") + " --prompt a");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("[tokenizer]"), std::string::npos) << r.err;
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
