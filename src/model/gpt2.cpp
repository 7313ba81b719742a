#include "model/gpt2.h"

#include <cmath>
#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "core/file.h"
#include "core/rng.h"
#include "io/safetensors.h"

namespace gaincell {
namespace fs = std::filesystem;

namespace {

std::string shape_str(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

// HF checkpoints carry attention-mask buffers that are not parameters.
bool is_ignored_buffer(const std::string& name) {
  auto ends_with = [&](const char* suf) {
    size_t n = std::strlen(suf);
    return name.size() >= n && name.compare(name.size() - n, n, suf) == 0;
  };
  return ends_with(".attn.bias") || ends_with(".attn.masked_bias");
}

int64_t numel_of(const std::vector<int64_t>& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

}  // namespace

std::vector<std::pair<std::string, std::vector<int64_t>>> gpt2_tensor_table(const Gpt2Config& c) {
  const int64_t C = c.n_embd, V = c.vocab_size, P = c.n_positions;
  std::vector<std::pair<std::string, std::vector<int64_t>>> t;
  t.push_back({"wte.weight", {V, C}});
  t.push_back({"wpe.weight", {P, C}});
  for (int l = 0; l < c.n_layer; ++l) {
    std::string h = "h." + std::to_string(l) + ".";
    t.push_back({h + "ln_1.weight", {C}});
    t.push_back({h + "ln_1.bias", {C}});
    t.push_back({h + "attn.c_attn.weight", {C, 3 * C}});
    t.push_back({h + "attn.c_attn.bias", {3 * C}});
    t.push_back({h + "attn.c_proj.weight", {C, C}});
    t.push_back({h + "attn.c_proj.bias", {C}});
    t.push_back({h + "ln_2.weight", {C}});
    t.push_back({h + "ln_2.bias", {C}});
    t.push_back({h + "mlp.c_fc.weight", {C, 4 * C}});
    t.push_back({h + "mlp.c_fc.bias", {4 * C}});
    t.push_back({h + "mlp.c_proj.weight", {4 * C, C}});
    t.push_back({h + "mlp.c_proj.bias", {C}});
  }
  t.push_back({"ln_f.weight", {C}});
  t.push_back({"ln_f.bias", {C}});
  return t;
}

Gpt2::Gpt2() = default;
Gpt2::Gpt2(Gpt2&&) noexcept = default;
Gpt2& Gpt2::operator=(Gpt2&&) noexcept = default;
Gpt2::~Gpt2() = default;

const Gpt2::Tensor& Gpt2::tensor(const std::string& name) const {
  auto it = tensors_.find(name);
  GAINCELL_ASSERT(it != tensors_.end());
  return it->second;
}

void Gpt2::bind_views() {
  wte_ = tensor("wte.weight").data;
  wpe_ = tensor("wpe.weight").data;
  lnf_w_ = tensor("ln_f.weight").data;
  lnf_b_ = tensor("ln_f.bias").data;
  auto lm = tensors_.find("lm_head.weight");
  lm_head_ = lm != tensors_.end() ? lm->second.data : wte_;
  layers_.resize(config_.n_layer);
  for (int l = 0; l < config_.n_layer; ++l) {
    std::string h = "h." + std::to_string(l) + ".";
    LayerWeights& w = layers_[l];
    w.ln1_w = tensor(h + "ln_1.weight").data;
    w.ln1_b = tensor(h + "ln_1.bias").data;
    w.attn_w = tensor(h + "attn.c_attn.weight").data;
    w.attn_b = tensor(h + "attn.c_attn.bias").data;
    w.proj_w = tensor(h + "attn.c_proj.weight").data;
    w.proj_b = tensor(h + "attn.c_proj.bias").data;
    w.ln2_w = tensor(h + "ln_2.weight").data;
    w.ln2_b = tensor(h + "ln_2.bias").data;
    w.fc_w = tensor(h + "mlp.c_fc.weight").data;
    w.fc_b = tensor(h + "mlp.c_fc.bias").data;
    w.fcproj_w = tensor(h + "mlp.c_proj.weight").data;
    w.fcproj_b = tensor(h + "mlp.c_proj.bias").data;
  }
}

Gpt2 Gpt2::load(const std::string& dir) {
  Gpt2 m;
  m.source_dir_ = dir;
  if (!fs::is_directory(dir)) fail_expected("model", "a model folder", "'" + dir + "' (not a directory)");
  std::string cfg_path = dir + "/config.json";
  if (!file_exists(cfg_path)) fail("model", "missing config.json in '" + dir + "'");
  m.config_ = config_from_json(read_file(cfg_path, 1 << 20), cfg_path);
  std::string st_path = dir + "/model.safetensors";
  if (!file_exists(st_path)) fail("model", "missing model.safetensors in '" + dir + "'");
  m.file_ = std::make_unique<SafeTensorsFile>(st_path);

  // Canonical name -> file entry; "transformer." prefixes are stripped, and a name present both with and
  // without the prefix is ambiguous.
  std::map<std::string, const TensorInfo*> by_name;
  for (const TensorInfo& t : m.file_->tensors()) {
    std::string name = t.name.rfind("transformer.", 0) == 0 ? t.name.substr(12) : t.name;
    if (is_ignored_buffer(name)) continue;
    if (!by_name.emplace(name, &t).second)
      fail("model", "duplicate tensor '" + name + "' (with and without 'transformer.' prefix) in '" + st_path + "'");
  }
  auto take = [&](const std::string& name, const TensorInfo& t) {
    if (t.dtype != DType::kF32 && t.dtype != DType::kF16 && t.dtype != DType::kBF16 && t.dtype != DType::kF64)
      fail_expected("model", "F32, F16, BF16 or F64 for tensor '" + name + "'", dtype_name(t.dtype),
                    "in '" + st_path + "'");
    Tensor out{t.shape, nullptr};
    const uint8_t* p = m.file_->data(t);
    if (t.dtype == DType::kF32 && reinterpret_cast<uintptr_t>(p) % alignof(float) == 0) {
      out.data = reinterpret_cast<const float*>(p);  // zero copy from the map
    } else {
      auto buf = std::make_unique<AlignedBuffer<float>>(static_cast<size_t>(t.numel()));
      m.file_->to_f32(t, buf->data());
      out.data = buf->data();
      m.owned_.push_back(std::move(buf));
    }
    return out;
  };
  for (const auto& [name, shape] : gpt2_tensor_table(m.config_)) {
    auto it = by_name.find(name);
    if (it == by_name.end()) fail("model", "missing tensor '" + name + "' in '" + st_path + "'");
    if (it->second->shape != shape)
      fail_expected("model", "shape " + shape_str(shape) + " for tensor '" + name + "'", shape_str(it->second->shape),
                    "in '" + st_path + "'");
    m.tensors_[name] = take(name, *it->second);
    by_name.erase(it);
  }
  if (auto it = by_name.find("lm_head.weight"); it != by_name.end()) {
    std::vector<int64_t> want = {m.config_.vocab_size, m.config_.n_embd};
    if (it->second->shape != want)
      fail_expected("model", "shape " + shape_str(want) + " for tensor 'lm_head.weight'", shape_str(it->second->shape),
                    "in '" + st_path + "'");
    m.tensors_["lm_head.weight"] = take("lm_head.weight", *it->second);
    by_name.erase(it);
  }
  for (const auto& [name, info] : by_name) {  // everything else: extra tensors (scalers, statistics)
    if (info->dtype == DType::kF32 || info->dtype == DType::kF16 || info->dtype == DType::kBF16 ||
        info->dtype == DType::kF64)
      m.extras_[name] = take(name, *info);
  }
  m.bind_views();
  return m;
}

Gpt2 Gpt2::random(const Gpt2Config& config, uint64_t seed) {
  auto problems = config.validate();
  if (!problems.empty()) fail("config", problems[0]);
  Gpt2 m;
  m.config_ = config;
  const float std_w = 0.02f;
  const float std_res = 0.02f / std::sqrt(2.0f * config.n_layer);
  Rng root(seed);
  uint64_t index = 0;
  for (const auto& [name, shape] : gpt2_tensor_table(config)) {
    auto buf = std::make_unique<AlignedBuffer<float>>(static_cast<size_t>(numel_of(shape)));
    float* d = buf->data();
    const int64_t n = static_cast<int64_t>(buf->size());
    bool is_bias = name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
    bool is_ln = name.find("ln_") != std::string::npos;
    if (is_ln && !is_bias) {
      for (int64_t i = 0; i < n; ++i) d[i] = 1.0f;
    } else if (is_bias) {
      for (int64_t i = 0; i < n; ++i) d[i] = 0.0f;
    } else {
      bool residual =
          name.find("attn.c_proj.weight") != std::string::npos || name.find("mlp.c_proj.weight") != std::string::npos;
      float s = residual ? std_res : std_w;
      Rng r = root.split(index);  // one stream per tensor: values do not depend on generation order
      for (int64_t i = 0; i < n; ++i) d[i] = s * static_cast<float>(r.normal());
    }
    ++index;
    m.tensors_[name] = Tensor{shape, d};
    m.owned_.push_back(std::move(buf));
  }
  m.bind_views();
  return m;
}

Gpt2 Gpt2::view(const Gpt2Config& config, const float* params, const std::string& source_dir) {
  auto problems = config.validate();
  if (!problems.empty()) fail("config", problems[0]);
  Gpt2 m;
  m.config_ = config;
  m.source_dir_ = source_dir;
  for (const auto& [name, shape] : gpt2_tensor_table(config)) {
    m.tensors_[name] = Tensor{shape, params};
    params += numel_of(shape);
  }
  m.bind_views();
  return m;
}

std::vector<std::pair<std::string, std::vector<int64_t>>> Gpt2::extra_table() const {
  std::vector<std::pair<std::string, std::vector<int64_t>>> t;
  for (const auto& [name, tensor] : extras_) t.push_back({name, tensor.shape});
  return t;
}

const float* Gpt2::find_extra(const std::string& name, int64_t numel) const {
  auto it = extras_.find(name);
  if (it == extras_.end()) return nullptr;
  if (numel_of(it->second.shape) != numel)
    fail_expected("model", std::to_string(numel) + " values in tensor '" + name + "'",
                  std::to_string(numel_of(it->second.shape)), "(shape " + shape_str(it->second.shape) + ")");
  return it->second.data;
}

void Gpt2::set_extra(const std::string& name, const std::vector<int64_t>& shape, const float* data) {
  auto buf = std::make_unique<AlignedBuffer<float>>(static_cast<size_t>(numel_of(shape)));
  std::memcpy(buf->data(), data, buf->size() * sizeof(float));
  extras_[name] = Tensor{shape, buf->data()};
  owned_.push_back(std::move(buf));
}

int64_t Gpt2::weight_bytes() const {
  int64_t n = 0;
  for (const auto& [name, t] : tensors_)
    if (name != "wpe.weight") n += numel_of(t.shape);
  return n * 4;
}

void Gpt2::save(const std::string& dir) const {
  make_dirs(dir);
  SafeTensorsWriter w;
  for (const auto& [name, shape] : gpt2_tensor_table(config_)) w.add_f32_borrowed(name, shape, tensor(name).data);
  if (lm_head_ != wte_) w.add_f32_borrowed("lm_head.weight", {config_.vocab_size, config_.n_embd}, lm_head_);
  for (const auto& [name, t] : extras_) w.add_f32_borrowed(name, t.shape, t.data);
  w.set_metadata("format", "pt");
  w.set_metadata("producer", "gaincell");
  w.write(dir + "/model.safetensors");
  write_file_atomic(dir + "/config.json", config_to_json(config_));

  // Tokenizer files travel with the model: from the source folder, else the bundled GPT-2 files.
  const char* pairs[2][2] = {{"vocab.json", "merges.txt"}, {"encoder.json", "vocab.bpe"}};
  std::string src = source_dir_;
  bool copied = false;
  for (auto& p : pairs) {
    if (!src.empty() && file_exists(src + "/" + p[0]) && file_exists(src + "/" + p[1]) &&
        fs::weakly_canonical(src) != fs::weakly_canonical(dir)) {
      for (const char* f : p) write_file_atomic(dir + "/" + f, read_file(src + "/" + f));
      copied = true;
    }
  }
  // A byte-level model's tokenizer is one small tokenizer.json (docs/tokenizer.md).
  if (!src.empty() && file_exists(src + "/tokenizer.json") && fs::weakly_canonical(src) != fs::weakly_canonical(dir)) {
    write_file_atomic(dir + "/tokenizer.json", read_file(src + "/tokenizer.json"));
    copied = true;
  }
  if (!copied && src.empty() && config_.vocab_size >= 50257) {
    std::string bundled = data_dir() + "/tokenizer/gpt2";
    for (const char* f : pairs[1]) write_file_atomic(dir + "/" + f, read_file(bundled + "/" + f));
  }
}

}  // namespace gaincell
