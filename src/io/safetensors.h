// safetensors reader (memory-mapped, validated) and writer (atomic). Format: 8-byte little-endian header
// length N, N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}},
// then the data section. See docs/file-formats.md. Every hostile case (header past the file, non-JSON,
// overlapping / gapped / out-of-range offsets, unknown dtype, shape-size mismatch, duplicate names, huge
// counts) throws Error("safetensors", ...) naming the file, the tensor and expected vs found.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/file.h"

namespace gaincell {

enum class DType { kF32, kF16, kBF16, kF64, kI32, kI64, kU8, kI8, kU16, kI16 };

const char* dtype_name(DType d);  // safetensors spelling: "F32", "F16", "BF16", ...
size_t dtype_size(DType d);

struct TensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  size_t offset = 0;  // byte offset into the data section
  size_t nbytes = 0;
  int64_t numel() const;
};

class SafeTensorsFile {
 public:
  // Maps and validates the whole header; throws Error on any inconsistency.
  explicit SafeTensorsFile(const std::string& path);

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find(const std::string& name) const;  // nullptr if absent
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const uint8_t* data(const TensorInfo& t) const { return data_begin_ + t.offset; }
  const std::string& path() const { return file_.path(); }

  // Converts a tensor to float32 into dst (numel floats). F32, F16, BF16 and F64 are accepted; other dtypes
  // throw. Use data() directly for zero-copy access to F32 tensors (the map stays valid while this lives;
  // F32 data is 4-byte aligned when the file was written by SafeTensorsWriter).
  void to_f32(const TensorInfo& t, float* dst) const;

 private:
  MappedFile file_;
  const uint8_t* data_begin_ = nullptr;
  std::vector<TensorInfo> tensors_;  // in file order of data offsets
  std::map<std::string, std::string> metadata_;
};

// Collects tensors and writes one safetensors file atomically. Tensors are written in insertion order,
// the data section aligned to 64 bytes (header padded with spaces, as the reference writer does).
class SafeTensorsWriter {
 public:
  // Copies the data. dtype is the stored type; src is float32 and is converted (round-to-nearest-even for
  // F16/BF16). Duplicate names throw.
  void add_f32(const std::string& name, const std::vector<int64_t>& shape, const float* src,
               DType stored = DType::kF32);
  // Stores raw bytes of any dtype (size must match shape).
  void add_raw(const std::string& name, DType dtype, const std::vector<int64_t>& shape, const void* bytes,
               size_t nbytes);
  void set_metadata(const std::string& key, const std::string& value);
  void write(const std::string& path) const;

 private:
  struct Entry {
    TensorInfo info;
    std::vector<uint8_t> bytes;
  };
  std::vector<Entry> entries_;
  std::map<std::string, std::string> metadata_;
};

// Half-precision conversions (IEEE binary16 and bfloat16), round-to-nearest-even.
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);
float bf16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);

}  // namespace gaincell
