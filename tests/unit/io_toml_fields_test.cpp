// The shared field-list TOML reader / writer (io/toml_fields.h) behind the hardware TOML and the cost table
// (issue 17 item 8): every type, every problem of a file in one error, unknown keys, and a write / read round
// trip.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "io/toml_fields.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {

struct Fields {
  bool b = false;
  int i = 1;
  uint64_t u = 2;
  double d = 0.5;
  std::string s = "x";
  std::vector<double> v = {1.0};
};

template <typename C, typename F>
void for_each(C& c, F&& f) {
  f("a.b", c.b, "a bool");
  f("a.i", c.i, "an int");
  f("a.u", c.u, "a uint64");
  f("b.d", c.d, "a double");
  f("b.s", c.s, "a string");
  f("b.sub.v", c.v, "an array");
}

Fields read(const std::string& text) {
  TomlFieldReader r(text, "f.toml", "test");
  Fields f;
  for_each(f, [&](const std::string& path, auto& field, const std::string&) { r.read(path, field); });
  r.finish();
  return f;
}

TEST(IoTomlFields, ReadsEveryTypeAndKeepsDefaults) {
  Fields f = read("[a]\nb = true\ni = -7\n[b]\nd = 3\ns = \"hi\"\n[b.sub]\nv = [1, 2.5]\n");
  EXPECT_TRUE(f.b);
  EXPECT_EQ(f.i, -7);
  EXPECT_EQ(f.u, 2u);   // absent: default
  EXPECT_EQ(f.d, 3.0);  // an integer for a float
  EXPECT_EQ(f.s, "hi");
  EXPECT_EQ(f.v, (std::vector<double>{1.0, 2.5}));
}

TEST(IoTomlFields, AllProblemsOfAFileInOneError) {
  try {
    read("[a]\nb = 1\ni = 3000000000\nu = -1\nzz = 1\n[b]\nd = \"x\"\n");
    FAIL() << "no error";
  } catch (const Error& e) {
    std::string m = e.what();
    for (const char* s : {"key 'a.b': expected a boolean, got an integer", "key 'a.i': expected a 32-bit integer",
                          "key 'a.u': expected a non-negative integer, got -1",
                          "key 'b.d': expected a number, got a string", "unknown key 'a.zz'", "in 'f.toml'"})
      EXPECT_NE(m.find(s), std::string::npos) << s << "\n" << m;
  }
  EXPECT_THROW(read("[a\n"), Error);
}

TEST(IoTomlFields, WriterRoundTrips) {
  Fields f;
  f.b = true, f.i = 42, f.u = 7, f.d = 1e-6, f.s = "ring", f.v = {0.25, -3.0};
  TomlFieldWriter w("# header\n");
  for_each(f, [&](const std::string& path, const auto& field, const std::string& help) { w.field(path, field, help); });
  EXPECT_EQ(w.text().rfind("# header\n\n[a]\nb = true  # a bool\n", 0), 0u) << w.text();
  EXPECT_NE(w.text().find("\n[b.sub]\nv = [0.25, -3.0]  # an array\n"), std::string::npos) << w.text();
  Fields back = read(w.text());
  EXPECT_EQ(back.b, f.b);
  EXPECT_EQ(back.i, f.i);
  EXPECT_EQ(back.u, f.u);
  EXPECT_EQ(back.d, f.d);
  EXPECT_EQ(back.s, f.s);
  EXPECT_EQ(back.v, f.v);
  EXPECT_EQ(toml_double(2.0), "2.0");
  EXPECT_EQ(toml_double(INFINITY), "inf");
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
