// safetensors: F16/BF16 rounding, writer -> reader round trips, and a table of hostile files that must each
// fail with a clean Error naming the file (style R16, R21).
#include "io/safetensors.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>

#include "core/error.h"
#include "core/file.h"
#include "core/rng.h"
#include "test_paths.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

TEST(HalfFloat, F16RoundsToNearestEven) {
  EXPECT_EQ(f32_to_f16(1.0f), 0x3c00);
  EXPECT_EQ(f32_to_f16(-2.0f), 0xc000);
  EXPECT_EQ(f32_to_f16(-0.0f), 0x8000);
  EXPECT_EQ(f32_to_f16(1.0f + 0x1p-11f), 0x3c00);             // tie between 0x3c00 and 0x3c01: even
  EXPECT_EQ(f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3c02);         // tie between 0x3c01 and 0x3c02: even
  EXPECT_EQ(f32_to_f16(1.0f + 0x1p-11f + 0x1p-20f), 0x3c01);  // just above the tie
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7bff);                    // largest finite
  EXPECT_EQ(f32_to_f16(65519.0f), 0x7bff);                    // below the tie with 65536
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);                    // tie 65504/65536 rounds to even: overflow to Inf
  EXPECT_EQ(f32_to_f16(1e6f), 0x7c00);
  EXPECT_EQ(f32_to_f16(-1e6f), 0xfc00);
  EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::infinity()), 0x7c00);
  EXPECT_EQ(f32_to_f16(-std::numeric_limits<float>::infinity()), 0xfc00);
}

TEST(HalfFloat, F16SubnormalsAndNaN) {
  EXPECT_EQ(f32_to_f16(0x1p-14f), 0x0400);         // smallest normal
  EXPECT_EQ(f32_to_f16(1023 * 0x1p-24f), 0x03ff);  // largest subnormal
  EXPECT_EQ(f32_to_f16(0x1p-24f), 0x0001);         // smallest subnormal
  EXPECT_EQ(f32_to_f16(0x1p-25f), 0x0000);         // tie between 0 and 1 ulp: even (zero)
  EXPECT_EQ(f32_to_f16(-0x1p-25f), 0x8000);
  EXPECT_EQ(f32_to_f16(0x1p-25f * 1.0001f), 0x0001);  // just above the tie
  EXPECT_EQ(f32_to_f16(3 * 0x1p-25f), 0x0002);        // tie between 1 and 2 ulps: even
  EXPECT_EQ(f32_to_f16(0x1p-30f), 0x0000);
  EXPECT_EQ(f32_to_f16(1e-45f), 0x0000);              // f32 subnormal input
  EXPECT_EQ(f32_to_f16(1023.5f * 0x1p-24f), 0x0400);  // rounds up into the smallest normal
  uint16_t nan = f32_to_f16(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(nan & 0x7c00, 0x7c00);
  EXPECT_NE(nan & 0x03ff, 0);
  EXPECT_TRUE(std::isnan(f16_to_f32(nan)));
  EXPECT_NE(f32_to_f16(from_bits(0x7f800001u)) & 0x03ff, 0);  // signalling NaN with low payload stays NaN
  EXPECT_EQ(f16_to_f32(0x0001), 0x1p-24f);
  EXPECT_EQ(f16_to_f32(0x7bff), 65504.0f);
  EXPECT_EQ(bits(f16_to_f32(0x8000)), 0x80000000u);
}

TEST(HalfFloat, EveryNonNaNHalfSurvivesARoundTrip) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7c00) == 0x7c00 && (h & 0x03ff)) continue;  // NaN
    ASSERT_EQ(f32_to_f16(f16_to_f32(static_cast<uint16_t>(h))), h) << "f16 " << h;
    if ((h & 0x7f80) == 0x7f80 && (h & 0x7f)) continue;  // bf16 NaN
    ASSERT_EQ(f32_to_bf16(bf16_to_f32(static_cast<uint16_t>(h))), h) << "bf16 " << h;
  }
}

#ifdef __FLT16_MAX__
TEST(HalfFloat, F16MatchesCompilerConversionOnRandomBits) {
  Rng rng(3);
  for (int i = 0; i < 200000; ++i) {
    float f = from_bits(static_cast<uint32_t>(rng.next_u64()));
    if (std::isnan(f)) continue;
    _Float16 h = static_cast<_Float16>(f);
    uint16_t expected;
    std::memcpy(&expected, &h, 2);
    ASSERT_EQ(f32_to_f16(f), expected) << "input bits " << std::hex << bits(f);
  }
}
#endif

TEST(HalfFloat, BF16RoundsToNearestEven) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(f32_to_bf16(1.0f + 0x1p-8f), 0x3f80);      // tie: even
  EXPECT_EQ(f32_to_bf16(1.0f + 3 * 0x1p-8f), 0x3f82);  // tie: even (up)
  EXPECT_EQ(f32_to_bf16(1.0f + 0x1p-8f + 0x1p-20f), 0x3f81);
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::max()), 0x7f80);  // rounds past the largest bf16: Inf
  EXPECT_EQ(f32_to_bf16(-std::numeric_limits<float>::infinity()), 0xff80);
  EXPECT_EQ(f32_to_bf16(from_bits(0x00018000u)), 0x0002);  // subnormal tie, odd -> even
  EXPECT_EQ(f32_to_bf16(from_bits(0x00008000u)), 0x0000);  // subnormal tie, even stays
  uint16_t nan = f32_to_bf16(from_bits(0x7f800001u));      // NaN whose payload is all in the low bits
  EXPECT_TRUE(std::isnan(bf16_to_f32(nan)));
  EXPECT_EQ(bf16_to_f32(0x3f80), 1.0f);
}

std::string scratch(const std::string& test, const std::string& file) {
  return test::scratch_dir(test) + "/" + file;
}

TEST(SafeTensors, RoundTripF32F16BF16) {
  const std::string path = scratch("st_roundtrip", "a.safetensors");
  std::vector<float> v = {
      1.0f, -2.5f, 0.1f, 65520.0f, 0x1p-25f, 3 * 0x1p-25f, 1.0f + 0x1p-11f, std::numeric_limits<float>::infinity()};
  SafeTensorsWriter w;
  w.add_f32("w.f32", {2, 4}, v.data());
  w.add_f32("w.f16", {8}, v.data(), DType::kF16);
  w.add_f32("w.bf16", {4, 2}, v.data(), DType::kBF16);
  w.add_f32("w.f64", {8}, v.data(), DType::kF64);
  w.write(path);

  SafeTensorsFile f(path);
  ASSERT_EQ(f.tensors().size(), 4u);
  const TensorInfo* t32 = f.find("w.f32");
  ASSERT_NE(t32, nullptr);
  EXPECT_EQ(t32->shape, (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(std::memcmp(f.f32_data(*t32), v.data(), 32), 0);  // zero-copy, bit-exact
  std::vector<float> out(8);
  f.to_f32(*f.find("w.f16"), out.data());
  std::vector<float> want16 = {1.0f, -2.5f, f16_to_f32(f32_to_f16(0.1f)), INFINITY, 0.0f, 0x1p-23f, 1.0f, INFINITY};
  for (int i = 0; i < 8; ++i) EXPECT_EQ(out[i], want16[i]) << i;
  EXPECT_EQ(out[2], 0.0999755859375f);  // 0x2e66
  f.to_f32(*f.find("w.bf16"), out.data());
  EXPECT_EQ(out[2], 0.10009765625f);  // 0x3dcd
  EXPECT_EQ(out[3], 65536.0f);
  EXPECT_EQ(out[6], 1.0f);
  f.to_f32(*f.find("w.f64"), out.data());
  for (int i = 0; i < 8; ++i) EXPECT_EQ(out[i], v[i]);
  EXPECT_EQ(f.find("missing"), nullptr);
  EXPECT_THROW(f.f32_data(*f.find("w.f16")), Error);
}

// Borrowed tensors (no copy, converted in chunks at write()) give the same file bytes as copied ones, also
// past one conversion chunk (2^18 elements) and mixed with owned tensors.
TEST(SafeTensors, BorrowedTensorsWriteTheSameBytesAsCopiedOnes) {
  std::vector<float> big((size_t{1} << 18) + 77);
  for (size_t i = 0; i < big.size(); ++i) big[i] = std::sin(float(i)) * 1e3f;
  float one = 3.0f;
  auto fill = [&](SafeTensorsWriter& w, bool borrowed) {
    auto add = [&](const std::string& n, const std::vector<int64_t>& shape, const float* src, DType d) {
      borrowed ? w.add_f32_borrowed(n, shape, src, d) : w.add_f32(n, shape, src, d);
    };
    add("big.f32", {int64_t(big.size())}, big.data(), DType::kF32);
    add("big.bf16", {int64_t(big.size())}, big.data(), DType::kBF16);
    add("big.f16", {int64_t(big.size())}, big.data(), DType::kF16);
    add("one.f64", {}, &one, DType::kF64);
    add("empty", {0, 3}, nullptr, DType::kF32);
    w.add_raw("raw", DType::kF32, {1}, &one, 4);
  };
  SafeTensorsWriter copied, borrowed;
  fill(copied, false);
  fill(borrowed, true);
  const std::string a = scratch("st_borrowed", "copied.safetensors"),
                    b = scratch("st_borrowed", "borrowed.safetensors");
  copied.write(a);
  borrowed.write(b);
  EXPECT_TRUE(read_file(a) == read_file(b));
  SafeTensorsFile f(b);
  std::vector<float> out(big.size());
  f.to_f32(*f.find("big.bf16"), out.data());
  EXPECT_EQ(out.back(), bf16_to_f32(f32_to_bf16(big.back())));
  EXPECT_THROW(borrowed.add_f32_borrowed("i32", {1}, &one, DType::kI32), Error);
  EXPECT_THROW(borrowed.add_f32_borrowed("raw", {1}, &one), Error);  // duplicate name
}

TEST(SafeTensors, MetadataAndZeroSizeTensorsRoundTrip) {
  const std::string path = scratch("st_meta", "m.safetensors");
  SafeTensorsWriter w;
  w.set_metadata("format", "pt");
  w.set_metadata("note", "quote \" and \xc3\xa9 and \\n");
  float one = 7.0f;
  w.add_f32("empty", {0, 5}, nullptr);
  w.add_f32("scalar", {}, &one);
  w.write(path);
  SafeTensorsFile f(path);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.metadata().at("note"), "quote \" and \xc3\xa9 and \\n");
  EXPECT_EQ(f.find("empty")->numel(), 0);
  EXPECT_EQ(f.find("empty")->nbytes, 0u);
  EXPECT_EQ(f.find("scalar")->numel(), 1);
  EXPECT_EQ(*f.f32_data(*f.find("scalar")), 7.0f);
}

TEST(SafeTensors, ModelSizedTableRoundTripsAligned) {
  const std::string path = scratch("st_model", "model.safetensors");
  SafeTensorsWriter w;
  const DType kinds[] = {DType::kF32, DType::kF16, DType::kBF16, DType::kF64, DType::kF32};
  std::vector<std::vector<float>> values;
  Rng rng(11);
  for (int i = 0; i < 150; ++i) {
    std::vector<int64_t> shape = {1 + i % 7, 3 + i % 5};
    std::vector<float> v(static_cast<size_t>(shape[0] * shape[1]));
    for (float& x : v) x = static_cast<float>(rng.normal());
    w.add_f32("h." + std::to_string(i), shape, v.data(), kinds[i % 5]);
    values.push_back(std::move(v));
  }
  uint8_t bytes[3] = {1, 2, 3};
  w.add_raw("mask", DType::kU8, {3}, bytes, 3);
  w.write(path);

  SafeTensorsFile f(path);
  ASSERT_EQ(f.tensors().size(), 151u);
  MappedFile raw(path);
  uint64_t header_len;
  std::memcpy(&header_len, raw.data(), 8);
  EXPECT_EQ((8 + header_len) % 64, 0u);  // the data section starts on a cache line
  for (int i = 0; i < 150; ++i) {
    const TensorInfo* t = f.find("h." + std::to_string(i));
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->dtype, kinds[i % 5]);
    EXPECT_EQ(t->offset % dtype_size(t->dtype), 0u) << t->name;  // natural alignment
    std::vector<float> out(static_cast<size_t>(t->numel()));
    f.to_f32(*t, out.data());
    for (size_t k = 0; k < out.size(); ++k) {
      float x = values[i][k];
      float want = t->dtype == DType::kF16    ? f16_to_f32(f32_to_f16(x))
                   : t->dtype == DType::kBF16 ? bf16_to_f32(f32_to_bf16(x))
                                              : x;
      ASSERT_EQ(out[k], want) << t->name << "[" << k << "]";
    }
  }
  EXPECT_EQ(std::memcmp(f.data(*f.find("mask")), bytes, 3), 0);
}

TEST(SafeTensors, WriterRejectsBadTensors) {
  SafeTensorsWriter w;
  float x[4] = {};
  w.add_f32("a", {4}, x);
  EXPECT_THROW(w.add_f32("a", {4}, x), Error);
  EXPECT_THROW(w.add_f32("", {4}, x), Error);
  EXPECT_THROW(w.add_f32("__metadata__", {4}, x), Error);
  EXPECT_THROW(w.add_f32("neg", {-1}, x), Error);
  EXPECT_THROW(w.add_f32("i32", {4}, x, DType::kI32), Error);
  EXPECT_THROW(w.add_raw("short", DType::kF32, {4}, x, 12), Error);
  EXPECT_THROW(w.add_raw("deep", DType::kF32, {1, 1, 1, 1, 1, 1, 1, 1, 1}, x, 4), Error);
}

// A Python with numpy (Debian's python3-numpy lives in /usr/bin/python3; a pyenv python3 may lack it), or "".
std::string python_with_numpy() {
  std::string out, err;
  for (const char* py : {"/usr/bin/python3", "python3"})
    if (test::run_command(std::string(py) + " -c 'import numpy'", &out, &err) == 0) return py;
  return "";
}

TEST(SafeTensors, PythonReadsWriterOutput) {
  const std::string python = python_with_numpy();
  GAINCELL_REQUIRE(!python.empty(), "python3 with numpy");
  std::string out, err;
  const std::string dir = test::scratch_dir("st_python");
  const std::string path = dir + "/p.safetensors", script = dir + "/read.py";
  std::vector<float> v = {1.5f, -2.0f, 0.25f, 3.0f, 5.0f, 6.0f};
  SafeTensorsWriter w;
  w.set_metadata("k", "v");
  w.add_f32("x", {2, 3}, v.data());
  w.add_f32("y", {3}, v.data(), DType::kF16);
  w.write(path);
  // A manual reader (json + struct + numpy), as tools/ scripts do; the safetensors package is not required.
  std::string py =
      "import json,struct,sys,numpy as np\n"
      "b=open(sys.argv[1],'rb').read(); n=struct.unpack('<Q',b[:8])[0]; h=json.loads(b[8:8+n]); d=b[8+n:]\n"
      "assert (8+n)%8==0 and h['__metadata__']=={'k':'v'}\n"
      "def get(k,t): s,e=h[k]['data_offsets']; return np.frombuffer(d[s:e],t).reshape(h[k]['shape'])\n"
      "print(get('x','<f4').sum(), get('y','<f2').astype('f4').tolist())\n";
  write_file_atomic(script, py);
  ASSERT_EQ(test::run_command(python + " '" + script + "' '" + path + "'", &out, &err), 0) << err;
  EXPECT_EQ(out, "13.75 [1.5, -2.0, 0.25]\n");
}

// ---- Hostile files -------------------------------------------------------------------------------------

std::string u64(uint64_t v) {
  return std::string(reinterpret_cast<const char*>(&v), 8);
}
std::string st(const std::string& header, size_t data_bytes) {
  return u64(header.size()) + header + std::string(data_bytes, '\0');
}

struct HostileCase {
  const char* name;
  std::string bytes;
  const char* fragment;
};

std::vector<HostileCase> hostile_cases() {
  const std::string f32_4 = R"("dtype":"F32","shape":[1],"data_offsets":)";
  return {
      {"empty", "", "at least 8 bytes"},
      {"short", "abc", "at least 8 bytes"},
      {"header_past_end", u64(100) + "{}", "header length at most 2 (file size 10)"},
      {"header_huge", u64(uint64_t{1} << 63) + "{}", "header length at most 100000000"},
      {"not_json", st("{abc", 0), "valid JSON"},
      {"json_array", st("[]", 0), "header to be a JSON object"},
      {"entry_not_object", st(R"({"a":5})", 0), "an object {dtype, shape, data_offsets}"},
      {"missing_dtype", st(R"({"a":{"shape":[1],"data_offsets":[0,4]}})", 4), "key 'dtype'"},
      {"missing_shape", st(R"({"a":{"dtype":"F32","data_offsets":[0,4]}})", 4), "key 'shape'"},
      {"missing_offsets", st(R"({"a":{"dtype":"F32","shape":[1]}})", 4), "key 'data_offsets'"},
      {"unknown_dtype", st(R"({"a":{"dtype":"F17","shape":[1],"data_offsets":[0,4]}})", 4), "dtype one of F32/"},
      {"dtype_not_string", st(R"({"a":{"dtype":4,"shape":[1],"data_offsets":[0,4]}})", 4), "dtype one of"},
      {"negative_dim", st(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4), "non-negative dims"},
      {"float_dim", st(R"({"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,4]}})", 4), "integer dims"},
      {"string_dim", st(R"({"a":{"dtype":"F32","shape":["2"],"data_offsets":[0,4]}})", 4), "integer dims"},
      {"shape_not_array", st(R"({"a":{"dtype":"F32","shape":4,"data_offsets":[0,4]}})", 4), "'shape' to be an array"},
      {"shape_overflow", st(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,0]}})", 0),
       "overflowing shape"},
      {"bytes_overflow", st(R"({"a":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,0]}})", 0),
       "overflowing shape"},
      {"too_many_dims", st(R"({"a":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,4]}})", 4),
       "rank at most 8"},
      {"offsets_one_value", st("{\"a\":{" + f32_4 + "[4]}}", 4), "'data_offsets' as [begin, end]"},
      {"offsets_negative", st("{\"a\":{" + f32_4 + "[-4,0]}}", 4), "'data_offsets' as [begin, end]"},
      {"offsets_reversed", st("{\"a\":{" + f32_4 + "[4,0]}}", 4), "begin <= end"},
      {"offsets_past_end", st("{\"a\":{" + f32_4 + "[4,8]}}", 4), "data section size 4, got 8"},
      {"size_mismatch", st(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
       "expected 12 bytes (F32 shape [3]), got 8 bytes"},
      {"overlap",
       st("{\"a\":{" + f32_4 + "[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[2,10]}}", 10),
       "overlapping"},
      {"gap", st("{\"a\":{" + f32_4 + "[0,4]},\"b\":{" + f32_4 + "[8,12]}}", 12), "without a gap"},
      {"leading_gap", st("{\"a\":{" + f32_4 + "[4,8]}}", 8), "without a gap"},
      {"trailing_bytes", st("{\"a\":{" + f32_4 + "[0,4]}}", 8), "4 trailing bytes"},
      {"duplicate_name", st("{\"a\":{" + f32_4 + "[0,4]},\"a\":{" + f32_4 + "[4,8]}}", 8), "duplicate key 'a'"},
      {"duplicate_field", st(R"({"a":{"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]}})", 4),
       "duplicate key 'dtype'"},
      {"metadata_not_string", st(R"({"__metadata__":{"k":1}})", 0), "string value for key 'k'"},
      {"metadata_not_object", st(R"({"__metadata__":"x"})", 0), "for tensor '__metadata__'"},
      {"empty_name", st("{\"\":{" + f32_4 + "[0,4]}}", 4), "non-empty tensor names"},
      {"newline_in_name", st("{\"a\\nb\":{" + f32_4 + "[0,8]}}", 8), "for tensor 'a\\x0ab'"},
      {"too_deep", st(R"({"a":{"dtype":"F32","shape":[[1]],"data_offsets":[0,4]}})", 4), "nested at most 3"},
  };
}

TEST(SafeTensorsHostile, EachBrokenFileFailsWithAClearError) {
  const std::string dir = test::scratch_dir("st_hostile");
  auto cases = hostile_cases();
  ASSERT_GE(cases.size(), 20u);
  for (const HostileCase& c : cases) {
    const std::string path = dir + "/" + c.name + ".safetensors";
    write_file_atomic(path, c.bytes);
    try {
      SafeTensorsFile f(path);
      ADD_FAILURE() << c.name << ": no error";
    } catch (const Error& e) {
      std::string what = e.what();
      EXPECT_EQ(e.component(), "safetensors") << c.name << ": " << what;
      EXPECT_NE(what.find(c.fragment), std::string::npos) << c.name << ": " << what;
      EXPECT_NE(what.find(path), std::string::npos) << c.name << " does not name the file: " << what;
      EXPECT_EQ(what.find('\n'), std::string::npos) << c.name << ": message is not one line";
    }
  }
}

TEST(SafeTensorsHostile, MessageNamesTheTensor) {
  const std::string path = scratch("st_hostile_name", "x.safetensors");
  write_file_atomic(path, st(R"({"ok":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                             R"("blocks.3.w":{"dtype":"F32","shape":[3],"data_offsets":[4,12]}})",
                             12));
  try {
    SafeTensorsFile f(path);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("for tensor 'blocks.3.w'"), std::string::npos) << e.what();
  }
}

// Every truncation and random byte corruption of a valid file either loads consistently or throws Error;
// nothing else escapes (no std::exception from nlohmann, no crash under ASan/UBSan).
TEST(SafeTensorsHostile, TruncatedAndCorruptedFilesNeverEscapeAsOtherErrors) {
  const std::string dir = test::scratch_dir("st_mutate");
  float v[6] = {1, 2, 3, 4, 5, 6};
  SafeTensorsWriter w;
  w.set_metadata("m", "x");
  w.add_f32("a", {2, 3}, v);
  w.add_f32("b", {3}, v, DType::kF16);
  w.write(dir + "/ok.safetensors");
  const std::string good = read_file(dir + "/ok.safetensors");
  auto check = [&](const std::string& bytes, const std::string& what) {
    std::ofstream(dir + "/m.safetensors", std::ios::binary | std::ios::trunc) << bytes;  // no fsync: fast
    try {
      SafeTensorsFile f(dir + "/m.safetensors");
      uint64_t total = 0;
      for (const TensorInfo& t : f.tensors()) total += t.nbytes;
      uint64_t header_len;
      std::memcpy(&header_len, bytes.data(), 8);
      EXPECT_EQ(total + 8 + header_len, bytes.size()) << what;
    } catch (const Error&) {
    } catch (const std::exception& e) {
      ADD_FAILURE() << what << ": non-gaincell exception " << e.what();
    }
  };
  for (size_t n = 0; n < good.size(); ++n) check(good.substr(0, n), "truncated to " + std::to_string(n));
  Rng rng(5);
  for (int i = 0; i < 400; ++i) {
    std::string bad = good;
    size_t at = rng.next_u64() % bad.size();
    bad[at] = static_cast<char>(rng.next_u64());
    check(bad, "byte " + std::to_string(at) + " changed");
  }
}

TEST(SafeTensorsHostile, ToF32RejectsIntegerTensors) {
  const std::string path = scratch("st_int", "i.safetensors");
  int32_t v[2] = {1, 2};
  SafeTensorsWriter w;
  w.add_raw("ids", DType::kI32, {2}, v, 8);
  w.write(path);
  SafeTensorsFile f(path);
  float out[2];
  EXPECT_THROW(f.to_f32(*f.find("ids"), out), Error);
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
