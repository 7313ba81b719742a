// .npy: float32 round trips with numpy's exact header layout, the authors' golden array, and a table of
// hostile headers that must each fail with a clean Error("npy", ...) naming the file (style R16, R21).
#include "io/npy.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <fstream>

#include "core/error.h"
#include "core/file.h"
#include "test_paths.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {

TEST(Npy, RoundTripKeepsShapeAndBits) {
  const std::string dir = test::scratch_dir("npy_roundtrip");
  const std::vector<std::vector<int64_t>> shapes = {{2, 3}, {5}, {}, {0, 4}, {1, 2, 1, 3}};
  for (const auto& shape : shapes) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    std::vector<float> v(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) v[i] = 0.5f * static_cast<float>(i) - 1.0f / 3.0f;
    const std::string path = dir + "/a" + std::to_string(shape.size()) + "_" + std::to_string(n) + ".npy";
    write_npy_f32(path, shape, v.data());
    NpyArray a = read_npy(path);
    EXPECT_EQ(a.shape, shape);
    EXPECT_EQ(a.numel(), n);
    ASSERT_EQ(a.data.size(), v.size());
    if (n) {
      EXPECT_EQ(std::memcmp(a.data.data(), v.data(), v.size() * 4), 0);
    }
  }
}

TEST(Npy, WriterUsesNumpyV1HeaderLayout) {
  const std::string path = test::scratch_dir("npy_layout") + "/x.npy";
  float v[6] = {1, 2, 3, 4, 5, 6};
  write_npy_f32(path, {2, 3}, v);
  std::string bytes = read_file(path);
  ASSERT_EQ(bytes.size(), 128u + 24u);  // header padded to a multiple of 64 bytes, then 6 floats
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  EXPECT_EQ(static_cast<uint8_t>(bytes[8]) | static_cast<uint8_t>(bytes[9]) << 8, 118);
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  EXPECT_EQ(bytes.substr(10, 118), dict + std::string(118 - dict.size() - 1, ' ') + "\n");
  write_npy_f32(path, {5}, v);  // 1-D tuples need the trailing comma
  EXPECT_NE(read_file(path).find("'shape': (5,), }"), std::string::npos);
}

TEST(Npy, ReadsAuthorsGoldenArray) {
  const std::string path = test::shared_path("data/gaincell-authors/array64_Q.npy");
  GAINCELL_REQUIRE_FILE(path);
  NpyArray a = read_npy(path);
  EXPECT_EQ(a.shape, (std::vector<int64_t>{10, 64, 64}));
  ASSERT_EQ(a.data.size(), 10u * 64 * 64);
  auto [lo, hi] = std::minmax_element(a.data.begin(), a.data.end());
  EXPECT_GE(*lo, 0.0f);
  EXPECT_LE(*hi, 1.0f);
  EXPECT_LT(*lo, *hi);
}

// ---- hand-built files -----------------------------------------------------------------------------------

std::string npy(const std::string& dict, const std::string& data, int major = 1) {
  std::string h = dict + "\n";
  std::string out = std::string("\x93NUMPY", 6) + static_cast<char>(major) + '\0';
  out += static_cast<char>(h.size() & 0xff);
  out += static_cast<char>(h.size() >> 8);
  if (major >= 2) out += std::string(2, '\0');
  return out + h + data;
}
std::string f4(std::initializer_list<float> v) {
  return std::string(reinterpret_cast<const char*>(v.begin()), v.size() * 4);
}

TEST(Npy, ReadsFloat64AndVersion2Headers) {
  const std::string dir = test::scratch_dir("npy_f8");
  double d[3] = {0.5, -1.25, 1e-3};
  write_file_atomic(dir + "/d.npy", npy("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }",
                                        std::string(reinterpret_cast<const char*>(d), 24)));
  NpyArray a = read_npy(dir + "/d.npy");
  EXPECT_EQ(a.data, (std::vector<float>{0.5f, -1.25f, 1e-3f}));
  write_file_atomic(dir + "/v2.npy",
                    npy("{\"shape\": (1, 2), \"fortran_order\": False, \"descr\": \"<f4\"}", f4({1.0f, 2.0f}), 2));
  EXPECT_EQ(read_npy(dir + "/v2.npy").shape, (std::vector<int64_t>{1, 2}));
}

struct HostileNpy {
  const char* name;
  std::string bytes;
  const char* fragment;
};

std::vector<HostileNpy> hostile_npy() {
  const std::string ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
  const std::string two = f4({1.0f, 2.0f});
  std::string bad_magic = npy(ok, two);
  bad_magic[1] = 'X';
  std::string past_end = npy(ok, two);
  past_end[9] = '\x40';  // header length 0x40xx > file
  return {
      {"empty", "", "at least 10 bytes"},
      {"truncated", std::string("\x93NUMPY\x01", 7), "at least 10 bytes"},
      {"bad_magic", bad_magic, "magic \\x93NUMPY"},
      {"bad_version", npy(ok, two, 9), "version 1.0, 2.0 or 3.0, got 9.0"},
      {"header_past_end", past_end, "past the end"},
      {"big_endian", npy("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", two), "got '>f4'"},
      {"int16", npy("{'descr': '<i2', 'fortran_order': False, 'shape': (4,), }", two), "got '<i2'"},
      {"fortran", npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", two), "fortran_order False"},
      {"too_few_bytes", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", two),
       "expected 12 data bytes for shape (3,) <f4, got 8"},
      {"too_many_bytes", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", two), "got 8"},
      {"shape_not_int", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", two),
       "non-negative integer in shape"},
      {"shape_negative", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", two),
       "non-negative integer in shape"},
      {"shape_not_tuple", npy("{'descr': '<f4', 'fortran_order': False, 'shape': [2], }", two), "'(' in the header"},
      {"shape_unclosed", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2 }", two), "')' in the header"},
      {"shape_huge_dim", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", two),
       "dims below 2^63"},
      {"shape_overflow", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 16), }", two),
       "64-bit element count"},
      {"rank_9", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }", two),
       "rank at most 8"},
      {"missing_key", npy("{'descr': '<f4', 'shape': (2,), }", two), "missing one"},
      {"duplicate_key", npy("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", two),
       "key 'descr'"},
      {"unknown_key", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", two), "key 'x'"},
      {"bad_bool", npy("{'descr': '<f4', 'fortran_order': 0, 'shape': (2,), }", two), "True or False"},
      {"not_a_dict", npy("['<f4']", two), "'{' in the header"},
      {"trailing_junk", npy(ok + " junk", two), "only whitespace after"},
      {"unclosed_string", npy("{'descr: <f4", two), "closing quote"},
  };
}

TEST(NpyHostile, EachBrokenFileFailsWithAClearError) {
  const std::string dir = test::scratch_dir("npy_hostile");
  for (const HostileNpy& c : hostile_npy()) {
    const std::string path = dir + "/" + c.name + ".npy";
    write_file_atomic(path, c.bytes);
    try {
      read_npy(path);
      ADD_FAILURE() << c.name << ": no error";
    } catch (const Error& e) {
      std::string what = e.what();
      EXPECT_EQ(e.component(), "npy") << c.name << ": " << what;
      EXPECT_NE(what.find(c.fragment), std::string::npos) << c.name << ": " << what;
      EXPECT_NE(what.find(path), std::string::npos) << c.name << " does not name the file: " << what;
      EXPECT_EQ(what.find('\n'), std::string::npos) << c.name << ": message is not one line";
    }
  }
}

TEST(NpyHostile, TruncatedAndCorruptedFilesNeverEscapeAsOtherErrors) {
  const std::string dir = test::scratch_dir("npy_mutate");
  float v[6] = {1, 2, 3, 4, 5, 6};
  write_npy_f32(dir + "/ok.npy", {2, 3}, v);
  const std::string good = read_file(dir + "/ok.npy");
  auto check = [&](const std::string& bytes) {
    std::ofstream(dir + "/m.npy", std::ios::binary | std::ios::trunc) << bytes;  // no fsync: fast
    try {
      NpyArray a = read_npy(dir + "/m.npy");
      EXPECT_EQ(static_cast<int64_t>(a.data.size()), a.numel());
    } catch (const Error&) {
    }
  };
  for (size_t n = 0; n < good.size(); ++n) check(good.substr(0, n));
  for (size_t at = 0; at < 128; ++at) {  // every header byte, set to a few hostile values
    for (char c : {'\0', '9', '(', '\'', ',', '\xff'}) {
      std::string bad = good;
      bad[at] = c;
      check(bad);
    }
  }
}

TEST(NpyHostile, WriterRejectsBadShapes) {
  const std::string dir = test::scratch_dir("npy_bad_write");
  float v[1] = {0};
  EXPECT_THROW(write_npy_f32(dir + "/neg.npy", {-1}, v), Error);
  EXPECT_THROW(write_npy_f32(dir + "/deep.npy", {1, 1, 1, 1, 1, 1, 1, 1, 1}, v), Error);
  EXPECT_FALSE(file_exists(dir + "/neg.npy"));
}

// numpy itself must load what we write (Debian's python3-numpy; skipped where absent).
TEST(Npy, NumpyLoadsWriterOutput) {
  std::string python, out, err;
  for (const char* py : {"/usr/bin/python3", "python3"})
    if (test::run_command(std::string(py) + " -c 'import numpy'", &out, &err) == 0) {
      python = py;
      break;
    }
  GAINCELL_REQUIRE(!python.empty(), "python3 with numpy");
  const std::string path = test::scratch_dir("npy_python") + "/l.npy";
  float v[6] = {1.5f, -2.0f, 0.25f, 3.0f, 5.0f, 6.0f};
  write_npy_f32(path, {3, 2}, v);
  ASSERT_EQ(test::run_command(
                python + " -c \"import numpy as np; a=np.load('" + path + "'); print(a.dtype, a.shape, a[2,1])\"", &out,
                &err),
            0)
      << err;
  EXPECT_EQ(out, "float32 (3, 2) 6.0\n");
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
