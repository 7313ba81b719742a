#include "model/model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/bf16.h"
#include "core/error.h"
#include "core/file.h"
#include "core/rng.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "kernels/gemm_bf16.h"  // to_bf16_matrix
#include "model/shard_index.h"

namespace gaincell {
namespace fs = std::filesystem;

namespace {

std::string shape_str(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

int64_t numel_of(const std::vector<int64_t>& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

bool is_float_dtype(DType d) {
  return d == DType::kF32 || d == DType::kF16 || d == DType::kBF16 || d == DType::kF64;
}

// Where a tensor of the folder lives.
struct Source {
  const SafeTensorsFile* file = nullptr;
  const TensorInfo* info = nullptr;
  std::string path;  // file named in messages
};

std::string token_embedding_name(const ModelConfig& c) {
  for (const WeightSpec& s : weight_table(c))
    if (s.role == WeightRole::kTokenEmbed) return s.name;
  GAINCELL_ASSERT(false);
  return {};
}

// The bf16 pointer of a projection role in a block's views.
const uint16_t** bf16_slot(LayerWeights& w, WeightRole r) {
  using R = WeightRole;
  switch (r) {
    case R::kQkv:
      return &w.attn_w16;
    case R::kQ:
      return &w.q_w16;
    case R::kK:
      return &w.k_w16;
    case R::kV:
      return &w.v_w16;
    case R::kO:
      return &w.proj_w16;
    case R::kUp:
      return &w.fc_w16;
    case R::kGate:
      return &w.gate_w16;
    case R::kDown:
      return &w.fcproj_w16;
    default:
      GAINCELL_ASSERT(false);
      return nullptr;
  }
}

// d = the bf16 rounding of a mapped float32 matrix [rows, cols] of f, in blocks of rows whose file pages leave
// resident memory once converted: the peak holds one block of the float32 matrix, not all of it (a tied GPT-2
// embedding is 154 MB).
void to_bf16_releasing(uint16_t* d, const float* p, int64_t rows, int64_t cols, const SafeTensorsFile& f) {
  const int64_t block = std::max<int64_t>(1, (int64_t{4} << 20) / std::max<int64_t>(1, cols * 4));
  for (int64_t r = 0; r < rows; r += block) {
    const int64_t n = std::min(block, rows - r);
    to_bf16_matrix(d + r * cols, p + r * cols, n, cols, cols);
    f.release(reinterpret_cast<const uint8_t*>(p + r * cols), static_cast<size_t>(n * cols) * 4);
  }
}

// A projection held in bf16: BF16 data as stored (in place in the map when 2-byte aligned), other float types
// rounded to nearest even once (F16 through its exact float32 value) into a buffer appended to `owned`; the file
// pages of a converted tensor then leave resident memory.
const uint16_t* bf16_tensor(const SafeTensorsFile& f, const TensorInfo& t,
                            std::vector<std::unique_ptr<AlignedBuffer<uint16_t>>>& owned) {
  const uint8_t* p = f.data(t);
  if (t.dtype == DType::kBF16 && reinterpret_cast<uintptr_t>(p) % alignof(uint16_t) == 0)
    return reinterpret_cast<const uint16_t*>(p);
  const int64_t n = t.numel(), rows = t.shape.empty() ? 1 : t.shape[0], cols = rows ? n / rows : 0;
  auto buf = std::make_unique<AlignedBuffer<uint16_t>>(static_cast<size_t>(n));
  uint16_t* d = buf->data();
  if (t.dtype == DType::kBF16) {
    std::memcpy(d, p, static_cast<size_t>(n) * 2);
  } else if (t.dtype == DType::kF16) {
    for (int64_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, p + 2 * i, 2);
      d[i] = to_bf16(f16_to_f32(h));
    }
  } else if (t.dtype == DType::kF32 && reinterpret_cast<uintptr_t>(p) % alignof(float) == 0) {
    to_bf16_releasing(d, reinterpret_cast<const float*>(p), rows, cols, f);
  } else {  // F64, or F32 off its alignment: through a transient float32 copy
    AlignedBuffer<float> wide(static_cast<size_t>(n));
    f.to_f32(t, wide.data());
    to_bf16_matrix(d, wide.data(), rows, cols, cols);
  }
  f.release(t);  // the file's bytes of this tensor are not read again
  owned.push_back(std::move(buf));
  return d;
}

// The shard file names of model.safetensors.index.json, validated: plain file names only.
std::map<std::string, std::string> read_weight_map(const std::string& index_path) {
  return parse_shard_index(read_file(index_path, 64 << 20), index_path);
}

}  // namespace

Model::Model() = default;
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;
Model::~Model() = default;

const Model::Tensor& Model::tensor(const std::string& name) const {
  auto it = tensors_.find(name);
  GAINCELL_ASSERT(it != tensors_.end());
  return it->second;
}

const float* Model::tensor_data(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) fail("model", "no tensor '" + name + "' in a " + config_.family + " model");
  if (!it->second.data)
    fail("model", "tensor '" + name + "' is held in bf16 (a model loaded for --precision bf16 inference), not float32");
  return it->second.data;
}

const uint16_t* Model::tensor_bf16(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) fail("model", "no tensor '" + name + "' in a " + config_.family + " model");
  if (!it->second.bf16) fail("model", "tensor '" + name + "' is held in float32, not bf16");
  return it->second.bf16;
}

void Model::bind_views() {
  using R = WeightRole;
  layers_.assign(config_.n_layer, LayerWeights{});
  wpe_ = lnf_b_ = lm_head_ = nullptr;
  lm_head16_ = nullptr;
  bool head_in_table = false;
  for (const WeightSpec& s : weight_table(config_)) {
    const float* d = tensor(s.name).data;
    if (s.layer < 0 && s.role == R::kLmHead) {
      lm_head_ = d;
      lm_head16_ = tensor(s.name).bf16;
      head_in_table = true;
      continue;
    }
    if (s.layer < 0) {
      switch (s.role) {
        case R::kTokenEmbed:
          wte_ = d;
          break;
        case R::kPositionEmbed:
          wpe_ = d;
          break;
        case R::kFinalNorm:
          lnf_w_ = d;
          break;
        case R::kFinalNormBias:
          lnf_b_ = d;
          break;
        default:
          GAINCELL_ASSERT(false);
      }
      continue;
    }
    LayerWeights& w = layers_[s.layer];
    if (s.out_in) w.out_in = true;
    if (const uint16_t* d16 = tensor(s.name).bf16) {  // a projection held in bf16
      *bf16_slot(w, s.role) = d16;
      continue;
    }
    const float** slot = nullptr;
    switch (s.role) {
      case R::kNorm1:
        slot = &w.ln1_w;
        break;
      case R::kNorm1Bias:
        slot = &w.ln1_b;
        break;
      case R::kQkv:
        slot = &w.attn_w;
        break;
      case R::kQkvBias:
        slot = &w.attn_b;
        break;
      case R::kQ:
        slot = &w.q_w;
        break;
      case R::kQBias:
        slot = &w.q_b;
        break;
      case R::kK:
        slot = &w.k_w;
        break;
      case R::kKBias:
        slot = &w.k_b;
        break;
      case R::kV:
        slot = &w.v_w;
        break;
      case R::kVBias:
        slot = &w.v_b;
        break;
      case R::kO:
        slot = &w.proj_w;
        break;
      case R::kOBias:
        slot = &w.proj_b;
        break;
      case R::kNorm2:
        slot = &w.ln2_w;
        break;
      case R::kNorm2Bias:
        slot = &w.ln2_b;
        break;
      case R::kUp:
        slot = &w.fc_w;
        break;
      case R::kUpBias:
        slot = &w.fc_b;
        break;
      case R::kGate:
        slot = &w.gate_w;
        break;
      case R::kGateBias:
        slot = &w.gate_b;
        break;
      case R::kDown:
        slot = &w.fcproj_w;
        break;
      case R::kDownBias:
        slot = &w.fcproj_b;
        break;
      default:
        GAINCELL_ASSERT(false);
    }
    *slot = d;
  }
  tied_head_ = false;
  if (!head_in_table) {
    auto lm = tensors_.find(lm_head_name(config_));
    if (lm != tensors_.end()) {  // GPT-2's head stored beside a tied embedding
      lm_head_ = lm->second.data;
      lm_head16_ = lm->second.bf16;
    } else {
      lm_head_ = wte_;
      lm_head16_ = tied_head16_ ? tied_head16_->data() : nullptr;
      tied_head_ = true;
    }
  }
}

void Model::convert_to_bf16(Tensor& t) {
  const int64_t n = numel_of(t.shape), rows = t.shape.empty() ? 1 : t.shape[0];
  auto buf = std::make_unique<AlignedBuffer<uint16_t>>(static_cast<size_t>(n));
  to_bf16_matrix(buf->data(), t.data, rows, n / rows, n / rows);
  auto owned = std::find_if(owned_.begin(), owned_.end(), [&](const auto& b) { return b->data() == t.data; });
  if (owned != owned_.end()) owned_.erase(owned);  // a mapped tensor is only dropped
  t.data = nullptr;
  t.bf16 = buf->data();
  owned16_.push_back(std::move(buf));
}

void Model::hold_projections_in_bf16() {
  for (const WeightSpec& s : weight_table(config_)) {
    Tensor& t = tensors_.at(s.name);
    if (is_projection(s.role) && t.data) convert_to_bf16(t);
  }
  auto lm = tensors_.find(lm_head_name(config_));
  if (lm != tensors_.end() && lm->second.data) convert_to_bf16(lm->second);
  if (lm == tensors_.end() && !tied_head16_) {  // tied: a bf16 copy of the embedding for the head
    const Tensor& e = tensors_.at(token_embedding_name(config_));
    tied_head16_ = std::make_unique<AlignedBuffer<uint16_t>>(static_cast<size_t>(numel_of(e.shape)));
    // An embedding mapped from a file leaves resident memory block by block as it is copied: the lookup then
    // touches only the rows of the tokens it embeds (gpt2: the 154 MB of float32 rows made 1.7x the bf16
    // parameter bytes of peak RSS otherwise).
    const SafeTensorsFile* mapped = nullptr;
    for (const auto& f : files_)
      for (const TensorInfo& t : f->tensors())
        if (reinterpret_cast<const float*>(f->data(t)) == e.data) mapped = f.get();
    if (mapped)
      to_bf16_releasing(tied_head16_->data(), e.data, e.shape[0], e.shape[1], *mapped);
    else
      to_bf16_matrix(tied_head16_->data(), e.data, e.shape[0], e.shape[1], e.shape[1]);
  }
  storage_ = WeightStorage::kBf16Projections;
  bind_views();
}

void Model::load_tensors(const std::string& dir) {
  const std::string single = dir + "/model.safetensors", index = dir + "/model.safetensors.index.json";
  const std::string prefix = stripped_prefix(config_);
  // Canonical name -> where it is; a prefixed name that is also present without the prefix is ambiguous.
  std::map<std::string, Source> by_name;
  auto add = [&](const std::string& stored, const SafeTensorsFile* f, const TensorInfo* t, const std::string& path) {
    std::string name = !prefix.empty() && stored.rfind(prefix, 0) == 0 ? stored.substr(prefix.size()) : stored;
    if (is_ignored_buffer(config_, name)) return;
    if (!by_name.emplace(name, Source{f, t, path}).second)
      fail("model", "duplicate tensor '" + name + "' (with and without '" + prefix + "' prefix) in '" + path + "'");
  };
  if (file_exists(single)) {
    files_.push_back(std::make_unique<SafeTensorsFile>(single));
    for (const TensorInfo& t : files_.back()->tensors()) add(t.name, files_.back().get(), &t, single);
  } else if (file_exists(index)) {
    std::map<std::string, const SafeTensorsFile*> shards;
    for (const auto& [name, shard] : read_weight_map(index)) {
      const std::string path = dir + "/" + shard;
      auto it = shards.find(shard);
      if (it == shards.end()) {
        if (!file_exists(path))
          fail("model", "missing shard '" + shard + "' (named for tensor '" + name + "' by '" + index + "')");
        files_.push_back(std::make_unique<SafeTensorsFile>(path));
        it = shards.emplace(shard, files_.back().get()).first;
      }
      const TensorInfo* t = it->second->find(name);
      if (!t)
        fail("model", "tensor '" + name + "' is missing from shard '" + path + "', where '" + index + "' maps it");
      add(name, it->second, t, path);
    }
  } else {
    fail("model", "missing model.safetensors in '" + dir + "' (and no model.safetensors.index.json)");
  }

  auto take = [&](const std::string& name, const Source& src, bool bf16 = false) {
    const TensorInfo& t = *src.info;
    if (!is_float_dtype(t.dtype))
      fail_expected("model", "F32, F16, BF16 or F64 for tensor '" + name + "'", dtype_name(t.dtype),
                    "in '" + src.path + "'");
    Tensor out{t.shape, nullptr};
    const uint8_t* p = src.file->data(t);
    if (bf16) {
      out.bf16 = bf16_tensor(*src.file, t, owned16_);
      return out;
    }
    if (t.dtype == DType::kF32 && reinterpret_cast<uintptr_t>(p) % alignof(float) == 0) {
      out.data = reinterpret_cast<const float*>(p);  // zero copy from the map
    } else {
      auto buf = std::make_unique<AlignedBuffer<float>>(static_cast<size_t>(t.numel()));
      src.file->to_f32(t, buf->data());
      out.data = buf->data();
      owned_.push_back(std::move(buf));
    }
    return out;
  };
  auto take_checked = [&](const std::string& name, const std::vector<int64_t>& shape, const Source& src, bool bf16) {
    if (src.info->shape != shape)
      fail_expected("model", "shape " + shape_str(shape) + " for tensor '" + name + "'", shape_str(src.info->shape),
                    "in '" + src.path + "'");
    tensors_[name] = take(name, src, bf16);
  };
  const bool bf16 = storage_ == WeightStorage::kBf16Projections;
  const std::string where = file_exists(single) ? single : index;
  for (const WeightSpec& s : weight_table(config_)) {
    auto it = by_name.find(s.name);
    if (it == by_name.end()) fail("model", "missing tensor '" + s.name + "' in '" + where + "'");
    take_checked(s.name, s.shape, it->second, bf16 && is_projection(s.role));
    by_name.erase(it);
  }
  if (auto it = by_name.find(lm_head_name(config_)); it != by_name.end()) {
    // A head stored beside a tied embedding: GPT-2 files use it (as gaincell always has); the Llama family
    // ignores it, as transformers does (tie_word_embeddings makes lm_head the embedding).
    if (config_.is_gpt2()) take_checked(it->first, {config_.vocab_size, config_.n_embd}, it->second, bf16);
    by_name.erase(it);
  }
  for (const auto& [name, src] : by_name) {  // everything else: extra tensors (scalers, statistics)
    if (!config_.is_gpt2() && !is_backend_tensor(name))
      fail_expected("model", "only " + config_.family + " weights", "unknown tensor '" + name + "'",
                    "in '" + src.path + "'");
    if (is_float_dtype(src.info->dtype)) extras_[name] = take(name, src);
  }
}

Model Model::load(const std::string& dir, WeightStorage storage) {
  Model m;
  m.source_dir_ = dir;
  m.storage_ = storage;
  if (!fs::is_directory(dir)) fail_expected("model", "a model folder", "'" + dir + "' (not a directory)");
  std::string cfg_path = dir + "/config.json";
  if (!file_exists(cfg_path)) fail("model", "missing config.json in '" + dir + "'");
  m.config_ = config_from_json(read_file(cfg_path, 1 << 20), cfg_path);
  m.load_tensors(dir);
  if (storage == WeightStorage::kBf16Projections)
    m.hold_projections_in_bf16();  // the projections are bf16 already: the tied head's copy, and the views
  else
    m.bind_views();
  return m;
}

Model Model::random(const ModelConfig& config, uint64_t seed) {
  auto problems = config.validate();
  if (!problems.empty()) fail("config", problems[0]);
  Model m;
  m.config_ = config;
  const float std_w = 0.02f;
  const float std_res = 0.02f / std::sqrt(2.0f * config.n_layer);
  Rng root(seed);
  uint64_t index = 0;
  for (const WeightSpec& s : weight_table(config)) {
    auto buf = std::make_unique<AlignedBuffer<float>>(static_cast<size_t>(s.numel()));
    float* d = buf->data();
    const int64_t n = static_cast<int64_t>(buf->size());
    if (s.init == WeightInit::kOne) {
      for (int64_t i = 0; i < n; ++i) d[i] = 1.0f;
    } else if (s.init == WeightInit::kZero) {
      for (int64_t i = 0; i < n; ++i) d[i] = 0.0f;
    } else {
      const float sd = s.init == WeightInit::kResidualNormal ? std_res : std_w;
      Rng r = root.split(index);  // one stream per tensor: values do not depend on generation order
      for (int64_t i = 0; i < n; ++i) d[i] = sd * static_cast<float>(r.normal());
    }
    ++index;
    m.tensors_[s.name] = Tensor{s.shape, d};
    m.owned_.push_back(std::move(buf));
  }
  m.bind_views();
  return m;
}

Model Model::view(const ModelConfig& config, const float* params, const std::string& source_dir) {
  auto problems = config.validate();
  if (!problems.empty()) fail("config", problems[0]);
  Model m;
  m.config_ = config;
  m.source_dir_ = source_dir;
  for (const WeightSpec& s : weight_table(config)) {
    m.tensors_[s.name] = Tensor{s.shape, params};
    params += s.numel();
  }
  m.bind_views();
  return m;
}

std::vector<std::pair<std::string, std::vector<int64_t>>> Model::extra_table() const {
  std::vector<std::pair<std::string, std::vector<int64_t>>> t;
  for (const auto& [name, tensor] : extras_) t.push_back({name, tensor.shape});
  return t;
}

const float* Model::find_extra(const std::string& name, int64_t numel) const {
  auto it = extras_.find(name);
  if (it == extras_.end()) return nullptr;
  if (numel_of(it->second.shape) != numel)
    fail_expected("model", std::to_string(numel) + " values in tensor '" + name + "'",
                  std::to_string(numel_of(it->second.shape)), "(shape " + shape_str(it->second.shape) + ")");
  return it->second.data;
}

void Model::set_extra(const std::string& name, const std::vector<int64_t>& shape, const float* data) {
  auto buf = std::make_unique<AlignedBuffer<float>>(static_cast<size_t>(numel_of(shape)));
  std::memcpy(buf->data(), data, buf->size() * sizeof(float));
  extras_[name] = Tensor{shape, buf->data()};
  owned_.push_back(std::move(buf));
}

int64_t Model::weight_bytes() const {
  int64_t bytes = 0;
  for (const auto& [name, t] : tensors_)
    if (!t.data || t.data != wpe_) bytes += numel_of(t.shape) * (t.bf16 ? 2 : 4);
  // A tied head held in bf16: each token reads its bf16 copy, not the float32 embedding (one row of that).
  if (tied_head16_) bytes -= numel_of(tensors_.at(token_embedding_name(config_)).shape) * 2;
  return bytes;
}

int64_t Model::storage_bytes() const {
  int64_t bytes = 0;
  for (const auto& [name, t] : tensors_) bytes += numel_of(t.shape) * (t.bf16 ? 2 : 4);
  if (tied_head16_) bytes += static_cast<int64_t>(tied_head16_->size()) * 2;
  return bytes;
}

int64_t Model::owned_bytes() const {
  int64_t bytes = 0;
  for (const auto& b : owned_) bytes += static_cast<int64_t>(b->size()) * 4;
  for (const auto& b : owned16_) bytes += static_cast<int64_t>(b->size()) * 2;
  if (tied_head16_) bytes += static_cast<int64_t>(tied_head16_->size()) * 2;
  return bytes;
}

void Model::save(const std::string& dir) const {
  make_dirs(dir);
  SafeTensorsWriter w;
  auto add = [&](const std::string& name, const Tensor& t) {
    if (t.bf16)  // held in bf16: written as it is
      w.add_raw(name, DType::kBF16, t.shape, t.bf16, static_cast<size_t>(numel_of(t.shape)) * 2);
    else
      w.add_f32_borrowed(name, t.shape, t.data);
  };
  for (const WeightSpec& s : weight_table(config_)) add(s.name, tensor(s.name));
  if (auto lm = tensors_.find(lm_head_name(config_)); !tied_head_ && lm != tensors_.end()) {
    bool in_table = false;
    for (const WeightSpec& s : weight_table(config_)) in_table = in_table || s.name == lm->first;
    if (!in_table) add(lm->first, lm->second);
  }
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
  // Single-file tokenizers (a byte-level model's small tokenizer.json, docs/tokenizer.md; the Llama family's
  // tokenizer.json / tokenizer.model / tokenizer.bin and their configs).
  for (const char* f :
       {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model", "tokenizer.bin"}) {
    if (!src.empty() && file_exists(src + "/" + f) && fs::weakly_canonical(src) != fs::weakly_canonical(dir)) {
      write_file_atomic(dir + "/" + f, read_file(src + "/" + f));
      copied = true;
    }
  }
  if (!copied && src.empty() && config_.is_gpt2() && config_.vocab_size >= 50257) {
    std::string bundled = data_dir() + "/tokenizer/gpt2";
    for (const char* f : pairs[1]) write_file_atomic(dir + "/" + f, read_file(bundled + "/" + f));
  }
}

}  // namespace gaincell
