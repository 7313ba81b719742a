// llama2.c checkpoints (karpathy/llama2.c): the legacy version-0 files (stories15M/42M/110M/260K), and the
// version-1 (float32) and version-2 (int8 Q8_0 in groups) exports of its export.py; layouts in
// docs/file-formats.md. The reader validates every header field and the exact file size and returns float32
// arrays in llama2.c's own layout (matrices [out][in], row-major, q/k rows in interleaved rotary pair order);
// `convert_llama2c` writes them as a Hugging Face Llama folder. Depends only on core and io.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace gaincell {

inline constexpr uint32_t kLlama2cMagic = 0x616b3432;  // "ak42" as a little-endian uint32
inline constexpr size_t kLlama2cHeaderBytes = 256;     // versions 1 and 2: header padded to 256 bytes
inline constexpr size_t kLlama2cLegacyHeaderBytes = 28;

// Limits on header fields (far above every published llama2.c / Llama checkpoint), so size arithmetic
// cannot overflow and a hostile header fails before any allocation.
inline constexpr int kLlama2cMaxDim = 65536;
inline constexpr int kLlama2cMaxHidden = 1 << 20;
inline constexpr int kLlama2cMaxLayers = 4096;
inline constexpr int kLlama2cMaxVocab = 1 << 22;
inline constexpr int kLlama2cMaxSeqLen = 1 << 22;

struct Llama2cConfig {
  int version = 0;  // 0 = legacy (no magic), 1 = float32 export, 2 = Q8_0 export
  int dim = 0;
  int hidden_dim = 0;  // SwiGLU width (w1, w3 rows)
  int n_layers = 0;
  int n_heads = 0;
  int n_kv_heads = 0;
  int vocab_size = 0;  // always positive here (the legacy sign flag goes to shared_classifier)
  int seq_len = 0;
  bool shared_classifier = true;  // classifier tied to the token embedding
  int group_size = 0;             // version 2 only: Q8_0 group size

  int head_size() const { return dim / n_heads; }
  int kv_dim() const { return head_size() * n_kv_heads; }
};

// Parses the header alone (the first bytes of a file) and checks every field; throws Error("llama2c", ...)
// naming the field, what was expected and what was found. Returns the header byte count in *header_bytes.
Llama2cConfig parse_llama2c_header(const uint8_t* data, size_t size, const std::string& where, size_t* header_bytes);
// The exact file size the header implies (header + every array), in bytes.
uint64_t llama2c_expected_bytes(const Llama2cConfig& c);

// A whole checkpoint as float32 (version 2 is dequantised: q * scale per group).
struct Llama2cCheckpoint {
  Llama2cConfig config;
  std::vector<float> token_embedding;  // [vocab][dim]
  std::vector<float> rms_att;          // [L][dim]
  std::vector<float> wq;               // [L][dim][dim]
  std::vector<float> wk;               // [L][kv_dim][dim]
  std::vector<float> wv;               // [L][kv_dim][dim]
  std::vector<float> wo;               // [L][dim][dim]
  std::vector<float> rms_ffn;          // [L][dim]
  std::vector<float> w1;               // [L][hidden][dim]   (gate)
  std::vector<float> w2;               // [L][dim][hidden]   (down)
  std::vector<float> w3;               // [L][hidden][dim]   (up)
  std::vector<float> rms_final;        // [dim]
  std::vector<float> wcls;             // [vocab][dim]; empty when shared_classifier
};

// Parses a whole checkpoint image (size bytes at data); `where` names it in errors. The size must equal
// llama2c_expected_bytes exactly (shorter or longer files are rejected).
Llama2cCheckpoint parse_llama2c(const uint8_t* data, size_t size, const std::string& where);
Llama2cCheckpoint load_llama2c(const std::string& path);

// Checks a llama2.c tokenizer.bin image: an int32 max_token_length, then exactly vocab_size records
// {float32 score, int32 len, len bytes} and nothing after them.
void check_llama2c_tokenizer(const uint8_t* data, size_t size, int vocab_size, const std::string& where);

// Row permutation of one q or k projection [n_heads * head_size][cols] from llama2.c's interleaved rotary pairs
// (rows 2i, 2i+1 of a head) to Hugging Face's rotate_half order (rows i, i + head_size/2), as HF's
// convert_llama_weights_to_hf.py permutes Meta weights; and its inverse.
void permute_rotary_to_hf(float* out, const float* in, int n_heads, int head_size, int cols);
void permute_rotary_from_hf(float* out, const float* in, int n_heads, int head_size, int cols);

struct Llama2cConvertOptions {
  std::string checkpoint;  // llama2.c .bin (version 0, 1 or 2)
  std::string tokenizer;   // llama2.c tokenizer.bin, copied to OUT/tokenizer.bin
  std::string out;         // output folder; must not exist or be empty
};

// Writes a Hugging Face Llama folder: config.json, model.safetensors (F32, HF names, q/k permuted),
// tokenizer.bin and tokenizer_config.json. Everything is validated before anything is written; the folder is
// built under a temporary name and renamed into place, so a failure leaves no output folder or partial files.
void convert_llama2c(const Llama2cConvertOptions& o);

}  // namespace gaincell
