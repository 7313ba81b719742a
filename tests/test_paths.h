// Paths the tests need: repo test data, ../shared, the built CLI and a scratch folder.
#pragma once
#include <string>

namespace gaincell::test {

std::string data_path(const std::string& rel);    // tests/data/<rel>
std::string shared_path(const std::string& rel);  // ../shared/<rel> (env GAINCELL_SHARED_DIR overrides ../shared)
std::string binary_path();                        // the built `gaincell` executable
// A fresh empty directory under the build tree, unique to the calling test.
std::string scratch_dir(const std::string& name);
bool shared_available();

// Under CI (env CI=true or CI=1) a test input that is missing (../shared data, python3 with numpy) fails the test;
// elsewhere the test is skipped with the reason. Use GAINCELL_REQUIRE_FILE / GAINCELL_REQUIRE in a test body or
// in SetUp, never a bare GTEST_SKIP for a missing input.
bool in_ci();
bool file_present(const std::string& path);

// Runs a shell command, returning exit status; stdout/stderr captured into the strings.
int run_command(const std::string& cmd, std::string* out, std::string* err);

// The built CLI run with `args` (a shell-quoted string): exit code, stdout and stderr.
struct Result {
  int rc;
  std::string out, err;
};
Result gc(const std::string& args);
int count_lines(const std::string& s);

// A model folder written once by `gaincell init INIT_ARGS` under the build tree's scratch area and shared by
// the test processes that ctest runs in parallel: it is written into a private folder and renamed into place
// (a process that loses the race uses the winner's copy). Fails the test when init fails.
std::string shared_init_model(const std::string& name, const std::string& init_args);

}  // namespace gaincell::test

#define GAINCELL_REQUIRE(ok, what)                                                                              \
  do {                                                                                                          \
    if (!(ok)) {                                                                                                \
      if (::gaincell::test::in_ci()) GTEST_FAIL() << "missing test input (CI=true: must be present): " << what; \
      GTEST_SKIP() << "missing test input: " << what << " (skipped here; fails under CI=true)";                 \
    }                                                                                                           \
  } while (0)
#define GAINCELL_REQUIRE_FILE(path) GAINCELL_REQUIRE(::gaincell::test::file_present(path), (path))
