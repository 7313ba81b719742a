// llama2.c checkpoint reader and the conversion to a Hugging Face Llama folder (llama2c.h; formats in
// docs/file-formats.md).
#include "model/llama2c.h"

#include <unistd.h>

#include <climits>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <system_error>

#include "core/error.h"
#include "core/file.h"
#include "io/safetensors.h"

namespace gaincell {
namespace {

constexpr const char* kComp = "llama2c";

int32_t read_i32(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

void check_range(const std::string& field, int64_t v, int64_t lo, int64_t hi, const std::string& where) {
  if (v < lo || v > hi)
    fail_expected(kComp, field + " in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]", std::to_string(v),
                  " in '" + where + "'");
}

// Float counts of the arrays every version holds (before quantisation).
struct Counts {
  uint64_t emb, norm_layer, wq, wkv, wo, w13, w2, cls, rms_final, freq;
};
Counts counts(const Llama2cConfig& c) {
  const uint64_t d = c.dim, h = c.hidden_dim, l = c.n_layers, v = c.vocab_size;
  const uint64_t kv = static_cast<uint64_t>(c.kv_dim());
  Counts n{};
  n.emb = v * d;
  n.norm_layer = l * d;
  n.wq = l * d * d;
  n.wkv = l * kv * d;
  n.wo = l * d * d;
  n.w13 = l * h * d;
  n.w2 = l * d * h;
  n.cls = c.shared_classifier ? 0 : v * d;
  n.rms_final = d;
  n.freq = static_cast<uint64_t>(c.seq_len) * static_cast<uint64_t>(c.head_size() / 2);  // per cos/sin table
  return n;
}

// Sequential reader over the validated image: every take is in bounds because the total size was checked.
class Cursor {
 public:
  Cursor(const uint8_t* p, size_t offset) : p_(p), off_(offset) {}
  void f32(std::vector<float>& dst, uint64_t n) {
    const size_t at = dst.size();
    dst.resize(at + n);
    std::memcpy(dst.data() + at, p_ + off_, n * 4);
    off_ += n * 4;
  }
  void skip(uint64_t bytes) { off_ += bytes; }
  // One Q8_0 tensor of n values: n int8, then n / gs float32 scales; appended dequantised.
  void q80(std::vector<float>& dst, uint64_t n, int gs) {
    const size_t at = dst.size();
    dst.resize(at + n);
    const auto* q = reinterpret_cast<const int8_t*>(p_ + off_);
    const uint8_t* s = p_ + off_ + n;
    for (uint64_t g = 0; g < n / gs; ++g) {
      float scale;
      std::memcpy(&scale, s + 4 * g, 4);
      for (int i = 0; i < gs; ++i) dst[at + g * gs + i] = static_cast<float>(q[g * gs + i]) * scale;
    }
    off_ += n + 4 * (n / gs);
  }
  size_t offset() const { return off_; }

 private:
  const uint8_t* p_;
  size_t off_;
};

}  // namespace

Llama2cConfig parse_llama2c_header(const uint8_t* data, size_t size, const std::string& where, size_t* header_bytes) {
  Llama2cConfig c;
  const uint8_t* fields = nullptr;
  if (size >= 4 && static_cast<uint32_t>(read_i32(data)) == kLlama2cMagic) {
    if (size < kLlama2cHeaderBytes)
      fail_expected(kComp, "a " + std::to_string(kLlama2cHeaderBytes) + "-byte header after the magic \"ak42\"",
                    std::to_string(size) + " bytes in the file", " in '" + where + "'");
    c.version = read_i32(data + 4);
    if (c.version != 1 && c.version != 2)
      fail_expected(kComp, "version 1 (float32) or 2 (int8 Q8_0) after the magic \"ak42\"",
                    "version " + std::to_string(c.version), " in '" + where + "'");
    fields = data + 8;
    const uint8_t shared = data[36];
    if (shared > 1)
      fail_expected(kComp, "shared_classifier flag 0 or 1", std::to_string(shared), " in '" + where + "'");
    c.shared_classifier = shared == 1;
    *header_bytes = kLlama2cHeaderBytes;
  } else {
    if (size < kLlama2cLegacyHeaderBytes)
      fail_expected(kComp, "a 28-byte header (7 int32) of a legacy llama2.c checkpoint",
                    std::to_string(size) + " bytes in the file", " in '" + where + "'");
    fields = data;
    *header_bytes = kLlama2cLegacyHeaderBytes;
    // Without the magic, the first field is a legacy dim: name both readings when it is implausible.
    const int32_t first = read_i32(data);
    if (first < 1 || first > kLlama2cMaxDim)
      fail_expected(kComp,
                    "the magic 0x616b3432 (\"ak42\") of a version 1/2 file, or a legacy header whose dim is in [1, " +
                        std::to_string(kLlama2cMaxDim) + "]",
                    "first int32 " + std::to_string(first), " in '" + where + "'");
  }
  c.dim = read_i32(fields);
  c.hidden_dim = read_i32(fields + 4);
  c.n_layers = read_i32(fields + 8);
  c.n_heads = read_i32(fields + 12);
  c.n_kv_heads = read_i32(fields + 16);
  int64_t vocab = read_i32(fields + 20);
  c.seq_len = read_i32(fields + 24);
  if (c.version == 0) {
    c.shared_classifier = vocab > 0;  // the legacy format flags an untied classifier by a negative vocab_size
    vocab = vocab < 0 ? -vocab : vocab;
  }
  check_range("dim", c.dim, 1, kLlama2cMaxDim, where);
  check_range("hidden_dim", c.hidden_dim, 1, kLlama2cMaxHidden, where);
  check_range("n_layers", c.n_layers, 1, kLlama2cMaxLayers, where);
  check_range("n_heads", c.n_heads, 1, c.dim, where);
  check_range("n_kv_heads", c.n_kv_heads, 1, c.n_heads, where);
  check_range(c.version == 0 ? "|vocab_size|" : "vocab_size", vocab, 1, kLlama2cMaxVocab, where);
  c.vocab_size = static_cast<int>(vocab);
  check_range("seq_len", c.seq_len, 1, kLlama2cMaxSeqLen, where);
  if (c.dim % c.n_heads != 0)
    fail_expected(kComp, "n_heads dividing dim",
                  "dim " + std::to_string(c.dim) + ", n_heads " + std::to_string(c.n_heads), " in '" + where + "'");
  if (c.n_heads % c.n_kv_heads != 0)
    fail_expected(kComp, "n_kv_heads dividing n_heads",
                  "n_heads " + std::to_string(c.n_heads) + ", n_kv_heads " + std::to_string(c.n_kv_heads),
                  " in '" + where + "'");
  if (c.head_size() % 2 != 0)
    fail_expected(kComp, "an even head size (dim / n_heads) for rotary pairs", std::to_string(c.head_size()),
                  " in '" + where + "'");
  if (c.version == 2) {
    c.group_size = read_i32(data + 37);
    check_range("group_size", c.group_size, 1, c.dim, where);
    if (c.dim % c.group_size != 0)
      fail_expected(kComp, "group_size dividing dim",
                    "dim " + std::to_string(c.dim) + ", group_size " + std::to_string(c.group_size),
                    " in '" + where + "'");
  }
  return c;
}

uint64_t llama2c_expected_bytes(const Llama2cConfig& c) {
  const Counts n = counts(c);
  const uint64_t norms = 2 * n.norm_layer + n.rms_final;
  const uint64_t mats = n.emb + n.wq + 2 * n.wkv + n.wo + 2 * n.w13 + n.w2 + n.cls;
  if (c.version == 0) return kLlama2cLegacyHeaderBytes + 4 * (norms + mats + 2 * n.freq);
  if (c.version == 1) return kLlama2cHeaderBytes + 4 * (norms + mats);
  return kLlama2cHeaderBytes + 4 * norms + mats + 4 * (mats / static_cast<uint64_t>(c.group_size));
}

Llama2cCheckpoint parse_llama2c(const uint8_t* data, size_t size, const std::string& where) {
  size_t header = 0;
  Llama2cCheckpoint ck;
  ck.config = parse_llama2c_header(data, size, where, &header);
  const Llama2cConfig& c = ck.config;
  const uint64_t expected = llama2c_expected_bytes(c);
  if (size != expected)
    fail_expected(kComp,
                  std::to_string(expected) + " bytes (version " + std::to_string(c.version) + " header: dim " +
                      std::to_string(c.dim) + ", hidden_dim " + std::to_string(c.hidden_dim) + ", n_layers " +
                      std::to_string(c.n_layers) + ", n_heads " + std::to_string(c.n_heads) + ", n_kv_heads " +
                      std::to_string(c.n_kv_heads) + ", vocab_size " + std::to_string(c.vocab_size) + ", seq_len " +
                      std::to_string(c.seq_len) + ")",
                  std::to_string(size) + " bytes (" + (size < expected ? "file too short" : "file too long") + ")",
                  " in '" + where + "'");
  const Counts n = counts(c);
  Cursor cur(data, header);
  if (c.version == 0) {
    cur.f32(ck.token_embedding, n.emb);
    cur.f32(ck.rms_att, n.norm_layer);
    cur.f32(ck.wq, n.wq);
    cur.f32(ck.wk, n.wkv);
    cur.f32(ck.wv, n.wkv);
    cur.f32(ck.wo, n.wo);
    cur.f32(ck.rms_ffn, n.norm_layer);
    cur.f32(ck.w1, n.w13);
    cur.f32(ck.w2, n.w2);
    cur.f32(ck.w3, n.w13);
    cur.f32(ck.rms_final, n.rms_final);
    cur.skip(2 * 4 * n.freq);  // freq_cis real and imaginary tables: unused
    if (!c.shared_classifier) cur.f32(ck.wcls, n.cls);
  } else {
    cur.f32(ck.rms_att, n.norm_layer);
    cur.f32(ck.rms_ffn, n.norm_layer);
    cur.f32(ck.rms_final, n.rms_final);
    const uint64_t l = static_cast<uint64_t>(c.n_layers);
    // Version 1 stores each array whole; version 2 stores each tensor (one per layer) as int8 then scales.
    auto take = [&](std::vector<float>& dst, uint64_t total, uint64_t parts) {
      if (c.version == 1) return cur.f32(dst, total);
      for (uint64_t i = 0; i < parts; ++i) cur.q80(dst, total / parts, c.group_size);
    };
    take(ck.token_embedding, n.emb, 1);
    take(ck.wq, n.wq, l);
    take(ck.wk, n.wkv, l);
    take(ck.wv, n.wkv, l);
    take(ck.wo, n.wo, l);
    take(ck.w1, n.w13, l);
    take(ck.w2, n.w2, l);
    take(ck.w3, n.w13, l);
    if (!c.shared_classifier) take(ck.wcls, n.cls, 1);
  }
  GAINCELL_ASSERT(cur.offset() == size);
  return ck;
}

Llama2cCheckpoint load_llama2c(const std::string& path) {
  MappedFile f(path);
  return parse_llama2c(f.data(), f.size(), path);
}

void check_llama2c_tokenizer(const uint8_t* data, size_t size, int vocab_size, const std::string& where) {
  if (size < 4)
    fail_expected(kComp, "a tokenizer.bin starting with int32 max_token_length", std::to_string(size) + " bytes",
                  " in '" + where + "'");
  const int32_t max_len = read_i32(data);
  check_range("tokenizer max_token_length", max_len, 1, 1 << 16, where);
  size_t off = 4;
  for (int i = 0; i < vocab_size; ++i) {
    if (size - off < 8)
      fail_expected(kComp, std::to_string(vocab_size) + " token records (the model's vocab_size)",
                    "the file ending in record " + std::to_string(i), " in '" + where + "'");
    const int32_t len = read_i32(data + off + 4);
    if (len < 0 || len > max_len || static_cast<size_t>(len) > size - off - 8)
      fail_expected(
          kComp, "token " + std::to_string(i) + " length in [0, " + std::to_string(max_len) + "] within the file",
          std::to_string(len) + " (" + std::to_string(size - off - 8) + " bytes left)", " in '" + where + "'");
    off += 8 + static_cast<size_t>(len);
  }
  if (off != size)
    fail_expected(
        kComp,
        "the file to end after " + std::to_string(vocab_size) + " token records (" + std::to_string(off) + " bytes)",
        std::to_string(size) + " bytes", " in '" + where + "'");
}

void permute_rotary_to_hf(float* out, const float* in, int n_heads, int head_size, int cols) {
  const int half = head_size / 2;
  for (int h = 0; h < n_heads; ++h)
    for (int i = 0; i < half; ++i)
      for (int p = 0; p < 2; ++p)
        std::memcpy(out + (static_cast<size_t>(h) * head_size + p * half + i) * cols,
                    in + (static_cast<size_t>(h) * head_size + 2 * i + p) * cols, sizeof(float) * cols);
}

void permute_rotary_from_hf(float* out, const float* in, int n_heads, int head_size, int cols) {
  const int half = head_size / 2;
  for (int h = 0; h < n_heads; ++h)
    for (int i = 0; i < half; ++i)
      for (int p = 0; p < 2; ++p)
        std::memcpy(out + (static_cast<size_t>(h) * head_size + 2 * i + p) * cols,
                    in + (static_cast<size_t>(h) * head_size + p * half + i) * cols, sizeof(float) * cols);
}

namespace {

std::string hf_config_json(const Llama2cConfig& c) {
  nlohmann::ordered_json j;
  j["architectures"] = {"LlamaForCausalLM"};
  j["model_type"] = "llama";
  j["hidden_size"] = c.dim;
  j["intermediate_size"] = c.hidden_dim;
  j["num_attention_heads"] = c.n_heads;
  j["num_key_value_heads"] = c.n_kv_heads;
  j["num_hidden_layers"] = c.n_layers;
  j["rms_norm_eps"] = 1e-5;
  j["rope_theta"] = 10000.0;
  j["max_position_embeddings"] = c.seq_len;
  j["vocab_size"] = c.vocab_size;
  j["tie_word_embeddings"] = c.shared_classifier;
  j["hidden_act"] = "silu";
  j["bos_token_id"] = 1;
  j["eos_token_id"] = 2;
  j["torch_dtype"] = "float32";
  return j.dump(2) + "\n";
}

void write_hf_folder(const Llama2cCheckpoint& ck, const std::string& tokenizer_bytes, const std::string& dir) {
  const Llama2cConfig& c = ck.config;
  const int64_t d = c.dim, h = c.hidden_dim, kv = c.kv_dim(), hs = c.head_size();
  const size_t q_n = static_cast<size_t>(d * d), k_n = static_cast<size_t>(kv * d);
  // Permuted q and k of every layer; they stay alive until write() (the writer borrows them).
  std::vector<float> q_hf(ck.wq.size()), k_hf(ck.wk.size());
  SafeTensorsWriter w;
  w.set_metadata("format", "pt");
  w.add_f32_borrowed("model.embed_tokens.weight", {c.vocab_size, d}, ck.token_embedding.data());
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    permute_rotary_to_hf(q_hf.data() + l * q_n, ck.wq.data() + l * q_n, c.n_heads, static_cast<int>(hs),
                         static_cast<int>(d));
    permute_rotary_to_hf(k_hf.data() + l * k_n, ck.wk.data() + l * k_n, c.n_kv_heads, static_cast<int>(hs),
                         static_cast<int>(d));
    w.add_f32_borrowed(p + "input_layernorm.weight", {d}, ck.rms_att.data() + l * d);
    w.add_f32_borrowed(p + "self_attn.q_proj.weight", {d, d}, q_hf.data() + l * q_n);
    w.add_f32_borrowed(p + "self_attn.k_proj.weight", {kv, d}, k_hf.data() + l * k_n);
    w.add_f32_borrowed(p + "self_attn.v_proj.weight", {kv, d}, ck.wv.data() + l * k_n);
    w.add_f32_borrowed(p + "self_attn.o_proj.weight", {d, d}, ck.wo.data() + l * q_n);
    w.add_f32_borrowed(p + "post_attention_layernorm.weight", {d}, ck.rms_ffn.data() + l * d);
    w.add_f32_borrowed(p + "mlp.gate_proj.weight", {h, d}, ck.w1.data() + l * h * d);
    w.add_f32_borrowed(p + "mlp.up_proj.weight", {h, d}, ck.w3.data() + l * h * d);
    w.add_f32_borrowed(p + "mlp.down_proj.weight", {d, h}, ck.w2.data() + l * d * h);
  }
  w.add_f32_borrowed("model.norm.weight", {d}, ck.rms_final.data());
  if (!c.shared_classifier) w.add_f32_borrowed("lm_head.weight", {c.vocab_size, d}, ck.wcls.data());
  w.write(dir + "/model.safetensors");
  write_file_atomic(dir + "/config.json", hf_config_json(c));
  write_file_atomic(dir + "/tokenizer.bin", tokenizer_bytes);
  write_file_atomic(dir + "/tokenizer_config.json",
                    "{\n  \"add_bos_token\": true,\n  \"add_eos_token\": false,\n  \"bos_token\": \"<s>\",\n"
                    "  \"eos_token\": \"</s>\"\n}\n");
}

}  // namespace

void convert_llama2c(const Llama2cConvertOptions& o) {
  namespace fs = std::filesystem;
  if (o.out.empty()) fail_expected(kComp, "an output folder (--out)", "an empty path");
  std::error_code ec;
  std::string out_s = o.out;
  while (out_s.size() > 1 && out_s.back() == '/') out_s.pop_back();
  const fs::path out(out_s);
  if (fs::exists(out, ec)) {
    if (!fs::is_directory(out, ec))
      fail_expected(kComp, "--out to name a new or empty folder", "an existing file '" + o.out + "'");
    if (!fs::is_empty(out, ec))
      fail_expected(kComp, "--out to name a new or empty folder", "a folder with files in it '" + o.out + "'");
  }
  // Validate everything before writing anything.
  const Llama2cCheckpoint ck = load_llama2c(o.checkpoint);
  const std::string tok = read_file(o.tokenizer, size_t{1} << 30);
  check_llama2c_tokenizer(reinterpret_cast<const uint8_t*>(tok.data()), tok.size(), ck.config.vocab_size, o.tokenizer);

  std::string tmp_name = ".";  // built by appends: GCC 12 warns (-Wrestrict, falsely) on "." + std::string
  tmp_name += out.filename().string();
  tmp_name += ".tmp.";
  tmp_name += std::to_string(::getpid());
  const fs::path tmp = out.parent_path() / tmp_name;
  fs::remove_all(tmp, ec);
  try {
    make_dirs(tmp.string());
    write_hf_folder(ck, tok, tmp.string());
    fs::rename(tmp, out);  // replaces an empty folder at out atomically
  } catch (const fs::filesystem_error& e) {
    fs::remove_all(tmp, ec);
    fail(kComp, std::string("cannot move the converted folder into place: ") + e.what());
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
}

}  // namespace gaincell
