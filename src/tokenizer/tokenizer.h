// The tokenizer of a model folder (docs/tokenizer.md), one of:
//   * GPT-2 byte-level BPE (vocab.json + merges.txt or encoder.json + vocab.bpe), bit-exact with OpenAI's
//     encoder.py / the npm gpt-3-encoder; "<|endoftext|>" in text is plain text (as encode_ordinary);
//   * Hugging Face tokenizer.json (+ tokenizer_config.json) with a BPE model: Llama 3, Qwen2/3, SmolLM,
//     Llama 2, Mistral, TinyLlama; added and special tokens in text are matched as Hugging Face does;
//   * SentencePiece tokenizer.model (through libsentencepiece);
//   * llama2.c tokenizer.bin, exactly as llama2.c's run.c;
//   * the byte tokenizer (tokenizer.json = {"type": "bytes"}): ids are the 256 byte values, for small models
//     trained from scratch.
// encode() returns the ids of the text alone; encode(text, specials()) adds BOS/EOS where the tokenizer's
// configuration says so (tokenizer_config.json add_bos_token / add_eos_token; llama2.c: BOS).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace gaincell {

class TokenizerBackend;

// Which special tokens encode(text, options) adds around the text.
struct EncodeOptions {
  bool add_bos = false;
  bool add_eos = false;
};

class Tokenizer {
 public:
  static constexpr int32_t kEndOfText = 50256;

  // Loads the tokenizer of a model folder; when several are present the first of: tokenizer.json with a
  // "model" (Hugging Face) > tokenizer.model > tokenizer.bin > vocab.json + merges.txt / encoder.json +
  // vocab.bpe > tokenizer.json {"type": "bytes"}. tokenizer_config.json, when present, sets BOS/EOS.
  // Throws Error("tokenizer", ...) for missing, truncated, inconsistent or unsupported files.
  static Tokenizer from_dir(const std::string& dir);
  // A Hugging Face tokenizer.json, with the optional tokenizer_config.json ("" = none).
  static Tokenizer from_hf_json(const std::string& json_path, const std::string& config_path = "");
  // The same from the files' contents (the paths only name them in errors); config_text "" = none.
  static Tokenizer from_hf_json_text(std::string_view json_text, std::string_view config_text,
                                     const std::string& json_path, const std::string& config_path = "");
  // A llama2.c tokenizer.bin, with the optional tokenizer_config.json ("" = none).
  static Tokenizer from_llama2c(const std::string& bin_path, const std::string& config_path = "");
  static Tokenizer from_llama2c_bytes(std::string_view data, const std::string& bin_path);
  // A SentencePiece tokenizer.model, with the optional tokenizer_config.json ("" = none).
  static Tokenizer from_sentencepiece(const std::string& model_path, const std::string& config_path = "");
  // Loads from explicit files (vocab = encoder.json/vocab.json, merges = vocab.bpe/merges.txt).
  static Tokenizer from_files(const std::string& vocab_path, const std::string& merges_path);
  // The 256-id byte tokenizer.
  static Tokenizer bytes();
  // Writes DIR/tokenizer.json for the byte tokenizer (atomic).
  static void write_bytes_tokenizer(const std::string& dir);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // The ids of text alone: no BOS/EOS added.
  std::vector<int32_t> encode(std::string_view text) const;
  // The ids of text with BOS in front / EOS after as options say (a missing BOS/EOS id throws).
  std::vector<int32_t> encode(std::string_view text, EncodeOptions options) const;
  // What the tokenizer's configuration adds for the model: {add_bos(), add_eos()}.
  EncodeOptions specials() const { return {add_bos(), add_eos()}; }
  // Decodes ids to bytes; an id outside [0, vocab_size) throws Error("tokenizer", ...).
  std::string decode(const std::vector<int32_t>& ids) const;
  std::string decode_one(int32_t id) const;
  int32_t vocab_size() const;
  bool is_bytes() const;
  // The id that starts a text or separates documents: <|endoftext|> for GPT-2, '\n' for bytes, else BOS,
  // else EOS, else 0.
  int32_t start_id() const;
  // BOS / EOS ids, -1 when the tokenizer has none (GPT-2: both <|endoftext|>; bytes: none).
  int32_t bos_id() const;
  int32_t eos_id() const;
  // Whether text for the model starts with BOS / ends with EOS (tokenizer_config.json add_bos_token /
  // add_eos_token, else the tokenizer.json post-processor; llama2.c: BOS; SentencePiece: BOS if it has one).
  bool add_bos() const;
  bool add_eos() const;
  // "gpt2", "bytes", "tokenizer.json (byte-level BPE)", "tokenizer.json (BPE)", "SentencePiece tokenizer.model",
  // "llama2.c tokenizer.bin".
  std::string kind() const;

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  void check_id(int32_t id) const;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gaincell
