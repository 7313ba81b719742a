// NumPy .npy v1.0 files: float32 writer (atomic) and a validated reader for little-endian float32 / float64
// C-order arrays. Errors throw Error("npy", ...) naming the file and expected vs found.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace gaincell {

struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<float> data;  // converted to float32 when stored as <f8
  int64_t numel() const;
};

void write_npy_f32(const std::string& path, const std::vector<int64_t>& shape, const float* data);
NpyArray read_npy(const std::string& path);
// Parses a whole .npy image held in memory (what read_npy does after mapping the file); `where` names it.
NpyArray parse_npy(const uint8_t* data, size_t size, const std::string& where);

}  // namespace gaincell
