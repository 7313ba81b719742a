#include "test_paths.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace gaincell::test {
namespace fs = std::filesystem;

std::string data_path(const std::string& rel) {
  return std::string(GAINCELL_TEST_DATA_DIR) + "/" + rel;
}
static std::string shared_dir() {
  const char* env = std::getenv("GAINCELL_SHARED_DIR");
  return env && *env ? env : GAINCELL_SHARED_DIR;
}
std::string shared_path(const std::string& rel) {
  return shared_dir() + "/" + rel;
}
std::string binary_path() {
  return GAINCELL_BINARY;
}
bool shared_available() {
  return fs::exists(shared_dir());
}

bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci && (std::string(ci) == "true" || std::string(ci) == "1");
}
bool file_present(const std::string& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

std::string scratch_dir(const std::string& name) {
  fs::path p = fs::path(GAINCELL_BUILD_DIR) / "test-scratch" / name;
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

static std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

int run_command(const std::string& cmd, std::string* out, std::string* err) {
  static int counter = 0;
  fs::path dir = fs::path(GAINCELL_BUILD_DIR) / "test-scratch" / "cmd";
  fs::create_directories(dir);
  std::string tag = std::to_string(::getpid()) + "_" + std::to_string(counter++);
  fs::path o = dir / ("out_" + tag), e = dir / ("err_" + tag);
  std::string full = "(" + cmd + ") >" + o.string() + " 2>" + e.string() + " </dev/null";
  int rc = std::system(full.c_str());
  if (out) *out = slurp(o);
  if (err) *err = slurp(e);
  fs::remove(o);
  fs::remove(e);
  if (rc == -1) return -1;
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);
}

Result gc(const std::string& args) {
  Result r;
  r.rc = run_command(binary_path() + " " + args, &r.out, &r.err);
  return r;
}

int count_lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

std::string shared_init_model(const std::string& name, const std::string& init_args) {
  const std::string own = scratch_dir(name + "_init_" + std::to_string(::getpid()));
  const fs::path model = fs::path(own).parent_path() / name;
  if (fs::exists(model / "config.json")) return model.string();
  const std::string tmp = own + "/model_tmp";
  Result r = gc("init " + init_args + " --out " + tmp);
  EXPECT_EQ(r.rc, 0) << r.err;
  std::error_code ec;
  fs::rename(tmp, model, ec);  // loses the race harmlessly when another process got there first
  return model.string();
}

}  // namespace gaincell::test
