// tests/test_paths.h: a test whose input is missing skips on a developer machine and fails under CI (CI=true),
// checked on a real test (Npy.ReadsAuthorsGoldenArray, which reads ../shared) run in a child process with
// ../shared pointed at a folder that does not exist.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "test_paths.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {

test::Result run_child(const std::string& env) {
  test::Result r;
  r.rc = test::run_command("env -u CI " + env + " GAINCELL_SHARED_DIR=/nonexistent/gaincell-shared /proc/" +
                               std::to_string(::getpid()) + "/exe --gtest_filter=Npy.ReadsAuthorsGoldenArray",
                           &r.out, &r.err);
  return r;
}

TEST(TestInputs, MissingSharedInputFailsUnderCiAndSkipsElsewhere) {
  test::Result ci = run_child("CI=true");
  EXPECT_NE(ci.rc, 0) << ci.out;
  EXPECT_NE(ci.out.find("missing test input (CI=true: must be present): /nonexistent/gaincell-shared/data/"),
            std::string::npos)
      << ci.out;
  EXPECT_NE(ci.out.find("[  FAILED  ] Npy.ReadsAuthorsGoldenArray"), std::string::npos) << ci.out;

  test::Result dev = run_child("");
  EXPECT_EQ(dev.rc, 0) << dev.out;
  EXPECT_NE(dev.out.find("[  SKIPPED ] Npy.ReadsAuthorsGoldenArray"), std::string::npos) << dev.out;
  EXPECT_NE(dev.out.find("fails under CI=true"), std::string::npos) << dev.out;
}

TEST(TestInputs, CiIsReadFromTheEnvironment) {
  const char* was = std::getenv("CI");
  const std::string saved = was ? was : "";
  for (const char* v : {"true", "1"}) {
    ::setenv("CI", v, 1);
    EXPECT_TRUE(test::in_ci()) << v;
  }
  for (const char* v : {"false", "0", ""}) {
    ::setenv("CI", v, 1);
    EXPECT_FALSE(test::in_ci()) << v;
  }
  ::unsetenv("CI");
  EXPECT_FALSE(test::in_ci());
  if (was) ::setenv("CI", saved.c_str(), 1);
  EXPECT_FALSE(test::file_present("/nonexistent/file"));
  EXPECT_TRUE(test::file_present(test::data_path("eval/text.txt")));
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
