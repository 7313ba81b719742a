// The tokenizer kinds beyond GPT-2 (docs/tokenizer.md): Llama 3 / Qwen2 pre-tokenizer splits (expected pieces
// from node's regex engine on the same patterns), NFC, a small hand-made tokenizer.json (merges as strings and
// as pairs, ignore_merges, unk, added tokens with lstrip/rstrip), the kind chosen by from_dir, and hostile
// tokenizer.json / tokenizer_config.json / tokenizer.bin / tokenizer.model files (each one clear Error).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"
#include "test_paths.h"
#include "tokenizer/hf_bpe.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/tokenizer.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {

using json = nlohmann::json;

std::vector<std::string> split(std::string_view text, SplitPattern p) {
  std::vector<std::string> out;
  for (std::string_view piece : pretokenize(text, p)) out.emplace_back(piece);
  return out;
}

using V = std::vector<std::string>;

TEST(PretokenizeLlama3, MatchesTheRegexOnEdgeCases) {
  // Expected pieces: node 20's /u regex on the same pattern (see tools/hf_tokenizer_goldens).
  EXPECT_EQ(split("Hello world", SplitPattern::kLlama3), (V{"Hello", " world"}));
  EXPECT_EQ(split("I'M here", SplitPattern::kLlama3), (V{"I", "'M", " here"}));
  EXPECT_EQ(split("12345 x", SplitPattern::kLlama3), (V{"123", "45", " x"}));
  EXPECT_EQ(split("12345 x", SplitPattern::kQwen2), (V{"1", "2", "3", "4", "5", " x"}));
  EXPECT_EQ(split("a\n\n  b", SplitPattern::kLlama3), (V{"a", "\n\n", " ", " b"}));
  EXPECT_EQ(split("x...\n\ny", SplitPattern::kLlama3), (V{"x", "...\n\n", "y"}));
  EXPECT_EQ(split(".hello", SplitPattern::kLlama3), (V{".hello"}));
  EXPECT_EQ(split("  \t\n \n  z", SplitPattern::kLlama3), (V{"  \t\n \n", " ", " z"}));
  EXPECT_EQ(split("a \r\n", SplitPattern::kLlama3), (V{"a", " \r\n"}));
  EXPECT_EQ(split("don't 'LL", SplitPattern::kLlama3), (V{"don", "'t", " '", "LL"}));
  EXPECT_EQ(split("\tword 42abc", SplitPattern::kQwen2), (V{"\tword", " ", "4", "2", "abc"}));
  EXPECT_EQ(split("ab12c", SplitPattern::kDigits), (V{"ab", "1", "2", "c"}));
  EXPECT_EQ(split("ab12c", SplitPattern::kDigitRuns), (V{"ab", "12", "c"}));
}

TEST(PretokenizeLlama3, PiecesConcatenateToAnyInput) {
  const std::string text =
      std::string("mixed \xff\xfe bytes\r\n\r\n 99999 caf\xc3\xa9 \xe4\xbd\xa0\xe5\xa5\xbd!!\n") + '\0';
  for (SplitPattern p : {SplitPattern::kLlama3, SplitPattern::kQwen2, SplitPattern::kDigits}) {
    std::string joined;
    for (const std::string& piece : split(text, p)) {
      EXPECT_FALSE(piece.empty());
      joined += piece;
    }
    EXPECT_EQ(joined, text);
  }
}

TEST(Nfc, ComposesAsPythonUnicodedata) {
  // Expected strings: Python 3.11 unicodedata.normalize("NFC", ...).
  EXPECT_EQ(nfc_normalize("e\xcc\x81"), "\xc3\xa9");                                 // e + U+0301 -> U+00E9
  EXPECT_EQ(nfc_normalize("\xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8"), "\xea\xb0\x81");  // Hangul L V T -> U+AC01
  EXPECT_EQ(nfc_normalize("\xe2\x84\xab"), "\xc3\x85");                              // U+212B -> U+00C5
  EXPECT_EQ(nfc_normalize("a\xcc\x81\xcc\xa3"), "\xe1\xba\xa1\xcc\x81");             // reordered -> U+1EA1 U+0301
  EXPECT_EQ(nfc_normalize("A\xcc\x8a\xcc\x81"), "\xc7\xba");                         // -> U+01FA
  EXPECT_EQ(nfc_normalize("\xef\xa4\x80"), "\xe8\xb1\x88");                          // U+F900 -> U+8C48
  EXPECT_EQ(nfc_normalize("plain ascii"), "plain ascii");
  EXPECT_EQ(nfc_normalize("\xff"
                          "e\xcc\x81\x80"),
            "\xff\xc3\xa9\x80");  // invalid bytes pass through
}

// A hand-made tokenizer.json: vocabulary a b c ab abc <unk>, merges, an added token.
json small_tokenizer() {
  json j;
  j["model"] = {{"type", "BPE"},
                {"vocab", {{"a", 0}, {"b", 1}, {"c", 2}, {"ab", 3}, {"abc", 4}, {"<unk>", 5}}},
                {"merges", json::array({"a b", json::array({"ab", "c"})})},
                {"unk_token", "<unk>"},
                {"fuse_unk", true}};
  j["added_tokens"] =
      json::array({{{"id", 6}, {"content", "<|x|>"}, {"special", true}, {"lstrip", true}, {"rstrip", true}},
                   {{"id", 7}, {"content", "<|x|>!"}, {"special", false}}});
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = {{"type", "Split"},
                        {"pattern",
                         {{"Regex",
                           "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
                           "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}}},
                        {"behavior", "Isolated"},
                        {"invert", false}};
  j["decoder"] = nullptr;
  return j;
}

Tokenizer parse(const json& j, const std::string& config = "") {
  return Tokenizer::from_hf_json_text(j.dump(), config, "test/tokenizer.json", "test/tokenizer_config.json");
}

TEST(HfTokenizerSmall, MergesUnkAndAddedTokens) {
  const Tokenizer tok = parse(small_tokenizer());
  EXPECT_EQ(tok.vocab_size(), 8);
  EXPECT_EQ(tok.encode("abcab"), (std::vector<int32_t>{4, 3}));
  EXPECT_EQ(tok.encode("abxyc"), (std::vector<int32_t>{3, 5, 2}));  // x y fused into one <unk>
  // Longest added token first; <|x|> strips white space on both sides.
  EXPECT_EQ(tok.encode("ab  <|x|>  c"), (std::vector<int32_t>{3, 6, 2}));
  EXPECT_EQ(tok.encode("ab<|x|>!c"), (std::vector<int32_t>{3, 7, 2}));
  EXPECT_EQ(tok.decode({4, 6, 3}), "abc<|x|>ab");
  EXPECT_EQ(tok.bos_id(), -1);
  EXPECT_FALSE(tok.add_bos());
  EXPECT_THROW(tok.encode("a", {true, false}), Error);
  json j = small_tokenizer();
  j["model"]["ignore_merges"] = true;
  j["model"]["merges"] = json::array({"a b", "ab c"});
  const Tokenizer tok2 = parse(j, R"({"bos_token": {"content": "<|x|>"}, "add_bos_token": true, "eos_token": "c"})");
  EXPECT_EQ(tok2.encode("abc", tok2.specials()), (std::vector<int32_t>{6, 4}));
  EXPECT_EQ(tok2.eos_id(), 2);
}

void expect_error(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "accepted; expected an error with '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << "not one line: " << e.what();
  }
}

TEST(HfTokenizerHostile, EachFileDefectIsOneClearError) {
  expect_error([] { Tokenizer::from_hf_json_text("{\"model\": {", "", "t.json"); }, "text that is not JSON");
  expect_error([] { Tokenizer::from_hf_json_text("[1, 2]", "", "t.json"); }, "expected a JSON object, got array");
  json j = small_tokenizer();
  j["model"]["type"] = "Unigram";
  expect_error([&] { parse(j); }, "expected model type 'BPE', got 'Unigram'");
  j = small_tokenizer();
  j["model"]["merges"] = json::array({"a q"});
  expect_error([&] { parse(j); }, "expected merge parts that are vocabulary tokens, got 'q'");
  j = small_tokenizer();
  j["model"]["merges"] = json::array({"b a"});
  expect_error([&] { parse(j); }, "expected a merge result in the vocabulary, got 'ba' absent");
  j = small_tokenizer();
  j["model"]["merges"] = json::array({"a b", "a b"});
  expect_error([&] { parse(j); }, "expected each merge once");
  j = small_tokenizer();
  j["model"]["merges"] = json::array({"a  b"});
  expect_error([&] { parse(j); }, "two parts, one space");
  j = small_tokenizer();
  j["model"]["vocab"]["abc"] = 9;
  expect_error([&] { parse(j); }, "expected an id in [0, 6), got 9");
  j = small_tokenizer();
  j["model"]["vocab"]["abc"] = 3;
  expect_error([&] { parse(j); }, "expected unique ids, got id 3 twice");
  j = small_tokenizer();
  j["model"]["vocab"]["abc"] = -1;
  expect_error([&] { parse(j); }, "got -1");
  j = small_tokenizer();
  j["added_tokens"][1]["id"] = 3;
  expect_error([&] { parse(j); }, "expected an id not used by another token, got id 3 taken");
  j = small_tokenizer();
  j["added_tokens"][0] = {{"id", 0}, {"content", "a"}};  // the vocabulary's own "a": allowed, but then
  j["added_tokens"][1]["id"] = 7;                        // id 6 has no token
  expect_error([&] { parse(j); }, "expected dense token ids, got no token for id 6");
  j = small_tokenizer();
  j["normalizer"] = {{"type", "Lowercase"}};
  expect_error([&] { parse(j); }, "got 'Lowercase'");
  j = small_tokenizer();
  j["pre_tokenizer"]["pattern"]["Regex"] = "\\w+";
  expect_error([&] { parse(j); }, "expected the GPT-2, Llama 3 or Qwen2 split pattern");
  j = small_tokenizer();
  j["decoder"] = {{"type", "ByteLevel"}};
  expect_error([&] { parse(j); }, "a ByteLevel decoder exactly when the pre_tokenizer is ByteLevel");
  j = small_tokenizer();
  j["model"].erase("vocab");
  expect_error([&] { parse(j); }, "expected a field \"vocab\"");
  expect_error([&] { parse(small_tokenizer(), "not json"); }, "text that is not JSON");
  expect_error([&] { parse(small_tokenizer(), R"({"add_bos_token": "yes"})"); }, "a boolean \"add_bos_token\"");
  expect_error([&] { parse(small_tokenizer(), R"({"add_bos_token": true, "bos_token": "<s>"})"); },
               "expected a bos_token of the vocabulary when add_bos_token is true, got '<s>'");
}

TEST(HfTokenizerHostile, DecodeRejectsIdsOutOfRange) {
  const Tokenizer tok = parse(small_tokenizer());
  expect_error([&] { tok.decode({0, 8}); }, "expected a token id in [0, 8), got 8");
  expect_error([&] { tok.decode_one(-1); }, "got -1");
}

// tokenizer.bin bytes: max_token_length then {score, len, bytes} per token (a valid 259 + extra token file).
std::string llama2c_bin(int32_t max_len, const std::vector<std::pair<float, std::string>>& extra) {
  std::string out;
  auto put_i32 = [&](int32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); };
  auto put_f32 = [&](float v) { out.append(reinterpret_cast<const char*>(&v), 4); };
  auto token = [&](float score, const std::string& s) {
    put_f32(score), put_i32(static_cast<int32_t>(s.size())), out += s;
  };
  put_i32(max_len);
  token(0, "<unk>"), token(0, "\n<s>\n"), token(0, "\n</s>\n");
  for (int b = 0; b < 256; ++b) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "<0x%02X>", b);
    token(0, buf);
  }
  for (const auto& [score, s] : extra) token(score, s);
  return out;
}

TEST(Llama2cTokenizer, SmallFileEncodesByScore) {
  const std::string bin = llama2c_bin(7, {{-1, " "}, {-5, "a"}, {-4, "b"}, {-3, "ab"}, {-2, " a"}, {-0.5f, " ab"}});
  const Tokenizer tok = Tokenizer::from_llama2c_bytes(bin, "t.bin");
  // " " a b: " a" (-2) beats "ab" (-3); then " a"+"b" = " ab" (-0.5).
  EXPECT_EQ(tok.encode("ab"), (std::vector<int32_t>{264}));
  EXPECT_EQ(tok.encode("b\xc3\xa9"), (std::vector<int32_t>{259, 261, 0xC3 + 3, 0xA9 + 3}));
  EXPECT_EQ(tok.decode({1, 264, 0xC3 + 3, 0xA9 + 3}), "\n<s>\nab\xc3\xa9");
  EXPECT_TRUE(tok.encode("").empty());
}

TEST(Llama2cTokenizerHostile, EachFileDefectIsOneClearError) {
  const std::string good = llama2c_bin(7, {{-1, " "}});
  expect_error([&] { Tokenizer::from_llama2c_bytes(good.substr(0, good.size() - 1), "t.bin"); }, "file truncated");
  expect_error([&] { Tokenizer::from_llama2c_bytes(good.substr(0, 2), "t.bin"); }, "file truncated");
  expect_error([&] { Tokenizer::from_llama2c_bytes(llama2c_bin(1 << 30, {}), "t.bin"); },
               "expected max_token_length in [1, 65536], got 1073741824");
  expect_error([&] { Tokenizer::from_llama2c_bytes(llama2c_bin(-3, {}), "t.bin"); }, "got -3");
  std::string neg = good;
  const int32_t minus = -5;
  std::memcpy(&neg[4 + 4], &minus, 4);  // the length of token 0
  expect_error([&] { Tokenizer::from_llama2c_bytes(neg, "t.bin"); },
               "expected a length in [0, max_token_length = 7], got -5");
  expect_error([&] { Tokenizer::from_llama2c_bytes(llama2c_bin(7, {{-1, "longer than seven"}}), "t.bin"); }, "got 17");
  expect_error(
      [&] {
        Tokenizer::from_llama2c_bytes(llama2c_bin(7, {{std::nanf(""), "x"}}), "t.bin");
      },
      "expected a finite score");
  std::string swapped = llama2c_bin(7, {});
  const size_t first_byte_token = swapped.find("<0x00>");
  swapped[first_byte_token + 4] = '7';
  expect_error([&] { Tokenizer::from_llama2c_bytes(swapped, "t.bin"); }, "the byte token '<0x00>' at id 3");
  const std::string few = good.substr(0, good.find("<0xFF>") - 8);
  expect_error([&] { Tokenizer::from_llama2c_bytes(few, "t.bin"); }, "expected at least 259 tokens");
  const Tokenizer tok = Tokenizer::from_llama2c_bytes(good, "t.bin");
  expect_error([&] { tok.decode({1, 260}); }, "expected a token id in [0, 260), got 260");
}

TEST(SentencePieceHostile, GarbageModelIsOneClearError) {
  const std::string dir = test::scratch_dir("spm_garbage");
  write_file_atomic(dir + "/tokenizer.model", "this is not a protobuf");
  expect_error([&] { Tokenizer::from_dir(dir); }, "cannot load SentencePiece model");
}

TEST(TokenizerFromDir, PriorityOfKinds) {
  namespace fs = std::filesystem;
  const std::string dir = test::scratch_dir("tokenizer_priority");
  fs::copy_file(test::data_path("tokenizer/llama2c/tokenizer.bin"), dir + "/tokenizer.bin");
  Tokenizer::write_bytes_tokenizer(dir);  // {"type": "bytes"} ranks below tokenizer.bin
  EXPECT_EQ(Tokenizer::from_dir(dir).kind(), "llama2.c tokenizer.bin");
  fs::copy_file(test::data_path("tokenizer/spm/tokenizer.model"), dir + "/tokenizer.model");
  EXPECT_EQ(Tokenizer::from_dir(dir).kind(), "SentencePiece tokenizer.model");
  write_file_atomic(dir + "/tokenizer.json", small_tokenizer().dump());
  EXPECT_EQ(Tokenizer::from_dir(dir).kind(), "tokenizer.json (BPE)");
  // tokenizer_config.json switches BOS off for llama2.c (l2c converter folders write it with add_bos_token true).
  const std::string l2c = test::scratch_dir("tokenizer_l2c_config");
  fs::copy_file(test::data_path("tokenizer/llama2c/tokenizer.bin"), l2c + "/tokenizer.bin");
  write_file_atomic(l2c + "/tokenizer_config.json", R"({"add_bos_token": false, "add_eos_token": false})");
  EXPECT_FALSE(Tokenizer::from_dir(l2c).add_bos());
  const std::string bytes = test::scratch_dir("tokenizer_bytes_only");
  Tokenizer::write_bytes_tokenizer(bytes);
  EXPECT_TRUE(Tokenizer::from_dir(bytes).is_bytes());
  EXPECT_EQ(Tokenizer::from_dir(bytes).bos_id(), -1);
}

TEST(TokenizerGpt2Specials, UnchangedBehaviour) {
  const Tokenizer tok = Tokenizer::from_dir(data_dir() + "/tokenizer/gpt2");
  EXPECT_EQ(tok.kind(), "gpt2");
  EXPECT_FALSE(tok.add_bos());
  EXPECT_FALSE(tok.add_eos());
  EXPECT_EQ(tok.encode("Hello world", tok.specials()), (std::vector<int32_t>{15496, 995}));
  EXPECT_EQ(tok.bos_id(), 50256);
  EXPECT_EQ(tok.start_id(), 50256);
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
