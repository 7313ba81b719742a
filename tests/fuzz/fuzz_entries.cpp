// The parser entry points behind every fuzz target (fuzz_entries.h).
#include "fuzz/fuzz_entries.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>

#include "analog/device_fit.h"
#include "analog/hw_toml.h"
#include "core/error.h"
#include "cost/cost_table.h"
#include "eval/task_data.h"
#include "io/npy.h"
#include "io/safetensors.h"
#include "io/token_file.h"
#include "model/config.h"
#include "model/llama2c.h"
#include "model/shard_index.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab_files.h"

// A broken invariant of a parser's result: not a gaincell::Error, so it counts as a bug, not a rejection.
#define FUZZ_CHECK(cond)                                                  \
  do {                                                                    \
    if (!(cond)) throw std::logic_error("fuzz invariant failed: " #cond); \
  } while (0)

namespace gaincell::fuzz {
namespace {

std::string as_text(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

// Reads every byte of [p, p + n) so the sanitizer sees any range the parser got wrong.
volatile uint8_t g_sink;
void touch(const uint8_t* p, size_t n) {
  uint8_t x = 0;
  for (size_t i = 0; i < n; ++i) x ^= p[i];
  g_sink = x;
}

void fuzz_safetensors(const uint8_t* data, size_t size) {
  const SafeTensorsHeader h = parse_safetensors_header(data, size, "fuzz.safetensors");
  for (const TensorInfo& t : h.tensors) {
    FUZZ_CHECK(h.data_offset + t.offset + t.nbytes <= size);
    FUZZ_CHECK(static_cast<uint64_t>(t.numel()) * dtype_size(t.dtype) == t.nbytes);
    touch(data + h.data_offset + t.offset, t.nbytes);
  }
}

void fuzz_npy(const uint8_t* data, size_t size) {
  const NpyArray a = parse_npy(data, size, "fuzz.npy");
  FUZZ_CHECK(static_cast<size_t>(a.numel()) == a.data.size());
}

void fuzz_config(const uint8_t* data, size_t size) {
  const Gpt2Config c = config_from_json(as_text(data, size), "fuzz/config.json");
  FUZZ_CHECK(c.validate().empty());
  (void)c.num_parameters();
  (void)config_to_json(c);
}

void fuzz_vocab_json(const uint8_t* data, size_t size) {
  // An empty merges file: every vocabulary check runs; multi-byte tokens then fail as unreachable.
  (void)parse_vocab_tables(as_text(data, size), "#version: 0.2\n", "fuzz/vocab.json", "fuzz/merges.txt");
}

// A small valid vocabulary: the 256 byte tokens plus a few merge results, as vocab.json text.
std::string small_vocab_json() {
  const auto& cp = byte_to_code_point();
  auto token = [&](std::string_view bytes) {
    std::string s;
    for (unsigned char b : bytes) {
      const uint32_t c = cp[b];
      if (c < 0x80) {
        if (c == '"' || c == '\\') s += '\\';
        s += static_cast<char>(c);
      } else if (c < 0x800) {
        s += static_cast<char>(0xC0 | (c >> 6));
        s += static_cast<char>(0x80 | (c & 0x3F));
      } else {
        s += static_cast<char>(0xE0 | (c >> 12));
        s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        s += static_cast<char>(0x80 | (c & 0x3F));
      }
    }
    return s;
  };
  std::string out = "{";
  int id = 0;
  // Appended piece by piece: GCC 12 flags `"literal" + std::string&&` in libstdc++ (a false positive, bug 105651).
  auto entry = [&](const std::string& key) {
    out += '"';
    out += token(key);
    out += "\": ";
    out += std::to_string(id++);
    out += ", ";
  };
  for (int b = 0; b < 256; ++b) entry(std::string(1, char(b)));
  for (const char* t : {"he", " t", " the", "in", " a", "er", " th", "re", "<|endoftext|>"}) entry(t);
  out.resize(out.size() - 2);
  return out + "}";
}

// The vocabulary is parsed once, with the merges that reach its multi-byte tokens (\u0120 stands for the space
// byte); each input then goes through the merges checks of parse_vocab_tables only (parse_merges).
void fuzz_merges(const uint8_t* data, size_t size) {
  static const VocabTables vocab = parse_vocab_tables(
      small_vocab_json(), "#version: 0.2\nh e\n\u0120 t\n\u0120t h\n\u0120th e\ni n\n\u0120 a\ne r\nr e\n",
      "fuzz/vocab.json", "fuzz/merges.txt");
  const MergeTable merges = parse_merges(vocab, as_text(data, size), "fuzz/vocab.json", "fuzz/merges.txt");
  for (const auto& [pair, rule] : merges.rules())
    FUZZ_CHECK(rule.result >= 0 && rule.result < static_cast<int32_t>(vocab.token_bytes.size()));
}

void fuzz_hw_toml(const uint8_t* data, size_t size) {
  const HardwareConfig c = hardware_from_toml(as_text(data, size), "fuzz/hw.toml");
  (void)hardware_to_toml(c);
}

void fuzz_cost_toml(const uint8_t* data, size_t size) {
  const CostTable c = cost_table_from_toml(as_text(data, size), "fuzz/cost.toml");
  (void)cost_table_to_toml(c);
}

void fuzz_device_csv(const uint8_t* data, size_t size) {
  (void)fit_device_csv_text(as_text(data, size), "fuzz/device.csv");
}

// The line loop of read_task_file over in-memory text.
void fuzz_task_jsonl(const uint8_t* data, size_t size) {
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  for (int n = 1; !rest.empty(); ++n) {
    const size_t eol = rest.find('\n');
    std::string line(rest.substr(0, eol));
    rest = eol == std::string_view::npos ? std::string_view() : rest.substr(eol + 1);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    const TaskItem item = parse_task_line(line, "fuzz.jsonl:" + std::to_string(n));
    FUZZ_CHECK(item.gold >= 0 && item.gold < static_cast<int>(item.pairs.size()));
  }
}

// TokenFile only loads from a path: the bytes go to an anonymous in-memory file named by /proc/self/fd.
void fuzz_token_file(const uint8_t* data, size_t size) {
  static const int fd = memfd_create("gaincell_fuzz_tokens", 0);
  FUZZ_CHECK(fd >= 0);
  FUZZ_CHECK(ftruncate(fd, 0) == 0);
  for (size_t done = 0; done < size;) {
    const ssize_t n = pwrite(fd, data + done, size - done, static_cast<off_t>(done));
    FUZZ_CHECK(n > 0);
    done += static_cast<size_t>(n);
  }
  const TokenFile t = TokenFile::load("/proc/self/fd/" + std::to_string(fd), 50257);
  std::vector<int32_t> ids(static_cast<size_t>(t.size()));
  if (!ids.empty()) t.copy(ids.data(), 0, t.size());
  for (int32_t id : ids) FUZZ_CHECK(id >= 0 && id < t.vocab_size());
}

// A parsed tokenizer encodes text with every kind of character and decodes the ids back.
void exercise_tokenizer(const Tokenizer& t) {
  static const std::string text =
      "Hello, world!  It's 12345 caf\xc3\xa9 \xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x8d\x95\n\n<s> \xff end";
  const std::vector<int32_t> ids = t.encode(text, {t.bos_id() >= 0, t.eos_id() >= 0});
  for (int32_t id : ids) FUZZ_CHECK(id >= 0 && id < t.vocab_size());
  (void)t.decode(ids);
  for (int32_t id : ids) (void)t.decode_one(id);
}

void fuzz_hf_tokenizer_json(const uint8_t* data, size_t size) {
  exercise_tokenizer(Tokenizer::from_hf_json_text(as_text(data, size), "", "fuzz/tokenizer.json"));
}

void fuzz_llama2c_tokenizer(const uint8_t* data, size_t size) {
  exercise_tokenizer(Tokenizer::from_llama2c_bytes(as_text(data, size), "fuzz/tokenizer.bin"));
}

// A llama2.c checkpoint (version 0, 1 or 2): every array has the size the validated header implies.
void fuzz_llama2c(const uint8_t* data, size_t size) {
  const Llama2cCheckpoint ck = parse_llama2c(data, size, "fuzz.bin");
  const Llama2cConfig& c = ck.config;
  FUZZ_CHECK(c.dim % c.n_heads == 0 && c.n_heads % c.n_kv_heads == 0 && c.head_size() % 2 == 0);
  FUZZ_CHECK(llama2c_expected_bytes(c) == size);
  const size_t d = c.dim, l = c.n_layers, kv = c.kv_dim(), h = c.hidden_dim, v = c.vocab_size;
  FUZZ_CHECK(ck.token_embedding.size() == v * d && ck.wq.size() == l * d * d && ck.wk.size() == l * kv * d);
  FUZZ_CHECK(ck.wv.size() == l * kv * d && ck.wo.size() == l * d * d && ck.w1.size() == l * h * d);
  FUZZ_CHECK(ck.w2.size() == l * d * h && ck.w3.size() == l * h * d && ck.rms_final.size() == d);
  FUZZ_CHECK(ck.rms_att.size() == l * d && ck.rms_ffn.size() == l * d);
  FUZZ_CHECK(ck.wcls.size() == (c.shared_classifier ? 0 : v * d));
  // The rotary permutation of the first layer's q rows round-trips.
  std::vector<float> hf(d * d), back(d * d);
  permute_rotary_to_hf(hf.data(), ck.wq.data(), c.n_heads, c.head_size(), c.dim);
  permute_rotary_from_hf(back.data(), hf.data(), c.n_heads, c.head_size(), c.dim);
  FUZZ_CHECK(std::memcmp(back.data(), ck.wq.data(), 4 * d * d) == 0);
}

// model.safetensors.index.json: every entry maps a non-empty tensor name to a plain file name.
void fuzz_shard_index(const uint8_t* data, size_t size) {
  const std::map<std::string, std::string> map = parse_shard_index(as_text(data, size), "fuzz/index.json");
  FUZZ_CHECK(!map.empty());
  for (const auto& [name, file] : map)
    FUZZ_CHECK(!file.empty() && file != "." && file != ".." && file.find('/') == std::string::npos &&
               file.find('\\') == std::string::npos);
}

}  // namespace

const std::vector<FuzzTarget>& fuzz_targets() {
  static const std::vector<FuzzTarget> targets = {
      {"safetensors", fuzz_safetensors},
      {"npy", fuzz_npy},
      {"config", fuzz_config},
      {"vocab_json", fuzz_vocab_json},
      {"merges", fuzz_merges},
      {"hw_toml", fuzz_hw_toml},
      {"cost_toml", fuzz_cost_toml},
      {"device_csv", fuzz_device_csv},
      {"task_jsonl", fuzz_task_jsonl},
      {"token_file", fuzz_token_file},
      {"hf_tokenizer_json", fuzz_hf_tokenizer_json},
      {"llama2c_tokenizer", fuzz_llama2c_tokenizer},
      {"llama2c", fuzz_llama2c},
      {"shard_index", fuzz_shard_index},
  };
  return targets;
}

const FuzzTarget* find_fuzz_target(const std::string& name) {
  for (const FuzzTarget& t : fuzz_targets())
    if (name == t.name) return &t;
  return nullptr;
}

}  // namespace gaincell::fuzz
