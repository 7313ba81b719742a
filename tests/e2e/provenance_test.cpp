// Results say what produced them (issue 13, item 6): every --report file and every --json print of every
// command, and reproduce's results.json (reproduce_test.cpp), carry a "provenance" object with the command
// line, the gaincell version and git commit, the CPU, the GEMM kernel, the thread count, the seeds and the
// resolved hardware configuration. Also the build-time version header script outside a git checkout.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "core/file.h"
#include "test_paths.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {

using Json = nlohmann::json;
using test::gc;
using test::Result;

// What every provenance object must say, whatever the command.
struct Expected {
  std::string version, commit, gemm;
};

Expected expected() {
  Expected e;
  Result v = gc("--version");  // "gaincell 0.1.0 (commit <hex>|unknown)"
  std::smatch m;
  EXPECT_TRUE(std::regex_search(v.out, m, std::regex(R"(gaincell (\S+) \(commit (\S+)\))"))) << v.out;
  if (m.size() == 3) e.version = m[1], e.commit = m[2];
  return e;
}

// Checks a provenance object against the command that wrote it (args as passed to gc, without quotes).
void check(const Json& p, const Expected& e, const std::vector<std::string>& args, const std::string& where) {
  SCOPED_TRACE(where);
  ASSERT_TRUE(p.is_object()) << p.dump();
  EXPECT_EQ(p["gaincell_version"], e.version);
  EXPECT_EQ(p["git_commit"], e.commit);
  EXPECT_TRUE(std::regex_match(p["git_commit"].get<std::string>(), std::regex("[0-9a-f]{40}(-dirty)?|unknown")));
  EXPECT_FALSE(p["cpu"].get<std::string>().empty());
  EXPECT_EQ(p["gemm"], e.gemm);
  EXPECT_GE(p["threads"].get<int>(), 1);
  // argv: the binary, then exactly the arguments given; command_line joins them.
  const auto argv = p["argv"].get<std::vector<std::string>>();
  ASSERT_EQ(argv.size(), args.size() + 1);
  EXPECT_EQ(argv[0], test::binary_path());
  for (size_t i = 0; i < args.size(); ++i) EXPECT_EQ(argv[i + 1], args[i]) << i;
  std::string joined = test::binary_path();
  for (const std::string& a : args) joined += " " + a;
  EXPECT_EQ(p["command_line"], joined);
  EXPECT_TRUE(p["seeds"].contains("chip_seed"));
  EXPECT_TRUE(p["hardware"].is_object());
  EXPECT_EQ(p["hardware"]["array.rows"], 64);
}

std::vector<std::string> split(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> v;
  for (std::string w; in >> w;) v.push_back(w);
  return v;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& w : v) s += (s.empty() ? "" : " ") + w;
  return s;
}

class ProvenanceCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::scratch_dir("provenance_" + std::to_string(::getpid()));
    model_ = test::shared_init_model(
        "provenance_bytes_seed3", "--preset tiny --n-layer 1 --n-embd 32 --n-positions 32 --tokenizer bytes --seed 3");
    std::string text;
    for (int i = 0; i < 40; ++i) text += "Line " + std::to_string(i) + ": the quick brown fox jumps over the dog.\n";
    write_file_atomic(dir_ + "/text.txt", text);
    e_ = expected();
    Result info = gc("info --model " + model_);
    std::smatch m;
    ASSERT_TRUE(std::regex_search(info.out, m, std::regex(R"(gemm:\s+([^\n]+))"))) << info.out;
    e_.gemm = m[1];
  }
  // Runs gaincell with args; returns stdout parsed as JSON when `json_stdout`.
  Json run(const std::vector<std::string>& args, bool json_stdout) {
    Result r = gc(join(args));
    EXPECT_EQ(r.rc, 0) << join(args) << "\n" << r.err;
    return json_stdout ? Json::parse(r.out, nullptr, false) : Json();
  }
  std::string dir_, model_;
  Expected e_;
};

TEST_F(ProvenanceCli, CostJson) {
  const auto args = split("cost --model tiny --window 256 --json");
  const Json j = run(args, true);
  ASSERT_TRUE(j.is_object());
  check(j["provenance"], e_, args, "cost --json");
  EXPECT_EQ(j["provenance"]["hardware"]["array.window_tokens"], 256);  // the resolved configuration
}

TEST_F(ProvenanceCli, PerplexityJsonAndReport) {
  const auto args = split("perplexity --model " + model_ + " --text " + dir_ +
                          "/text.txt --attention gaincell --window 16 --seed 7 --json --report " + dir_ + "/p.json");
  const Json j = run(args, true);
  ASSERT_TRUE(j.is_object());
  const Json report = Json::parse(read_file(dir_ + "/p.json"));
  for (const Json* p : {&j["provenance"], &report["provenance"]}) {
    check(*p, e_, args, p == &j["provenance"] ? "stdout" : "report");
    EXPECT_EQ((*p)["seeds"]["seed"], 7);
    EXPECT_EQ((*p)["hardware"]["array.window_tokens"], 16);
  }
}

TEST_F(ProvenanceCli, EvalJsonAndReportWithRetention) {
  const auto args =
      split("eval --model " + model_ + " --task perplexity --data " + dir_ +
            "/text.txt --attention gaincell --retention-s 1e-6 --seed 5 --json --report " + dir_ + "/e.json");
  const Json j = run(args, true);
  ASSERT_TRUE(j.is_object());
  const Json report = Json::parse(read_file(dir_ + "/e.json"));
  for (const Json* p : {&j["provenance"], &report["provenance"]}) {
    check(*p, e_, args, p == &j["provenance"] ? "stdout" : "report");
    EXPECT_EQ((*p)["seeds"]["seed"], 5);
    EXPECT_EQ((*p)["hardware"]["leakage.retention_tau_s"], 1e-6);
    EXPECT_GT((*p)["hardware"]["leakage.token_period_s"].get<double>(), 0.0);
  }
}

TEST_F(ProvenanceCli, GenerateLogitsAndTrainReports) {
  const auto gen = split("generate --model " + model_ + " --prompt Line -n 4 --attention gaincell --read-snr-db 20 " +
                         "--report " + dir_ + "/g.json");
  run(gen, false);
  const Json g = Json::parse(read_file(dir_ + "/g.json"));
  check(g["provenance"], e_, gen, "generate --report");
  EXPECT_EQ(g["provenance"]["hardware"]["noise.read_snr_s_db"], 20.0);
  EXPECT_EQ(g["provenance"]["seeds"]["seed"], 0);  // the default seed

  const auto logits =
      split("logits --model " + model_ + " --tokens 1,2,3 --out " + dir_ + "/l.npy --report " + dir_ + "/l.json");
  run(logits, false);
  check(Json::parse(read_file(dir_ + "/l.json"))["provenance"], e_, logits, "logits --report");

  run(split("data prepare --model " + model_ + " --text " + dir_ + "/text.txt --out " + dir_ + "/d"), false);
  const auto train = split("train --model " + model_ + " --data " + dir_ + "/d --out " + dir_ +
                           "/t --steps 2 --batch 1 --context 8 --eval-batches 0 --seed 9 --report " + dir_ + "/t.json");
  run(train, false);
  const Json t = Json::parse(read_file(dir_ + "/t.json"));
  check(t["provenance"], e_, train, "train --report");
  EXPECT_EQ(t["provenance"]["seeds"]["seed"], 9);
}

// cmake/version_header.cmake names the commit "unknown" where the source folder is no git checkout of its own
// (a tarball; here a folder inside the build tree, which git would place in the repository above it).
TEST(VersionHeader, UnknownOutsideAGitCheckoutAndWrittenOnlyOnChange) {
  const std::string dir = test::scratch_dir("version_header_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir + "/src");
  const std::string script = test::data_path("../../cmake/version_header.cmake");
  const std::string cmd =
      "cmake -DSRC=" + dir + "/src -DOUT=" + dir + "/v.h -DVERSION=1.2.3 -DGIT=$(command -v git) -P " + script;
  std::string out, err;
  ASSERT_EQ(test::run_command(cmd, &out, &err), 0) << err;
  const std::string h = read_file(dir + "/v.h");
  EXPECT_NE(h.find("#define GAINCELL_VERSION \"1.2.3\""), std::string::npos) << h;
  EXPECT_NE(h.find("#define GAINCELL_GIT_COMMIT \"unknown\""), std::string::npos) << h;
  const auto before = std::filesystem::last_write_time(dir + "/v.h");
  ::sleep(1);
  ASSERT_EQ(test::run_command(cmd, &out, &err), 0) << err;
  EXPECT_EQ(std::filesystem::last_write_time(dir + "/v.h"), before);  // unchanged text: not rewritten
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
