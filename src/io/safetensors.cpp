// safetensors reader: maps the file, validates the header against the file size and the spec, and exposes
// tensors zero-copy. Every size read from the file is checked against the bytes present and against the
// limits in safetensors.h; byte-size products are overflow-checked. See docs/file-formats.md.
#include "io/safetensors.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <utility>

#include "core/error.h"
#include "io/json.h"
#include "io/printable.h"

namespace gaincell {
namespace {

static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian");

using Json = nlohmann::json;
constexpr char kComponent[] = "safetensors";
constexpr int kMaxJsonDepth = 3;  // header object -> tensor entry -> shape / data_offsets arrays

struct DTypeEntry {
  DType dtype;
  const char* name;
  size_t size;
};
constexpr DTypeEntry kDTypes[] = {
    {DType::kF32, "F32", 4}, {DType::kF16, "F16", 2}, {DType::kBF16, "BF16", 2}, {DType::kF64, "F64", 8},
    {DType::kI32, "I32", 4}, {DType::kI64, "I64", 8}, {DType::kU8, "U8", 1},     {DType::kI8, "I8", 1},
    {DType::kU16, "U16", 2}, {DType::kI16, "I16", 2},
};

const DTypeEntry& dtype_entry(DType d) {
  for (const auto& e : kDTypes)
    if (e.dtype == d) return e;
  GAINCELL_ASSERT(false && "unknown DType");
}

std::string known_dtypes() {
  std::string s;
  for (const auto& e : kDTypes) {
    if (!s.empty()) s += '/';
    s += e.name;
  }
  return s;
}

// Context for messages: "... for tensor 'x' in 'file'".
struct Where {
  const std::string& path;
  std::string tensor;
  std::string str() const {
    return (tensor.empty() ? "" : "for tensor " + quoted_printable(tensor, 200) + " ") + "in '" + path + "'";
  }
};

[[noreturn]] void bad(const Where& w, const std::string& expected, const std::string& got) {
  fail_expected(kComponent, expected, got, w.str());
}

std::string json_text(const Json& j) {
  std::string s = j.dump();
  return s.size() > 60 ? s.substr(0, 57) + "..." : s;
}

uint64_t read_u64_le(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

std::vector<int64_t> parse_shape(const Json& j, const Where& w) {
  if (!j.is_array()) bad(w, "'shape' to be an array of integers", json_text(j));
  if (j.size() > kSafeTensorsMaxRank)
    bad(w, "rank at most " + std::to_string(kSafeTensorsMaxRank), "rank " + std::to_string(j.size()));
  std::vector<int64_t> shape;
  for (const Json& d : j) {
    if (!d.is_number_integer()) bad(w, "integer dims in 'shape'", json_text(d));
    if (!d.is_number_unsigned()) bad(w, "non-negative dims in 'shape'", json_text(d));
    uint64_t v = d.get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) bad(w, "dims below 2^63", json_text(d));
    shape.push_back(static_cast<int64_t>(v));
  }
  return shape;
}

// Element count and byte size of shape; throws if either overflows 63 / 64 bits.
uint64_t checked_nbytes(const std::vector<int64_t>& shape, size_t elem_size, const Where& w) {
  uint64_t numel = 1;
  for (int64_t d : shape)
    if (__builtin_mul_overflow(numel, static_cast<uint64_t>(d), &numel) ||
        numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      bad(w, "a shape whose element count fits in 63 bits", "an overflowing shape");
  uint64_t nbytes;
  if (__builtin_mul_overflow(numel, static_cast<uint64_t>(elem_size), &nbytes))
    bad(w, "a byte size that fits in 64 bits", "an overflowing shape");
  return nbytes;
}

TensorInfo parse_entry(const std::string& name, const Json& j, uint64_t data_size, const Where& w) {
  if (!j.is_object()) bad(w, "an object {dtype, shape, data_offsets}", json_text(j));
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!j.contains(key)) bad(w, std::string("key '") + key + "'", "none");
  TensorInfo t;
  t.name = name;
  const Json& dt = j["dtype"];
  if (!dt.is_string() || !parse_dtype(dt.get<std::string>(), &t.dtype))
    bad(w, "dtype one of " + known_dtypes(), json_text(dt));
  t.shape = parse_shape(j["shape"], w);
  uint64_t nbytes = checked_nbytes(t.shape, dtype_size(t.dtype), w);
  const Json& off = j["data_offsets"];
  if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
    bad(w, "'data_offsets' as [begin, end] non-negative integers", json_text(off));
  uint64_t begin = off[0].get<uint64_t>(), end = off[1].get<uint64_t>();
  if (begin > end) bad(w, "data_offsets begin <= end", json_text(off));
  if (end > data_size)
    bad(w, "data_offsets end <= data section size " + std::to_string(data_size), std::to_string(end));
  if (end - begin != nbytes)
    bad(w, std::to_string(nbytes) + " bytes (" + dtype_name(t.dtype) + " shape " + json_text(j["shape"]) + ")",
        std::to_string(end - begin) + " bytes in data_offsets");
  t.offset = begin;
  t.nbytes = nbytes;
  return t;
}

std::map<std::string, std::string> parse_metadata(const Json& j, const std::string& path) {
  Where w{path, "__metadata__"};
  if (!j.is_object()) bad(w, "an object of string values", json_text(j));
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : j.items()) {
    if (!value.is_string()) bad(w, "a string value for key '" + key + "'", json_text(value));
    out[key] = value.get<std::string>();
  }
  return out;
}

// Sorted by offset, the tensors must tile [0, data_size) exactly: no overlap, no gap, no trailing bytes.
void check_coverage(std::vector<TensorInfo>& ts, uint64_t data_size, const std::string& path) {
  std::sort(ts.begin(), ts.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return a.offset != b.offset ? a.offset < b.offset : a.nbytes < b.nbytes;
  });
  uint64_t pos = 0;
  for (const TensorInfo& t : ts) {
    Where w{path, t.name};
    if (t.offset < pos)
      bad(w, "data_offsets not overlapping the previous tensor (begin >= " + std::to_string(pos) + ")",
          "overlapping begin " + std::to_string(t.offset));
    if (t.offset > pos)
      bad(w, "data_offsets without a gap (begin " + std::to_string(pos) + ")",
          "a gap: begin " + std::to_string(t.offset));
    pos = t.offset + t.nbytes;
  }
  if (pos != data_size)
    bad(Where{path, ""}, "tensors covering the data section (" + std::to_string(data_size) + " bytes)",
        std::to_string(data_size - pos) + " trailing bytes");
}

}  // namespace

const char* dtype_name(DType d) {
  return dtype_entry(d).name;
}
size_t dtype_size(DType d) {
  return dtype_entry(d).size;
}

bool parse_dtype(const std::string& name, DType* out) {
  for (const auto& e : kDTypes)
    if (name == e.name) {
      *out = e.dtype;
      return true;
    }
  return false;
}

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

SafeTensorsHeader parse_safetensors_header(const uint8_t* data, size_t size, const std::string& path) {
  const Where w{path, ""};
  if (size < 8) bad(w, "at least 8 bytes (the header length)", std::to_string(size) + " bytes");
  const uint64_t header_len = read_u64_le(data);
  if (header_len > kSafeTensorsMaxHeaderBytes)
    bad(w, "header length at most " + std::to_string(kSafeTensorsMaxHeaderBytes), std::to_string(header_len));
  if (header_len > size - 8)
    bad(w, "header length at most " + std::to_string(size - 8) + " (file size " + std::to_string(size) + ")",
        std::to_string(header_len));
  std::string_view text(reinterpret_cast<const char*>(data) + 8, header_len);
  Json header = parse_json_strict(text, kComponent, path, kMaxJsonDepth);
  if (!header.is_object()) bad(w, "the header to be a JSON object", json_text(header));
  if (header.size() > kSafeTensorsMaxTensors + 1)
    bad(w, "at most " + std::to_string(kSafeTensorsMaxTensors) + " tensors", std::to_string(header.size()));
  const uint64_t data_size = size - 8 - header_len;
  SafeTensorsHeader h;
  h.data_offset = 8 + header_len;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      h.metadata = parse_metadata(entry, path);
      continue;
    }
    if (name.empty()) bad(w, "non-empty tensor names", "an empty name");
    h.tensors.push_back(parse_entry(name, entry, data_size, Where{path, name}));
  }
  check_coverage(h.tensors, data_size, path);
  return h;
}

SafeTensorsFile::SafeTensorsFile(const std::string& path) : file_(path) {
  SafeTensorsHeader h = parse_safetensors_header(file_.data(), file_.size(), path);
  data_begin_ = file_.data() + h.data_offset;
  tensors_ = std::move(h.tensors);
  metadata_ = std::move(h.metadata);
  for (size_t i = 0; i < tensors_.size(); ++i) index_[tensors_[i].name] = i;
}

const TensorInfo* SafeTensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

const float* SafeTensorsFile::f32_data(const TensorInfo& t) const {
  const Where w{path(), t.name};
  if (t.dtype != DType::kF32) bad(w, "dtype F32 for zero-copy access", dtype_name(t.dtype));
  const uint8_t* p = data(t);
  if (reinterpret_cast<uintptr_t>(p) % alignof(float) != 0)
    bad(w, "4-byte aligned F32 data", "offset " + std::to_string(t.offset) + " (use to_f32)");
  return reinterpret_cast<const float*>(p);
}

void SafeTensorsFile::to_f32(const TensorInfo& t, float* dst) const {
  const uint8_t* src = data(t);
  const size_t n = static_cast<size_t>(t.numel());
  switch (t.dtype) {
    case DType::kF32:
      if (n) std::memcpy(dst, src, n * 4);
      return;
    case DType::kF16:
    case DType::kBF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        dst[i] = t.dtype == DType::kF16 ? f16_to_f32(h) : bf16_to_f32(h);
      }
      return;
    case DType::kF64:
      for (size_t i = 0; i < n; ++i) {
        double v;
        std::memcpy(&v, src + 8 * i, 8);
        dst[i] = static_cast<float>(v);
      }
      return;
    default:
      bad(Where{path(), t.name}, "dtype F32/F16/BF16/F64 for conversion to float32", dtype_name(t.dtype));
  }
}

}  // namespace gaincell
