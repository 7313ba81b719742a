// safetensors writer: validates each added tensor, lays the data section out without gaps (widest element
// type first, so each tensor is naturally aligned), pads the JSON header with spaces so that the data section
// starts at a multiple of 64 bytes (a cache line) and writes the file atomically. The output is plain safetensors:
// Python reads it with json + struct.
#include <algorithm>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/safetensors.h"

namespace gaincell {
namespace {

constexpr char kWriterComponent[] = "safetensors";
constexpr size_t kDataAlign = 64;  // the data section's alignment in the file (bytes)

uint64_t checked_numel(const std::string& name, const std::vector<int64_t>& shape) {
  if (shape.size() > kSafeTensorsMaxRank)
    fail_expected(kWriterComponent, "rank at most " + std::to_string(kSafeTensorsMaxRank),
                  "rank " + std::to_string(shape.size()), "for tensor '" + name + "'");
  uint64_t numel = 1;
  for (int64_t d : shape) {
    if (d < 0) fail_expected(kWriterComponent, "non-negative dims", std::to_string(d), "for tensor '" + name + "'");
    if (__builtin_mul_overflow(numel, static_cast<uint64_t>(d), &numel) ||
        numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / 8)
      fail_expected(kWriterComponent, "a shape whose byte size fits in 63 bits", "an overflowing shape",
                    "for tensor '" + name + "'");
  }
  return numel;
}

void check_float_dtype(const std::string& name, DType stored) {
  if (stored != DType::kF32 && stored != DType::kF16 && stored != DType::kBF16 && stored != DType::kF64)
    fail_expected(kWriterComponent, "stored dtype F32/F16/BF16/F64 for float input", dtype_name(stored),
                  "for tensor '" + name + "'");
}

// n float32 values to `stored` (checked by check_float_dtype), written to out.
void convert_f32(const float* src, size_t n, DType stored, uint8_t* out) {
  switch (stored) {
    case DType::kF32:
      if (n) std::memcpy(out, src, n * 4);
      break;
    case DType::kF16:
    case DType::kBF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h = stored == DType::kF16 ? f32_to_f16(src[i]) : f32_to_bf16(src[i]);
        std::memcpy(out + 2 * i, &h, 2);
      }
      break;
    default:  // kF64
      for (size_t i = 0; i < n; ++i) {
        double v = src[i];
        std::memcpy(out + 8 * i, &v, 8);
      }
  }
}

}  // namespace

void SafeTensorsWriter::add_entry(const std::string& name, DType dtype, const std::vector<int64_t>& shape,
                                  size_t nbytes, Entry&& e) {
  if (name.empty() || name == "__metadata__")
    fail_expected(kWriterComponent, "a tensor name other than '' and '__metadata__'", "'" + name + "'");
  for (const Entry& other : entries_)
    if (other.info.name == name) fail_expected(kWriterComponent, "unique tensor names", "duplicate '" + name + "'");
  uint64_t expected = checked_numel(name, shape) * dtype_size(dtype);
  if (expected != nbytes)
    fail_expected(kWriterComponent, std::to_string(expected) + " bytes for its shape", std::to_string(nbytes),
                  "for tensor '" + name + "'");
  e.info.name = name;
  e.info.dtype = dtype;
  e.info.shape = shape;
  e.info.nbytes = nbytes;
  entries_.push_back(std::move(e));
}

void SafeTensorsWriter::add_raw(const std::string& name, DType dtype, const std::vector<int64_t>& shape,
                                const void* bytes, size_t nbytes) {
  Entry e;
  const uint8_t* p = static_cast<const uint8_t*>(bytes);
  if (nbytes) e.bytes.assign(p, p + nbytes);
  add_entry(name, dtype, shape, nbytes, std::move(e));
}

void SafeTensorsWriter::add_f32(const std::string& name, const std::vector<int64_t>& shape, const float* src,
                                DType stored) {
  const size_t n = checked_numel(name, shape);
  check_float_dtype(name, stored);
  Entry e;
  e.bytes.resize(n * dtype_size(stored));
  convert_f32(src, n, stored, e.bytes.data());
  const size_t nbytes = e.bytes.size();
  add_entry(name, stored, shape, nbytes, std::move(e));  // converted once, not copied again by add_raw
}

void SafeTensorsWriter::add_f32_borrowed(const std::string& name, const std::vector<int64_t>& shape, const float* src,
                                         DType stored) {
  const size_t n = checked_numel(name, shape);
  check_float_dtype(name, stored);
  Entry e;
  e.borrowed = src;
  add_entry(name, stored, shape, n * dtype_size(stored), std::move(e));
}

void SafeTensorsWriter::set_metadata(const std::string& key, const std::string& value) {
  metadata_[key] = value;
}

void SafeTensorsWriter::write(const std::string& path) const {
  // Widest element first (stable, so insertion order within a width): every tensor starts at a multiple of
  // its element size, since all earlier tensors are whole multiples of a width at least as large.
  std::vector<const Entry*> order;
  for (const Entry& e : entries_) order.push_back(&e);
  std::stable_sort(order.begin(), order.end(), [](const Entry* a, const Entry* b) {
    return dtype_size(a->info.dtype) > dtype_size(b->info.dtype);
  });
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata_.empty()) header["__metadata__"] = metadata_;
  uint64_t offset = 0;
  for (const Entry* e : order) {
    header[e->info.name] = {{"dtype", dtype_name(e->info.dtype)},
                            {"shape", e->info.shape},
                            {"data_offsets", {offset, offset + e->info.nbytes}}};
    offset += e->info.nbytes;
  }
  std::string text = header.dump();
  // The data section starts at 8 + len, padded to a multiple of 64 bytes: the map is page-aligned, so tensors whose
  // offsets are multiples of 64 (every tensor of the model presets) start on a cache line, and weights read in
  // place from the map (float32 decoding) need no loads split across two lines (docs/file-formats.md).
  text.append((kDataAlign - (8 + text.size()) % kDataAlign) % kDataAlign, ' ');
  uint64_t len = text.size();
  AtomicFile f(path);
  f.write(&len, 8);  // little-endian host (static_assert in safetensors.cpp)
  f.write(text);
  std::vector<uint8_t> chunk;
  for (const Entry* e : order) {
    if (!e->borrowed) {
      f.write(e->bytes.data(), e->bytes.size());
      continue;
    }
    if (e->info.dtype == DType::kF32) {  // no conversion: straight from the caller's memory
      f.write(e->borrowed, e->info.nbytes);
      continue;
    }
    constexpr size_t kChunkElems = size_t{1} << 18;
    const size_t n = e->info.nbytes / dtype_size(e->info.dtype);
    chunk.resize(kChunkElems * dtype_size(e->info.dtype));
    for (size_t i = 0; i < n; i += kChunkElems) {
      const size_t m = std::min(kChunkElems, n - i);
      convert_f32(e->borrowed + i, m, e->info.dtype, chunk.data());
      f.write(chunk.data(), m * dtype_size(e->info.dtype));
    }
  }
  f.commit();
}

}  // namespace gaincell
