// Replays every file of tests/fuzz/corpus/<target>/ and tests/fuzz/regressions/<target>/ through the same
// parser entry as the libFuzzer target (tests/fuzz/fuzz_entries.h): each must parse or be rejected with a
// gaincell::Error; any other exception, or a failed internal assertion, is a regression. Under `make test-asan`
// this also checks that no input reads or writes out of bounds.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/error.h"
#include "fuzz/fuzz_entries.h"
#include "test_paths.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {

namespace fs = std::filesystem;

fs::path fuzz_dir(const std::string& kind) {
  return fs::path(test::data_path("")).parent_path().parent_path() / "fuzz" / kind;
}

std::vector<fs::path> files_under(const fs::path& dir) {
  std::vector<fs::path> out;
  if (!fs::is_directory(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file()) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Runs one input; returns "" when it parsed or was cleanly rejected, else what went wrong.
std::string replay(const fuzz::FuzzTarget& t, const std::string& bytes, bool* accepted) {
  *accepted = false;
  try {
    t.entry(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    *accepted = true;
    return "";
  } catch (const Error& e) {
    return e.component() == "internal" ? std::string("internal assertion: ") + e.what() : "";
  } catch (const std::exception& e) {
    return std::string("non-gaincell exception: ") + e.what();
  }
}

TEST(FuzzRegression, EveryCorpusFolderNamesATarget) {
  for (const char* kind : {"corpus", "regressions"}) {
    if (!fs::is_directory(fuzz_dir(kind))) continue;
    for (const auto& e : fs::directory_iterator(fuzz_dir(kind)))
      EXPECT_NE(fuzz::find_fuzz_target(e.path().filename().string()), nullptr) << e.path();
  }
}

TEST(FuzzRegression, EveryTargetHasValidAndInvalidSeeds) {
  for (const fuzz::FuzzTarget& t : fuzz::fuzz_targets()) {
    int accepted_count = 0, rejected_count = 0;
    for (const fs::path& p : files_under(fuzz_dir("corpus") / t.name)) {
      bool accepted = false;
      EXPECT_EQ(replay(t, read_bytes(p), &accepted), "") << p;
      // Seeds are named for what the parser must do with them: valid_* parse, bad_* are rejected.
      EXPECT_EQ(accepted, p.filename().string().rfind("valid", 0) == 0) << p;
      ++(accepted ? accepted_count : rejected_count);
    }
    EXPECT_GE(accepted_count, 1) << "no valid seed for " << t.name;
    EXPECT_GE(rejected_count, 1) << "no invalid seed for " << t.name;
  }
}

TEST(FuzzRegression, RegressionInputsParseOrFailCleanly) {
  for (const fuzz::FuzzTarget& t : fuzz::fuzz_targets())
    for (const fs::path& p : files_under(fuzz_dir("regressions") / t.name)) {
      bool accepted = false;
      EXPECT_EQ(replay(t, read_bytes(p), &accepted), "") << p;
    }
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
