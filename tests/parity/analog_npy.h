// Minimal .npy reader for the analog parity tests (little-endian <f4 / <f8, C order, v1/v2 headers).
// Test-only; the library reader is src/io/npy.h.
#pragma once
#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace gaincell::test {

struct NpyData {
  std::vector<int64_t> shape;
  std::vector<float> data;
};

inline NpyData load_npy_f32(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open " + path);
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0) throw std::runtime_error("bad magic " + path);
  int major = uint8_t(bytes[6]);
  size_t hlen = major == 1 ? uint8_t(bytes[8]) | (uint8_t(bytes[9]) << 8) : 0;
  size_t off = 10;
  if (major >= 2) {
    uint32_t h;
    std::memcpy(&h, &bytes[8], 4);
    hlen = h;
    off = 12;
  }
  std::string header = bytes.substr(off, hlen);
  bool f8 = header.find("'<f8'") != std::string::npos;
  if (!f8 && header.find("'<f4'") == std::string::npos) throw std::runtime_error("not <f4/<f8: " + path);
  if (header.find("'fortran_order': False") == std::string::npos) throw std::runtime_error("fortran " + path);
  NpyData r;
  size_t a = header.find('(', header.find("'shape'")), b = header.find(')', a);
  std::stringstream ss(header.substr(a + 1, b - a - 1));
  std::string tok;
  int64_t n = 1;
  while (std::getline(ss, tok, ','))
    if (tok.find_first_of("0123456789") != std::string::npos) r.shape.push_back(std::stoll(tok)), n *= r.shape.back();
  size_t esz = f8 ? 8 : 4, start = off + hlen;
  if (bytes.size() != start + size_t(n) * esz) throw std::runtime_error("size mismatch " + path);
  r.data.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    if (f8) {
      double d;
      std::memcpy(&d, &bytes[start + i * 8], 8);
      r.data[i] = float(d);
    } else {
      std::memcpy(&r.data[i], &bytes[start + i * 4], 4);
    }
  }
  return r;
}

}  // namespace gaincell::test
