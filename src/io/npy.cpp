// NumPy .npy reader/writer (format spec: numpy.lib.format). The writer emits v1.0 '<f4' C-order files with
// the header padded so the data starts at a multiple of 64 bytes. The reader accepts v1/v2/v3 headers with
// '<f4' or '<f8' C-order data and checks every length against the file size (docs/file-formats.md).
#include "io/npy.h"

#include <bit>
#include <cstring>
#include <limits>
#include <string_view>

#include "core/error.h"
#include "core/file.h"
#include "io/printable.h"

namespace gaincell {
namespace {

static_assert(std::endian::native == std::endian::little, "npy '<' data is little-endian");

constexpr char kNpyComponent[] = "npy";
constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;
constexpr size_t kMaxRank = 8;
constexpr size_t kMaxHeaderBytes = 1 << 20;
constexpr size_t kAlign = 64;

struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  std::vector<int64_t> shape;
};

[[noreturn]] void bad(const std::string& path, const std::string& expected, const std::string& got) {
  fail_expected(kNpyComponent, expected, got, "in '" + path + "'");
}

// Parses the Python dict literal of a .npy header, e.g. {'descr': '<f4', 'fortran_order': False, 'shape': (2,)}.
class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::string& path) : s_(text), path_(path) {}

  NpyHeader parse() {
    NpyHeader h;
    bool seen_descr = false, seen_order = false, seen_shape = false;
    expect('{');
    while (!eat('}')) {
      std::string key = parse_string();
      expect(':');
      if (key == "descr" && !seen_descr) {
        h.descr = parse_string();
        seen_descr = true;
      } else if (key == "fortran_order" && !seen_order) {
        h.fortran_order = parse_bool();
        seen_order = true;
      } else if (key == "shape" && !seen_shape) {
        h.shape = parse_shape();
        seen_shape = true;
      } else {
        bad(path_, "header keys descr, fortran_order, shape (once each)", "key " + quoted_printable(key));
      }
      if (!eat(',')) {
        expect('}');
        break;
      }
    }
    skip_ws();
    if (pos_ != s_.size()) bad(path_, "only whitespace after the header dict", quoted_printable(s_.substr(pos_)));
    if (!seen_descr || !seen_order || !seen_shape)
      bad(path_, "header keys descr, fortran_order and shape", "a header missing one");
    return h;
  }

 private:
  void skip_ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\t' || s_[pos_] == '\r')) ++pos_;
  }
  bool eat(char c) {
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!eat(c)) bad(path_, std::string("'") + c + "' in the header dict", near());
  }
  std::string near() const { return quoted_printable(s_.substr(pos_, 20)); }

  std::string parse_string() {
    skip_ws();
    if (pos_ >= s_.size() || (s_[pos_] != '\'' && s_[pos_] != '"'))
      bad(path_, "a quoted string in the header dict", near());
    char q = s_[pos_++];
    size_t end = s_.find(q, pos_);
    if (end == std::string_view::npos) bad(path_, "a closing quote in the header dict", "end of header");
    std::string out(s_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return out;
  }
  bool parse_bool() {
    skip_ws();
    for (auto [word, value] : {std::pair{"True", true}, std::pair{"False", false}})
      if (s_.substr(pos_, std::strlen(word)) == word) {
        pos_ += std::strlen(word);
        return value;
      }
    bad(path_, "True or False for fortran_order", near());
  }
  int64_t parse_dim() {
    skip_ws();
    uint64_t v = 0;
    size_t start = pos_;
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
      if (__builtin_mul_overflow(v, 10u, &v) || __builtin_add_overflow(v, uint64_t(s_[pos_] - '0'), &v) ||
          v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        bad(path_, "shape dims below 2^63", quoted_printable(s_.substr(start, 25)));
      ++pos_;
    }
    if (pos_ == start) bad(path_, "a non-negative integer in shape", near());
    return static_cast<int64_t>(v);
  }
  std::vector<int64_t> parse_shape() {
    std::vector<int64_t> shape;
    expect('(');
    while (!eat(')')) {
      if (shape.size() == kMaxRank) bad(path_, "rank at most " + std::to_string(kMaxRank), "more dims");
      shape.push_back(parse_dim());
      if (!eat(',')) {
        expect(')');
        break;
      }
    }
    return shape;
  }

  std::string_view s_;
  const std::string& path_;
  size_t pos_ = 0;
};

std::string shape_tuple(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

uint64_t checked_numel(const std::vector<int64_t>& shape, size_t itemsize, const std::string& path) {
  uint64_t n = 1, bytes = 0;
  for (int64_t d : shape)
    if (d < 0 || __builtin_mul_overflow(n, static_cast<uint64_t>(d), &n))
      bad(path, "a shape with a 64-bit element count", shape_tuple(shape));
  if (__builtin_mul_overflow(n, static_cast<uint64_t>(itemsize), &bytes) ||
      bytes > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    bad(path, "a shape with a 63-bit byte size", shape_tuple(shape));
  return n;
}

// Returns the header dict text and sets *data_offset; checks magic, version and header length.
std::string_view read_preamble(const uint8_t* p, size_t size, const std::string& path, size_t* data_offset) {
  if (size < 10) bad(path, "at least 10 bytes (magic, version, header length)", std::to_string(size));
  if (std::memcmp(p, kMagic, kMagicLen) != 0) bad(path, "magic \\x93NUMPY", "other bytes");
  const int major = p[6], minor = p[7];
  size_t len = 0, start = 0;
  if (major == 1) {
    len = p[8] | size_t{p[9]} << 8;
    start = 10;
  } else if ((major == 2 || major == 3) && size >= 12) {
    len = p[8] | size_t{p[9]} << 8 | size_t{p[10]} << 16 | size_t{p[11]} << 24;
    start = 12;
  } else {
    bad(path, "version 1.0, 2.0 or 3.0", std::to_string(major) + "." + std::to_string(minor));
  }
  if (len > kMaxHeaderBytes) bad(path, "header length at most " + std::to_string(kMaxHeaderBytes), std::to_string(len));
  if (len > size - start)
    bad(path, "header length within the file (at most " + std::to_string(size - start) + ")",
        std::to_string(len) + ", past the end");
  *data_offset = start + len;
  return std::string_view(reinterpret_cast<const char*>(p) + start, len);
}

}  // namespace

int64_t NpyArray::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

void write_npy_f32(const std::string& path, const std::vector<int64_t>& shape, const float* data) {
  if (shape.size() > kMaxRank) bad(path, "rank at most " + std::to_string(kMaxRank), std::to_string(shape.size()));
  const uint64_t n = checked_numel(shape, 4, path);
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape_tuple(shape) + ", }";
  // Spaces then '\n' so that magic(6) + version(2) + length(2) + header is a multiple of 64 (numpy's layout).
  size_t total = 10 + dict.size() + 1;
  dict.append((kAlign - total % kAlign) % kAlign, ' ');
  dict += '\n';
  const uint16_t len = static_cast<uint16_t>(dict.size());
  std::string pre(kMagic, kMagicLen);
  pre += '\x01';
  pre += '\x00';
  pre += static_cast<char>(len & 0xff);
  pre += static_cast<char>(len >> 8);
  AtomicFile f(path);
  f.write(pre);
  f.write(dict);
  if (n) f.write(data, n * 4);
  f.commit();
}

NpyArray read_npy(const std::string& path) {
  MappedFile f(path);
  return parse_npy(f.data(), f.size(), path);
}

NpyArray parse_npy(const uint8_t* data, size_t size, const std::string& path) {
  size_t data_offset = 0;
  NpyHeader h = HeaderParser(read_preamble(data, size, path, &data_offset), path).parse();
  size_t itemsize = 0;
  if (h.descr == "<f4")
    itemsize = 4;
  else if (h.descr == "<f8")
    itemsize = 8;
  else
    bad(path, "dtype '<f4' or '<f8' (little-endian float)", quoted_printable(h.descr));
  if (h.fortran_order) bad(path, "fortran_order False (C order)", "True");
  const uint64_t n = checked_numel(h.shape, itemsize, path);
  const uint64_t data_bytes = size - data_offset;
  if (n * itemsize != data_bytes)
    bad(path, std::to_string(n * itemsize) + " data bytes for shape " + shape_tuple(h.shape) + " " + h.descr,
        std::to_string(data_bytes));
  NpyArray a;
  a.shape = h.shape;
  a.data.resize(n);
  const uint8_t* src = data + data_offset;
  if (itemsize == 4) {
    if (n) std::memcpy(a.data.data(), src, n * 4);
  } else {
    for (uint64_t i = 0; i < n; ++i) {
      double v;
      std::memcpy(&v, src + 8 * i, 8);
      a.data[i] = static_cast<float>(v);
    }
  }
  return a;
}

}  // namespace gaincell
