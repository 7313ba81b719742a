// llama2.c checkpoints: versions 0/1/2 written here from random data read back bit-exactly, the rotary row
// permutation, the conversion to a Hugging Face folder (round trip through model.safetensors), stories260K's
// header, and hostile headers / sizes (one clear Error each; convert leaves nothing behind).
#include "model/llama2c.h"

#include <gtest/gtest.h>

#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>

#include "core/error.h"
#include "core/file.h"
#include "expect_close.h"
#include "io/safetensors.h"
#include "test_paths.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {
namespace fs = std::filesystem;

Llama2cConfig small_config(bool shared) {
  Llama2cConfig c;
  c.dim = 16;
  c.hidden_dim = 24;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.vocab_size = 40;
  c.seq_len = 32;
  c.shared_classifier = shared;
  return c;
}

std::vector<float> randn(std::mt19937& rng, size_t n) {
  std::normal_distribution<float> d(0.0f, 0.5f);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

Llama2cCheckpoint random_checkpoint(const Llama2cConfig& c, uint32_t seed) {
  std::mt19937 rng(seed);
  const size_t d = c.dim, h = c.hidden_dim, l = c.n_layers, v = c.vocab_size, kv = c.kv_dim();
  Llama2cCheckpoint ck;
  ck.config = c;
  ck.token_embedding = randn(rng, v * d);
  ck.rms_att = randn(rng, l * d);
  ck.wq = randn(rng, l * d * d);
  ck.wk = randn(rng, l * kv * d);
  ck.wv = randn(rng, l * kv * d);
  ck.wo = randn(rng, l * d * d);
  ck.rms_ffn = randn(rng, l * d);
  ck.w1 = randn(rng, l * h * d);
  ck.w2 = randn(rng, l * d * h);
  ck.w3 = randn(rng, l * h * d);
  ck.rms_final = randn(rng, d);
  if (!c.shared_classifier) ck.wcls = randn(rng, v * d);
  return ck;
}

void put_i32(std::string& s, int32_t v) {
  s.append(reinterpret_cast<const char*>(&v), 4);
}
void put_f32(std::string& s, const float* p, size_t n) {
  s.append(reinterpret_cast<const char*>(p), 4 * n);
}
void put_f32(std::string& s, const std::vector<float>& v) {
  put_f32(s, v.data(), v.size());
}

// Q8_0 of one tensor as llama2.c's export.py defines it: per group, scale = max|w| / 127, q = round(w / scale);
// appends int8 values then float32 scales to s and replaces w by its dequantised values q * scale.
void put_q80(std::string& s, float* w, size_t n, int gs) {
  std::vector<float> scales(n / gs);
  std::vector<int8_t> q(n);
  for (size_t g = 0; g < n / gs; ++g) {
    float m = 0;
    for (int i = 0; i < gs; ++i) m = std::max(m, std::fabs(w[g * gs + i]));
    scales[g] = m / 127.0f;
    for (int i = 0; i < gs; ++i) {
      const float r = scales[g] > 0 ? std::nearbyint(w[g * gs + i] / scales[g]) : 0.0f;
      q[g * gs + i] = static_cast<int8_t>(r);
      w[g * gs + i] = static_cast<float>(q[g * gs + i]) * scales[g];
    }
  }
  s.append(reinterpret_cast<const char*>(q.data()), n);
  put_f32(s, scales);
}

// Writes ck in llama2.c layout `version` (docs/file-formats.md). For version 2 the quantised arrays of ck are
// replaced by their dequantised values, i.e. what a reader must return.
std::string write_checkpoint(Llama2cCheckpoint& ck, int version, int group_size = 8) {
  const Llama2cConfig& c = ck.config;
  std::string s;
  const int32_t fields[7] = {c.dim,        c.hidden_dim,
                             c.n_layers,   c.n_heads,
                             c.n_kv_heads, version == 0 && !c.shared_classifier ? -c.vocab_size : c.vocab_size,
                             c.seq_len};
  if (version == 0) {
    for (int32_t f : fields) put_i32(s, f);
    put_f32(s, ck.token_embedding);
    for (auto* a : {&ck.rms_att, &ck.wq, &ck.wk, &ck.wv, &ck.wo, &ck.rms_ffn, &ck.w1, &ck.w2, &ck.w3, &ck.rms_final})
      put_f32(s, *a);
    const std::vector<float> freq(static_cast<size_t>(c.seq_len) * c.head_size(), 0.25f);  // cos and sin tables
    put_f32(s, freq);
    if (!c.shared_classifier) put_f32(s, ck.wcls);
    return s;
  }
  put_i32(s, static_cast<int32_t>(kLlama2cMagic));
  put_i32(s, version);
  for (int32_t f : fields) put_i32(s, f);
  s.push_back(c.shared_classifier ? 1 : 0);
  if (version == 2) put_i32(s, group_size);
  s.resize(kLlama2cHeaderBytes, '\0');
  put_f32(s, ck.rms_att);
  put_f32(s, ck.rms_ffn);
  put_f32(s, ck.rms_final);
  std::vector<std::pair<std::vector<float>*, int>> mats = {
      {&ck.token_embedding, 1}, {&ck.wq, c.n_layers}, {&ck.wk, c.n_layers}, {&ck.wv, c.n_layers},
      {&ck.wo, c.n_layers},     {&ck.w1, c.n_layers}, {&ck.w2, c.n_layers}, {&ck.w3, c.n_layers}};
  if (!c.shared_classifier) mats.push_back({&ck.wcls, 1});
  for (auto& [a, parts] : mats) {
    if (version == 1) {
      put_f32(s, *a);
      continue;
    }
    const size_t each = a->size() / parts;
    for (int p = 0; p < parts; ++p) put_q80(s, a->data() + p * each, each, group_size);
  }
  return s;
}

std::string tokenizer_bytes(int vocab) {
  std::string s;
  put_i32(s, 3);
  for (int i = 0; i < vocab; ++i) {
    const float score = -static_cast<float>(i);
    put_f32(s, &score, 1);
    const std::string piece = std::string(1, static_cast<char>('a' + i % 26)) + (i >= 26 ? "b" : "");
    put_i32(s, static_cast<int32_t>(piece.size()));
    s += piece;
  }
  return s;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), 4 * a.size()) == 0);
}

void expect_same(const Llama2cCheckpoint& want, const Llama2cCheckpoint& got) {
  EXPECT_EQ(got.config.dim, want.config.dim);
  EXPECT_EQ(got.config.hidden_dim, want.config.hidden_dim);
  EXPECT_EQ(got.config.n_layers, want.config.n_layers);
  EXPECT_EQ(got.config.n_heads, want.config.n_heads);
  EXPECT_EQ(got.config.n_kv_heads, want.config.n_kv_heads);
  EXPECT_EQ(got.config.vocab_size, want.config.vocab_size);
  EXPECT_EQ(got.config.seq_len, want.config.seq_len);
  EXPECT_EQ(got.config.shared_classifier, want.config.shared_classifier);
  EXPECT_TRUE(same_bits(want.token_embedding, got.token_embedding));
  EXPECT_TRUE(same_bits(want.rms_att, got.rms_att));
  EXPECT_TRUE(same_bits(want.wq, got.wq));
  EXPECT_TRUE(same_bits(want.wk, got.wk));
  EXPECT_TRUE(same_bits(want.wv, got.wv));
  EXPECT_TRUE(same_bits(want.wo, got.wo));
  EXPECT_TRUE(same_bits(want.rms_ffn, got.rms_ffn));
  EXPECT_TRUE(same_bits(want.w1, got.w1));
  EXPECT_TRUE(same_bits(want.w2, got.w2));
  EXPECT_TRUE(same_bits(want.w3, got.w3));
  EXPECT_TRUE(same_bits(want.rms_final, got.rms_final));
  EXPECT_TRUE(same_bits(want.wcls, got.wcls));
}

Llama2cCheckpoint parse(const std::string& bytes) {
  return parse_llama2c(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "test.bin");
}

TEST(Llama2c, Version0RoundTripTiedAndUntied) {
  for (bool shared : {true, false}) {
    Llama2cCheckpoint ck = random_checkpoint(small_config(shared), 1 + shared);
    const std::string bytes = write_checkpoint(ck, 0);
    EXPECT_EQ(bytes.size(), llama2c_expected_bytes(parse(bytes).config));
    const Llama2cCheckpoint got = parse(bytes);
    EXPECT_EQ(got.config.version, 0);
    expect_same(ck, got);
    EXPECT_EQ(got.wcls.size(), shared ? 0u : 40u * 16u);
  }
}

TEST(Llama2c, Version1RoundTrip) {
  for (bool shared : {true, false}) {
    Llama2cCheckpoint ck = random_checkpoint(small_config(shared), 3 + shared);
    const Llama2cCheckpoint got = parse(write_checkpoint(ck, 1));
    EXPECT_EQ(got.config.version, 1);
    expect_same(ck, got);
  }
}

TEST(Llama2c, Version2DequantisesEveryGroup) {
  for (bool shared : {true, false}) {
    Llama2cCheckpoint ck = random_checkpoint(small_config(shared), 5 + shared);
    const Llama2cCheckpoint before = ck;
    const std::string bytes = write_checkpoint(ck, 2, 4);  // ck now holds the dequantised values
    const Llama2cCheckpoint got = parse(bytes);
    EXPECT_EQ(got.config.version, 2);
    EXPECT_EQ(got.config.group_size, 4);
    expect_same(ck, got);
    // Q8_0 keeps every weight within half a step (max|group| / 254) of the original.
    double worst = 0;
    for (size_t i = 0; i < before.wq.size(); ++i)
      worst = test::nan_max(worst, double(std::fabs(before.wq[i] - got.wq[i])));
    EXPECT_TRUE(worst > 0 && worst <= 2.0 / 254.0) << worst;
  }
}

TEST(Llama2c, RotaryPermutationMatchesHfOrderAndInverts) {
  // One head of size 6, one column: llama2.c rows (0,1),(2,3),(4,5) are rotary pairs; HF pairs rows i, i+3.
  const float in[6] = {0, 1, 2, 3, 4, 5};
  float hf[6], back[6];
  permute_rotary_to_hf(hf, in, 1, 6, 1);
  const float want[6] = {0, 2, 4, 1, 3, 5};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(hf[i], want[i]) << i;
  permute_rotary_from_hf(back, hf, 1, 6, 1);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(back[i], in[i]) << i;
  // Two heads, three columns: rows stay within their head and columns move with their row.
  std::vector<float> a(2 * 4 * 3), b(a.size()), c(a.size());
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i);
  permute_rotary_to_hf(b.data(), a.data(), 2, 4, 3);
  EXPECT_EQ(b[(4 + 1) * 3 + 2], a[(4 + 2) * 3 + 2]);  // head 1, HF row 1 = llama2.c row 2 (pair 1, first)
  permute_rotary_from_hf(c.data(), b.data(), 2, 4, 3);
  EXPECT_TRUE(same_bits(a, c));
}

std::vector<float> read_tensor(const SafeTensorsFile& f, const std::string& name, std::vector<int64_t> shape) {
  const TensorInfo* t = f.find(name);
  EXPECT_NE(t, nullptr) << name;
  if (t == nullptr) return {};
  EXPECT_EQ(t->dtype, DType::kF32) << name;
  EXPECT_EQ(t->shape, shape) << name;
  std::vector<float> v(static_cast<size_t>(t->numel()));
  f.to_f32(*t, v.data());
  return v;
}

// Reads a converted folder back into llama2.c layout (q/k un-permuted).
Llama2cCheckpoint read_back(const std::string& dir, const Llama2cConfig& c) {
  SafeTensorsFile f(dir + "/model.safetensors");
  const int64_t d = c.dim, h = c.hidden_dim, kv = c.kv_dim();
  Llama2cCheckpoint ck;
  ck.config = c;
  ck.token_embedding = read_tensor(f, "model.embed_tokens.weight", {c.vocab_size, d});
  auto append = [](std::vector<float>& dst, const std::vector<float>& src) {
    dst.insert(dst.end(), src.begin(), src.end());
  };
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    append(ck.rms_att, read_tensor(f, p + "input_layernorm.weight", {d}));
    std::vector<float> q = read_tensor(f, p + "self_attn.q_proj.weight", {d, d}), qr(q.size());
    permute_rotary_from_hf(qr.data(), q.data(), c.n_heads, c.head_size(), c.dim);
    append(ck.wq, qr);
    std::vector<float> k = read_tensor(f, p + "self_attn.k_proj.weight", {kv, d}), kr(k.size());
    permute_rotary_from_hf(kr.data(), k.data(), c.n_kv_heads, c.head_size(), c.dim);
    append(ck.wk, kr);
    append(ck.wv, read_tensor(f, p + "self_attn.v_proj.weight", {kv, d}));
    append(ck.wo, read_tensor(f, p + "self_attn.o_proj.weight", {d, d}));
    append(ck.rms_ffn, read_tensor(f, p + "post_attention_layernorm.weight", {d}));
    append(ck.w1, read_tensor(f, p + "mlp.gate_proj.weight", {h, d}));
    append(ck.w2, read_tensor(f, p + "mlp.down_proj.weight", {d, h}));
    append(ck.w3, read_tensor(f, p + "mlp.up_proj.weight", {h, d}));
  }
  ck.rms_final = read_tensor(f, "model.norm.weight", {d});
  if (!c.shared_classifier) ck.wcls = read_tensor(f, "lm_head.weight", {c.vocab_size, d});
  EXPECT_EQ(f.tensors().size(), size_t(2 + 9 * c.n_layers + (c.shared_classifier ? 0 : 1)));
  return ck;
}

TEST(Llama2c, ConvertWritesHfFolderThatReadsBackBitExact) {
  const std::string dir = test::scratch_dir("llama2c_convert");
  for (int version : {0, 1, 2}) {
    const bool shared = version != 1;
    Llama2cCheckpoint ck = random_checkpoint(small_config(shared), 10 + version);
    const std::string ck_path = dir + "/v" + std::to_string(version) + ".bin";
    write_file_atomic(ck_path, write_checkpoint(ck, version));
    write_file_atomic(dir + "/tok.bin", tokenizer_bytes(40));
    const std::string out = dir + "/out" + std::to_string(version);
    convert_llama2c({ck_path, dir + "/tok.bin", out});
    expect_same(ck, read_back(out, ck.config));
    const nlohmann::json cfg = nlohmann::json::parse(read_file(out + "/config.json"));
    EXPECT_EQ(cfg["model_type"], "llama");
    EXPECT_EQ(cfg["architectures"][0], "LlamaForCausalLM");
    EXPECT_EQ(cfg["hidden_size"], 16);
    EXPECT_EQ(cfg["intermediate_size"], 24);
    EXPECT_EQ(cfg["num_attention_heads"], 4);
    EXPECT_EQ(cfg["num_key_value_heads"], 2);
    EXPECT_EQ(cfg["num_hidden_layers"], 2);
    EXPECT_EQ(cfg["max_position_embeddings"], 32);
    EXPECT_EQ(cfg["vocab_size"], 40);
    EXPECT_EQ(cfg["tie_word_embeddings"], shared);
    EXPECT_EQ(cfg["hidden_act"], "silu");
    EXPECT_EQ(cfg["rms_norm_eps"], 1e-5);
    EXPECT_EQ(cfg["rope_theta"], 10000.0);
    EXPECT_EQ(cfg["bos_token_id"], 1);
    EXPECT_EQ(cfg["eos_token_id"], 2);
    EXPECT_EQ(read_file(out + "/tokenizer.bin"), tokenizer_bytes(40));
    const nlohmann::json tc = nlohmann::json::parse(read_file(out + "/tokenizer_config.json"));
    EXPECT_EQ(tc["add_bos_token"], true);
    EXPECT_EQ(tc["add_eos_token"], false);
    EXPECT_EQ(tc["bos_token"], "<s>");
    EXPECT_EQ(tc["eos_token"], "</s>");
  }
  // An existing empty folder is accepted and filled.
  fs::create_directories(dir + "/empty");
  convert_llama2c({dir + "/v0.bin", dir + "/tok.bin", dir + "/empty/"});
  EXPECT_TRUE(file_exists(dir + "/empty/model.safetensors"));
}

TEST(Llama2c, Stories260KHeaderAndSize) {
  const std::string path = test::shared_path("data/DaveBben__esp32-llm/stories260K.bin");
  GAINCELL_REQUIRE_FILE(path);
  const Llama2cCheckpoint ck = load_llama2c(path);
  const Llama2cConfig& c = ck.config;
  EXPECT_EQ(c.version, 0);
  EXPECT_EQ(c.dim, 64);
  EXPECT_EQ(c.hidden_dim, 172);
  EXPECT_EQ(c.n_layers, 5);
  EXPECT_EQ(c.n_heads, 8);
  EXPECT_EQ(c.n_kv_heads, 4);
  EXPECT_EQ(c.vocab_size, 512);
  EXPECT_EQ(c.seq_len, 512);
  EXPECT_TRUE(c.shared_classifier);
  EXPECT_EQ(llama2c_expected_bytes(c), 1056540u);
  EXPECT_EQ(ck.w2.size(), 5u * 64u * 172u);
}

// ---- hostile inputs: each is one clear Error naming what was expected, and convert leaves nothing behind.

std::string valid_v0() {
  Llama2cCheckpoint ck = random_checkpoint(small_config(true), 20);
  return write_checkpoint(ck, 0);
}
std::string valid_v2() {
  Llama2cCheckpoint ck = random_checkpoint(small_config(false), 21);
  return write_checkpoint(ck, 2, 8);
}
std::string with_i32(std::string s, size_t offset, int32_t v) {
  return s.replace(offset, 4, reinterpret_cast<const char*>(&v), 4);
}

// Converts `bytes` and expects an Error containing `want`; then checks that no output (or temp) folder is left.
void expect_rejected(const std::string& name, const std::string& bytes, const std::string& want,
                     const std::string& tok = tokenizer_bytes(40)) {
  SCOPED_TRACE(name);
  const std::string dir = test::scratch_dir("llama2c_hostile_" + name);
  write_file_atomic(dir + "/ck.bin", bytes);
  write_file_atomic(dir + "/tok.bin", tok);
  std::string msg;
  try {
    convert_llama2c({dir + "/ck.bin", dir + "/tok.bin", dir + "/out"});
  } catch (const Error& e) {
    msg = e.what();
  }
  EXPECT_NE(msg.find(want), std::string::npos) << "message: '" << msg << "', wanted '" << want << "'";
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(dir + "/out"));
  size_t entries = 0;
  for (const auto& e : fs::directory_iterator(dir))
    entries += e.path().filename() != "ck.bin" && e.path().filename() != "tok.bin";
  EXPECT_EQ(entries, 0u);
}

TEST(Llama2cHostile, NegativeDimOrBadMagic) {
  expect_rejected("neg_dim", with_i32(valid_v0(), 0, -16),
                  "legacy header whose dim is in [1, 65536], got first int32 -16");
  // "ak43": neither the version-1/2 magic nor a plausible legacy dim.
  expect_rejected("bad_magic", with_i32(valid_v2(), 0, 0x616b3433),
                  "expected the magic 0x616b3432 (\"ak42\") of a version 1/2 file");
}
TEST(Llama2cHostile, ZeroLayers) {
  expect_rejected("zero_layers", with_i32(valid_v0(), 8, 0), "expected n_layers in [1, 4096], got 0");
}
TEST(Llama2cHostile, AbsurdVocab) {
  expect_rejected("absurd_vocab", with_i32(valid_v0(), 20, 1 << 30),
                  "expected |vocab_size| in [1, 4194304], got 1073741824");
  expect_rejected("min_vocab", with_i32(valid_v0(), 20, INT_MIN), "|vocab_size|");
}
TEST(Llama2cHostile, AbsurdHiddenAndSeqLen) {
  expect_rejected("absurd_hidden", with_i32(valid_v0(), 4, INT_MAX), "expected hidden_dim in [1, 1048576]");
  expect_rejected("neg_seq", with_i32(valid_v0(), 24, -1), "expected seq_len in [1, 4194304], got -1");
}
TEST(Llama2cHostile, HeadsNotDividingDim) {
  expect_rejected("heads_div", with_i32(valid_v0(), 12, 5), "expected n_heads dividing dim, got dim 16, n_heads 5");
}
TEST(Llama2cHostile, KvHeadsNotDividingHeads) {
  expect_rejected("kv_div", with_i32(with_i32(valid_v0(), 12, 8), 16, 3),
                  "expected n_kv_heads dividing n_heads, got n_heads 8, n_kv_heads 3");
  expect_rejected("kv_more", with_i32(valid_v0(), 16, 8), "expected n_kv_heads in [1, 4], got 8");
}
TEST(Llama2cHostile, OddHeadSize) {
  expect_rejected("odd_head", with_i32(with_i32(valid_v0(), 12, 16), 16, 16), "an even head size");
}
TEST(Llama2cHostile, FileShorterOrLongerThanHeaderImplies) {
  const std::string v0 = valid_v0();
  expect_rejected("short", v0.substr(0, v0.size() - 1),
                  "bytes (version 0 header: dim 16, hidden_dim 24, n_layers 2, n_heads 4, n_kv_heads 2, vocab_size "
                  "40, seq_len 32), got " +
                      std::to_string(v0.size() - 1) + " bytes (file too short)");
  expect_rejected("long", v0 + std::string(4, '\0'), "(file too long)");
  expect_rejected("header_only", v0.substr(0, 20), "expected a 28-byte header");
  expect_rejected("empty", "", "expected a 28-byte header");
  // An untied classifier that is missing: the sign flag says 40 more rows follow.
  expect_rejected("missing_cls", with_i32(v0, 20, -40), "(file too short)");
  const std::string v2 = valid_v2();
  expect_rejected("v2_short", v2.substr(0, v2.size() - 3), "(file too short)");
  expect_rejected("v2_header_short", v2.substr(0, 100), "expected a 256-byte header after the magic");
}
TEST(Llama2cHostile, BadVersionAndFlag) {
  expect_rejected("version3", with_i32(valid_v2(), 4, 3), "expected version 1 (float32) or 2 (int8 Q8_0)");
  expect_rejected("version0", with_i32(valid_v2(), 4, 0), "got version 0");
  std::string flag = valid_v2();
  flag[36] = 2;
  expect_rejected("flag2", flag, "expected shared_classifier flag 0 or 1, got 2");
  // A v2 header with a negative vocab_size (only the legacy format uses the sign).
  expect_rejected("v2_neg_vocab", with_i32(valid_v2(), 28, -40), "expected vocab_size in [1, 4194304], got -40");
}
TEST(Llama2cHostile, GroupSizeNotDividingDim) {
  expect_rejected("gs6", with_i32(valid_v2(), 37, 6), "expected group_size dividing dim, got dim 16, group_size 6");
  expect_rejected("gs0", with_i32(valid_v2(), 37, 0), "expected group_size in [1, 16], got 0");
  expect_rejected("gs_big", with_i32(valid_v2(), 37, 1 << 20), "expected group_size in [1, 16]");
}
TEST(Llama2cHostile, TokenizerNotMatchingTheModel) {
  expect_rejected("tok_short", valid_v0(), "expected 40 token records", tokenizer_bytes(39));
  expect_rejected("tok_long", valid_v0(), "expected the file to end after 40 token records", tokenizer_bytes(41));
  std::string bad = tokenizer_bytes(40);
  const int32_t huge = 1 << 20;
  std::memcpy(bad.data() + 4 + 4, &huge, 4);
  expect_rejected("tok_len", valid_v0(), "expected token 0 length in [0, 3]", bad);
  expect_rejected("tok_empty", valid_v0(), "expected a tokenizer.bin starting with int32", "");
}
TEST(Llama2cHostile, OutputFolderNotEmpty) {
  const std::string dir = test::scratch_dir("llama2c_out_busy");
  write_file_atomic(dir + "/ck.bin", valid_v0());
  write_file_atomic(dir + "/tok.bin", tokenizer_bytes(40));
  fs::create_directories(dir + "/out");
  write_file_atomic(dir + "/out/keep.txt", "x");
  try {
    convert_llama2c({dir + "/ck.bin", dir + "/tok.bin", dir + "/out"});
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected --out to name a new or empty folder"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(read_file(dir + "/out/keep.txt"), "x");
  EXPECT_FALSE(file_exists(dir + "/out/model.safetensors"));
  try {
    convert_llama2c({dir + "/missing.bin", dir + "/tok.bin", dir + "/out2"});
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing.bin"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir + "/out2"));
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
