// GPT-2 tokenizer: pre-tokenizer splits, heap BPE vs the reference loop, byte-exact round trips (invalid
// UTF-8 included), bad ids, both file-name conventions, and hostile tokenizer files.
#include "tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>

#include "core/error.h"
#include "core/file.h"
#include "test_paths.h"
#include "tokenizer/bpe.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/unicode_class.h"
#include "tokenizer/vocab_files.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {

std::string gpt2_dir() {
  return data_dir() + "/tokenizer/gpt2";
}

class TokenizerGpt2 : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { tok_ = std::make_unique<Tokenizer>(Tokenizer::from_dir(gpt2_dir())); }
  static void TearDownTestSuite() { tok_.reset(); }
  static std::unique_ptr<Tokenizer> tok_;
};
std::unique_ptr<Tokenizer> TokenizerGpt2::tok_;

std::vector<std::string> pieces(std::string_view text) {
  std::vector<std::string> out;
  for (std::string_view p : pretokenize(text)) out.emplace_back(p);
  return out;
}

using Pieces = std::vector<std::string>;

TEST(TokenizerPretokenize, SplitsLikeTheGpt2Pattern) {
  EXPECT_EQ(pieces("Hello  world\n\n"), (Pieces{"Hello", " ", " world", "\n\n"}));
  EXPECT_EQ(pieces("it's I'LL 'd"), (Pieces{"it", "'s", " I", "'", "LL", " '", "d"}));
  EXPECT_EQ(pieces("a\n b"), (Pieces{"a", "\n", " b"}));
  EXPECT_EQ(pieces("x  \ty"), (Pieces{"x", "  ", "\t", "y"}));
  EXPECT_EQ(pieces("abc123!!? "), (Pieces{"abc", "123", "!!?", " "}));
  EXPECT_EQ(pieces(" 日本語 ４２"), (Pieces{" 日本語", " ４２"}));
  EXPECT_EQ(pieces("a\u3000b"), (Pieces{"a", "\u3000", "b"}));  // U+3000 is \s, not ' '
  EXPECT_EQ(pieces(""), Pieces{});
}

TEST(TokenizerPretokenize, InvalidUtf8BytesAreOtherCharacters) {
  EXPECT_EQ(pieces("a\xff\xfe"
                   "b"),
            (Pieces{"a", "\xff\xfe", "b"}));
  EXPECT_EQ(pieces(" \x80x"), (Pieces{" \x80", "x"}));
  EXPECT_EQ(pieces("\xe6\x97\xa5\xe6\x97 \xe6\x9c\xac"), (Pieces{"\xe6\x97\xa5", "\xe6\x97", " \xe6\x9c\xac"}));
  EXPECT_EQ(pieces("\xc0\xaf!"), (Pieces{"\xc0\xaf!"}));  // overlong '/'
  EXPECT_EQ(pieces("\xed\xa0\x80"
                   "a"),
            (Pieces{"\xed\xa0\x80", "a"}));  // surrogate U+D800
}

TEST(TokenizerPretokenize, ClassesFollowTheTables) {
  EXPECT_EQ(char_class('a'), CharClass::kLetter);
  EXPECT_EQ(char_class(0x00E9), CharClass::kLetter);  // é
  EXPECT_EQ(char_class(0x0301), CharClass::kOther);   // combining acute (Mn)
  EXPECT_EQ(char_class(0x0663), CharClass::kNumber);  // Arabic-Indic three
  EXPECT_EQ(char_class(0x00BD), CharClass::kNumber);  // ½ (No)
  EXPECT_EQ(char_class(0xFEFF), CharClass::kSpace);   // BOM is \s in ECMAScript
  EXPECT_EQ(char_class(0x0085), CharClass::kOther);   // NEL is not
  EXPECT_EQ(char_class(0x1F600), CharClass::kOther);  // emoji
  EXPECT_EQ(char_class(0x10FFFF), CharClass::kOther);
  EXPECT_STREQ(unicode_tables_version(), "14.0.0");
}

// A string mixing bytes that stress the pre-tokenizer: ASCII classes, multi-byte characters, broken
// sequences and arbitrary bytes.
std::string random_text(std::mt19937& rng, size_t max_len) {
  static const std::vector<std::string> kParts = {
      "a",      "Z",    "7",    " ",        "  ",       "\n",       "\r\n",         "\t",     "'",
      "'s",     "'ll",  "!",    ".",        "é",        "日",       "\u3000",       "\u00a0", "😀",
      "\u200d", "\xff", "\x80", "\xe6\x97", "\xf0\x9f", "\xc0\xaf", "\xed\xa0\x80", "\0",     "١"};
  std::uniform_int_distribution<size_t> len(0, max_len), part(0, kParts.size() - 1), byte(0, 255), coin(0, 3);
  std::string s;
  for (size_t n = len(rng), i = 0; i < n; ++i) {
    if (coin(rng) == 0)
      s += char(byte(rng));
    else
      s += kParts[part(rng)];
  }
  return s;
}

TEST(TokenizerPretokenize, PiecesConcatenateToTheInput) {
  std::mt19937 rng(1234);
  for (int i = 0; i < 2000; ++i) {
    const std::string s = random_text(rng, 40);
    std::string joined;
    for (std::string_view p : pretokenize(s)) {
      ASSERT_FALSE(p.empty());
      joined += p;
    }
    ASSERT_EQ(joined, s);
  }
}

TEST_F(TokenizerGpt2, RoundTripsRandomByteStrings) {
  std::mt19937 rng(42);
  for (int i = 0; i < 3000; ++i) {
    const std::string s = random_text(rng, 60);
    const std::vector<int32_t> ids = tok_->encode(s);
    ASSERT_EQ(tok_->decode(ids), s) << "string #" << i;
  }
  std::uniform_int_distribution<int> byte(0, 255);
  for (int i = 0; i < 500; ++i) {  // uniformly random bytes: mostly invalid UTF-8
    std::string s(static_cast<size_t>(i % 97), '\0');
    for (char& c : s) c = char(byte(rng));
    ASSERT_EQ(tok_->decode(tok_->encode(s)), s);
  }
  std::string all_bytes;
  for (int b = 0; b < 256; ++b) all_bytes += char(b);
  EXPECT_EQ(tok_->decode(tok_->encode(all_bytes)), all_bytes);
}

TEST_F(TokenizerGpt2, LongPiecesEncodeAndRoundTrip) {
  const std::string as(200000, 'a');
  const std::vector<int32_t> ids = tok_->encode(as);
  EXPECT_LT(ids.size(), as.size() / 2);
  EXPECT_EQ(tok_->decode(ids), as);
  std::string digits;
  for (int i = 0; i < 50000; ++i) digits += char('0' + (i * 7) % 10);
  EXPECT_EQ(tok_->decode(tok_->encode(digits)), digits);
}

TEST_F(TokenizerGpt2, HeapBpeEqualsReferenceLoop) {
  const VocabTables t = load_vocab_tables(gpt2_dir() + "/encoder.json", gpt2_dir() + "/vocab.bpe");
  std::mt19937 rng(7);
  const std::string alphabet = "aeinorst hl";
  std::uniform_int_distribution<size_t> len(2, 80), pick(0, alphabet.size() - 1);
  for (int i = 0; i < 3000; ++i) {
    std::vector<int32_t> word;
    for (size_t n = len(rng), k = 0; k < n; ++k)
      word.push_back(t.byte_id[static_cast<unsigned char>(alphabet[pick(rng)])]);
    std::vector<int32_t> fast = word, slow = word;
    bpe_merge(t.merges, fast);
    bpe_merge_reference(t.merges, slow);
    ASSERT_EQ(fast, slow) << "word #" << i;
  }
}

TEST_F(TokenizerGpt2, DecodeRejectsBadIds) {
  EXPECT_EQ(tok_->decode({15496, 995}), "Hello world");
  for (int32_t bad : {-1, 50257, 1 << 30}) {
    try {
      tok_->decode({15496, bad});
      FAIL() << "id " << bad << " was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("expected a token id in [0, 50257), got " + std::to_string(bad)),
                std::string::npos)
          << e.what();
    }
  }
  EXPECT_THROW(tok_->decode_one(-5), Error);
}

TEST_F(TokenizerGpt2, LoadsBothFileNameConventions) {
  const std::string dir = test::scratch_dir("tokenizer_hf_names");
  std::filesystem::copy_file(gpt2_dir() + "/encoder.json", dir + "/vocab.json");
  std::filesystem::copy_file(gpt2_dir() + "/vocab.bpe", dir + "/merges.txt");
  const Tokenizer hf = Tokenizer::from_dir(dir);
  const Tokenizer explicit_files = Tokenizer::from_files(dir + "/vocab.json", dir + "/merges.txt");
  const std::string text = "Both conventions load the same 50257 tokens.\n";
  EXPECT_EQ(hf.vocab_size(), 50257);
  EXPECT_EQ(hf.encode(text), tok_->encode(text));
  EXPECT_EQ(explicit_files.encode(text), tok_->encode(text));
}

// ---------------------------------------------------------------------------------------------------------
// A tiny consistent tokenizer (256 byte tokens, four merges, one special token) and broken variants of it.

std::string unicode_form(const std::string& bytes) {
  std::string out;
  for (unsigned char b : bytes) {
    const uint32_t cp = byte_to_code_point()[b];
    if (cp < 0x80)
      out += char(cp);
    else
      out += char(0xC0 | (cp >> 6)), out += char(0x80 | (cp & 0x3F));
  }
  return out;
}

struct MiniFiles {
  std::vector<std::string> tokens;  // raw bytes; id = index
  std::vector<std::string> merges = {"h e", "l l", "he ll", "Ġ w"};

  MiniFiles() {
    for (int b = 0; b < 256; ++b) tokens.push_back(std::string(1, char(b)));
    for (const char* t : {"he", "ll", "hell", " w", "<|endoftext|>"}) tokens.push_back(t);
  }
  std::string vocab_json() const {
    std::string s = "{";
    for (size_t id = 0; id < tokens.size(); ++id)
      s += (id ? ", " : "") + nlohmann::json(unicode_form(tokens[id])).dump() + ": " + std::to_string(id);
    return s + "}\n";
  }
  std::string merges_text() const {
    std::string s = "#version: 0.2\n";
    for (const auto& m : merges) s += m + "\n";
    return s;
  }
};

std::string write_mini(const std::string& name, const std::string& vocab, const std::string& merges) {
  const std::string dir = test::scratch_dir("tokenizer_" + name);
  write_file_atomic(dir + "/encoder.json", vocab);
  write_file_atomic(dir + "/vocab.bpe", merges);
  return dir;
}

// Loading must throw Error("tokenizer", ...) whose message names `file` and contains `fragment`.
void expect_rejected(const std::string& name, const std::string& vocab, const std::string& merges,
                     const std::string& file, const std::string& fragment) {
  const std::string dir = write_mini(name, vocab, merges);
  try {
    Tokenizer::from_dir(dir);
    ADD_FAILURE() << name << ": accepted";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(e.component(), "tokenizer") << name << ": " << msg;
    EXPECT_NE(msg.find(fragment), std::string::npos) << name << ": " << msg;
    EXPECT_NE(msg.find(file), std::string::npos) << name << ": " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << name << ": message is not one line";
  }
}

TEST(TokenizerFiles, MiniTokenizerMerges) {
  const MiniFiles m;
  const Tokenizer tok = Tokenizer::from_dir(write_mini("mini", m.vocab_json(), m.merges_text()));
  EXPECT_EQ(tok.vocab_size(), 261);
  EXPECT_EQ(tok.encode("hello world"), (std::vector<int32_t>{258, 'o', 259, 'o', 'r', 'l', 'd'}));
  EXPECT_EQ(tok.decode_one(260), "<|endoftext|>");
}

TEST(TokenizerFiles, RejectsBrokenVocabJson) {
  const MiniFiles m;
  const std::string vocab = m.vocab_json(), merges = m.merges_text();
  expect_rejected("truncated_json", vocab.substr(0, vocab.size() / 2), merges, "encoder.json", "expected");
  expect_rejected("truncated_json_end", vocab.substr(0, vocab.size() - 3), merges, "encoder.json",
                  "expected ',' or '}', got end of file");
  expect_rejected("not_json", "this is not JSON", merges, "encoder.json", "expected a JSON object '{', got 't'");
  expect_rejected("json_array", "[1, 2, 3]", merges, "encoder.json", "expected a JSON object '{'");
  expect_rejected("empty_object", "{}", merges, "encoder.json", "expected a non-empty vocabulary");
  expect_rejected("trailing_garbage", vocab + "}", merges, "encoder.json", "expected end of file after the object");
  std::string s = vocab;
  s.replace(s.rfind("260"), 3, "\"260\"");
  expect_rejected("id_string", s, merges, "encoder.json", "expected an integer token id, got '\"260\"'");
  s = vocab;
  s.replace(s.rfind("260"), 3, "260.5");
  expect_rejected("id_float", s, merges, "encoder.json", "expected an integer token id, got '260.5'");
  s = vocab;
  s.replace(s.rfind("260"), 3, "259");
  expect_rejected("duplicate_id", s, merges, "encoder.json", "expected unique ids, got id 259 twice");
  s = vocab;
  s.replace(s.rfind("260"), 3, "261");
  expect_rejected("id_out_of_range", s, merges, "encoder.json", "expected an id in [0, 261), got 261");
  s = vocab;
  s.replace(s.rfind("}"), 1, ", \"\\u0120w\": 261}");
  expect_rejected("duplicate_key", s, merges, "encoder.json", "expected unique tokens, got a duplicate key");
  s = vocab;
  s.replace(s.rfind("}"), 1, ", \"\\u4e00\": 261}");
  expect_rejected("not_byte_level", s, merges, "encoder.json", "expected a token in GPT-2 byte-to-unicode form");
}

TEST(TokenizerFiles, RejectsMissingByteTokens) {
  MiniFiles m;
  m.tokens.erase(m.tokens.begin() + 'Q');
  expect_rejected("missing_byte", m.vocab_json(), m.merges_text(), "encoder.json",
                  "expected all 256 byte tokens, got 255");
}

TEST(TokenizerFiles, RejectsBrokenMerges) {
  const MiniFiles m;
  const std::string vocab = m.vocab_json(), merges = m.merges_text();
  expect_rejected("empty_merges", vocab, "", "vocab.bpe", "expected a first line '#version: ...', got an empty file");
  expect_rejected("no_header", vocab, "h e\nl l\n", "vocab.bpe", "expected a first line '#version: ...', got 'h e'");
  expect_rejected("one_part", vocab, merges + "hell\n", "vocab.bpe",
                  "expected a merge 'A B' (two parts, one space), got 'hell' at line 6");
  expect_rejected("three_parts", vocab, merges + "a b c\n", "vocab.bpe", "expected a merge 'A B'");
  expect_rejected("blank_line", vocab, "#version: 0.2\nh e\n\nl l\n", "vocab.bpe", "got '' at line 3");
  expect_rejected("unknown_part", vocab, merges + "hell xyz\n", "vocab.bpe", "'xyz' at line 6 of");
  expect_rejected("unknown_result", vocab, merges + "h l\n", "vocab.bpe", "the result of merge 'h l' at line 6");
  expect_rejected("duplicate_merge", vocab, merges + "h e\n", "vocab.bpe", "expected each merge once, got 'h e' again");
  expect_rejected("truncated_merges", vocab, "#version: 0.2\nh e\nl l\n", "vocab.bpe", "token 'hell' (id 258) of");
}

TEST(TokenizerFiles, CorruptedVocabJsonNeverCrashes) {
  const std::string vocab = MiniFiles().vocab_json();
  std::mt19937 rng(99);
  std::uniform_int_distribution<size_t> pos(0, vocab.size() - 1);
  std::uniform_int_distribution<int> byte(0, 255), op(0, 2);
  int rejected = 0;
  for (int i = 0; i < 500; ++i) {
    std::string s = vocab;
    for (int k = 0; k < 3; ++k) {
      const size_t p = pos(rng) % s.size();
      if (op(rng) == 0)
        s[p] = char(byte(rng));
      else if (op(rng) == 1)
        s.erase(p, 1);
      else
        s.resize(p + 1);
    }
    try {
      parse_vocab_json(s, "mutated.json");
    } catch (const Error& e) {
      ++rejected;
      EXPECT_NE(std::string(e.what()).find("mutated.json"), std::string::npos) << e.what();
    }
  }
  EXPECT_GT(rejected, 100);
}

TEST(TokenizerFiles, RejectsMissingFiles) {
  const MiniFiles m;
  const std::string dir = write_mini("missing_merges", m.vocab_json(), "");
  std::filesystem::remove(dir + "/vocab.bpe");
  EXPECT_THROW(
      {
        try {
          Tokenizer::from_dir(dir);
        } catch (const Error& e) {
          EXPECT_NE(std::string(e.what()).find("missing file '" + dir + "/vocab.bpe'"), std::string::npos) << e.what();
          throw;
        }
      },
      Error);
  const std::string empty = test::scratch_dir("tokenizer_empty_dir");
  try {
    Tokenizer::from_dir(empty);
    ADD_FAILURE() << "empty folder accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("vocab.json + merges.txt or encoder.json + vocab.bpe, got none of them"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(Tokenizer::from_dir(empty + "/nope"), Error);
  EXPECT_THROW(Tokenizer::from_files(empty + "/a.json", empty + "/b.txt"), Error);
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell

namespace gaincell {
namespace GAINCELL_UNITY_ID {

TEST(ByteTokenizer, IdsAreBytesAndRoundTrip) {
  std::string dir = test::scratch_dir("byte_tokenizer");
  Tokenizer::write_bytes_tokenizer(dir);
  Tokenizer t = Tokenizer::from_dir(dir);
  EXPECT_TRUE(t.is_bytes());
  EXPECT_EQ(t.vocab_size(), 256);
  EXPECT_EQ(t.start_id(), 10);
  std::string s = "Hi\xff\n";
  EXPECT_EQ(t.encode(s), (std::vector<int32_t>{72, 105, 255, 10}));
  EXPECT_EQ(t.decode(t.encode(s)), s);
  write_file_atomic(dir + "/tokenizer.json", "{\"type\": \"wordpiece\"}");
  try {
    Tokenizer::from_dir(dir);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("wordpiece"), std::string::npos);
  }
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
