// safetensors reader (memory-mapped, validated) and writer (atomic). Format: 8-byte little-endian header
// length N, N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}},
// then the data section. See docs/file-formats.md. Every hostile case (header past the file, non-JSON,
// overlapping / gapped / out-of-range offsets, unknown dtype, shape-size mismatch, duplicate names, huge
// counts) throws Error("safetensors", ...) naming the file, the tensor and expected vs found.
// Limits: header <= 100 MB, <= 1e6 tensors, rank <= 8; the data section must be covered exactly (no gaps,
// no overlaps, no trailing bytes), as the safetensors spec requires.
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
// Parses a safetensors dtype spelling; false if it is not one of the DType values.
bool parse_dtype(const std::string& name, DType* out);

inline constexpr size_t kSafeTensorsMaxHeaderBytes = 100'000'000;
inline constexpr size_t kSafeTensorsMaxTensors = 1'000'000;
inline constexpr size_t kSafeTensorsMaxRank = 8;

struct TensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  size_t offset = 0;  // byte offset into the data section
  size_t nbytes = 0;
  int64_t numel() const;
};

// The validated header of a safetensors image: tensors sorted by data offset, metadata, and where the data
// section starts (8 + header length).
struct SafeTensorsHeader {
  std::vector<TensorInfo> tensors;
  std::map<std::string, std::string> metadata;
  size_t data_offset = 0;
};

// Validates a whole safetensors image held in memory (size bytes at data); `where` names it in errors.
// SafeTensorsFile runs exactly this on the mapped file; the fuzz targets call it directly.
SafeTensorsHeader parse_safetensors_header(const uint8_t* data, size_t size, const std::string& where);

class SafeTensorsFile {
 public:
  // Maps and validates the whole header; throws Error on any inconsistency.
  explicit SafeTensorsFile(const std::string& path);

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find(const std::string& name) const;  // nullptr if absent
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const uint8_t* data(const TensorInfo& t) const { return data_begin_ + t.offset; }
  // Zero-copy float view of an F32 tensor; throws if t is not F32 or its bytes are not 4-byte aligned
  // (possible only in files from foreign writers; to_f32 works for those).
  const float* f32_data(const TensorInfo& t) const;
  const std::string& path() const { return file_.path(); }

  // Converts a tensor to float32 into dst (numel floats). F32, F16, BF16 and F64 are accepted; other dtypes
  // throw. Use data() directly for zero-copy access to F32 tensors (the map stays valid while this lives;
  // F32 data is 4-byte aligned when the file was written by SafeTensorsWriter).
  void to_f32(const TensorInfo& t, float* dst) const;
  // Drops a tensor's whole pages from resident memory once it has been converted (MappedFile::release).
  void release(const TensorInfo& t) const { file_.release(data(t), t.nbytes); }
  // The same for the whole pages inside [p, p + n) of the map (part of a tensor).
  void release(const uint8_t* p, size_t n) const { file_.release(p, n); }

 private:
  MappedFile file_;
  const uint8_t* data_begin_ = nullptr;
  std::vector<TensorInfo> tensors_;      // in file order of data offsets
  std::map<std::string, size_t> index_;  // name -> position in tensors_
  std::map<std::string, std::string> metadata_;
};

// Collects tensors and writes one safetensors file atomically. The header is padded with spaces so the data
// section starts at a multiple of 8 bytes (as the reference writer does). Tensors are laid out without gaps
// (the spec forbids them), ordered by element size, widest first, then by insertion order, so every tensor
// starts at a multiple of its element size (F32 data is 4-byte aligned for zero-copy use). Wider per-tensor
// alignment would need gaps. The output reads back with Python's json + struct (docs/file-formats.md).
class SafeTensorsWriter {
 public:
  // Copies the data. dtype is the stored type; src is float32 and is converted (round-to-nearest-even for
  // F16/BF16). Duplicate names throw.
  void add_f32(const std::string& name, const std::vector<int64_t>& shape, const float* src,
               DType stored = DType::kF32);
  // Like add_f32 but keeps only the pointer: src must stay valid and unchanged until write(), which converts
  // and streams it in chunks. Saves a full copy of the model (gpt2-xl: 6.2 GB) when writing checkpoints.
  void add_f32_borrowed(const std::string& name, const std::vector<int64_t>& shape, const float* src,
                        DType stored = DType::kF32);
  // Stores raw bytes of any dtype (size must match shape).
  void add_raw(const std::string& name, DType dtype, const std::vector<int64_t>& shape, const void* bytes,
               size_t nbytes);
  void set_metadata(const std::string& key, const std::string& value);
  void write(const std::string& path) const;

 private:
  struct Entry {
    TensorInfo info;
    std::vector<uint8_t> bytes;       // owned data, or
    const float* borrowed = nullptr;  // float32 source converted to info.dtype at write()
  };
  void add_entry(const std::string& name, DType dtype, const std::vector<int64_t>& shape, size_t nbytes, Entry&& e);
  std::vector<Entry> entries_;
  std::map<std::string, std::string> metadata_;
};

// Half-precision conversions (IEEE binary16 and bfloat16), round-to-nearest-even.
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);
float bf16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);

}  // namespace gaincell
