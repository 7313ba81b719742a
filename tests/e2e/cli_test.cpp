// The gaincell CLI end to end on a tiny random model: outputs, determinism, and one-line errors with the
// documented exit codes (2 usage, 1 bad input) and no partial output files.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/file.h"
#include "expect_close.h"
#include "io/npy.h"
#include "test_paths.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {
namespace fs = std::filesystem;

using test::count_lines;
using test::gc;
using test::Result;

class Cli : public ::testing::Test {
 protected:
  // ctest runs each test in its own process, in parallel: the model folder is made once (in a temporary
  // folder renamed into place, so a concurrent reader never sees it half-written) and every process writes
  // its own outputs in a folder of its own.
  static void SetUpTestSuite() {
    dir_ = new std::string(test::scratch_dir("cli_" + std::to_string(::getpid())));
    model_ = new std::string(fs::path(*dir_).parent_path() / "cli_model_tiny_seed7");
    if (fs::exists(*model_ + "/config.json")) return;
    std::string tmp = *dir_ + "/model_tmp";
    Result r = gc("init --preset tiny --seed 7 --out " + tmp);
    ASSERT_EQ(r.rc, 0) << r.err;
    std::error_code ec;
    fs::rename(tmp, *model_, ec);  // loses the race harmlessly when another process got there first
  }
  static std::string model() { return *model_; }
  static std::string path(const std::string& f) { return *dir_ + "/" + f; }
  static std::string* dir_;
  static std::string* model_;
};
std::string* Cli::dir_ = nullptr;
std::string* Cli::model_ = nullptr;

TEST_F(Cli, InitWritesALoadableFolderWithTokenizer) {
  for (const char* f : {"config.json", "model.safetensors", "encoder.json", "vocab.bpe"})
    EXPECT_TRUE(fs::exists(model() + "/" + f)) << f;
  Result r = gc("info --model " + model());
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("parameters:  6960768"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("head_dim:    64"), std::string::npos);
}

// Without a user choice the CLI restarts itself with a bounded spin (a core free per thread) or passive OpenMP
// waiting (a busy machine); a user's choice of either variable is kept.
TEST_F(Cli, ChoosesBoundedSpinOrPassiveWaitingUnlessTheUserChose) {
  std::string out, err;
  const std::string info = test::binary_path() + " info --model " + model();
  ASSERT_EQ(test::run_command("env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT " + info, &out, &err), 0) << err;
  const bool spin = out.find("omp wait:    spin 10000 then sleep (GOMP_SPINCOUNT)\n") != std::string::npos;
  const bool passive = out.find("omp wait:    passive\n") != std::string::npos;
  EXPECT_TRUE(spin != passive) << out;
  // One busy process per core beside it: every core is taken, so the workers wait passively.
  const std::string busy =
      "pids=; for i in $(seq $(nproc)); do (while :; do :; done) & pids=\"$pids $!\"; done; "
      "sleep 0.3; env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT " +
      info + "; rc=$?; kill $pids; exit $rc";
  ASSERT_EQ(test::run_command("bash -c '" + busy + "'", &out, &err), 0) << err;
  EXPECT_NE(out.find("omp wait:    passive\n"), std::string::npos) << out;
  ASSERT_EQ(test::run_command("env -u GOMP_SPINCOUNT OMP_WAIT_POLICY=active " + info, &out, &err), 0) << err;
  EXPECT_NE(out.find("omp wait:    active\n"), std::string::npos) << out;
  ASSERT_EQ(test::run_command("env -u OMP_WAIT_POLICY GOMP_SPINCOUNT=77 " + info, &out, &err), 0) << err;
  EXPECT_NE(out.find("omp wait:    spin 77 then sleep (GOMP_SPINCOUNT)\n"), std::string::npos) << out;
}

TEST_F(Cli, TokenizePrintsGpt2Ids) {
  Result r = gc("tokenize --model " + model() + " --prompt 'Hello world'");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "[15496,995]\n");
}

TEST_F(Cli, GenerateIsDeterministicAcrossRunsAndThreads) {
  std::string args = "generate --model " + model() + " --prompt 'To be' -n 12 --seed 3 --temperature 0.8 --top-k 40";
  Result a = gc(args + " --threads 1"), b = gc(args + " --threads 2");
  ASSERT_EQ(a.rc, 0) << a.err;
  ASSERT_EQ(b.rc, 0) << b.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_EQ(a.out.rfind("To be", 0), 0u);  // the prompt is echoed first
  EXPECT_GT(a.out.size(), 6u);
  Result c = gc("generate --model " + model() + " --prompt 'To be' -n 12 --seed 4 --temperature 0.8 --top-k 40");
  EXPECT_NE(a.out, c.out);
}

TEST_F(Cli, LogitsAreCausalAndShaped) {
  Result r3 = gc("logits --model " + model() + " --tokens 464,3290,318 --out " + path("l3.npy"));
  Result r2 = gc("logits --model " + model() + " --tokens '464, 3290' --out " + path("l2.npy"));
  ASSERT_EQ(r3.rc, 0) << r3.err;
  ASSERT_EQ(r2.rc, 0) << r2.err;
  NpyArray a = read_npy(path("l3.npy")), b = read_npy(path("l2.npy"));
  ASSERT_EQ(a.shape, (std::vector<int64_t>{3, 50257}));
  ASSERT_EQ(b.shape, (std::vector<int64_t>{2, 50257}));
  // a later token never changes earlier logits
  EXPECT_TRUE(test::all_within(a.data.data(), b.data.data(), b.numel(), 1e-5));
}

TEST_F(Cli, PerplexityScoresEveryTokenOnceAtAnyStride) {
  std::string text;
  for (int i = 0; i < 30; ++i) text += "The quick brown fox jumps over the lazy dog. ";
  write_file_atomic(path("text.txt"), text);
  auto run = [&](const std::string& extra) {
    Result r = gc("perplexity --model " + model() + " --text " + path("text.txt") + " --json " + extra);
    EXPECT_EQ(r.rc, 0) << r.err;
    return nlohmann::json::parse(r.out);
  };
  auto whole = run("--context 1024");
  auto strided = run("--context 64 --stride 16");
  auto disjoint = run("--context 64 --stride 64");
  const int64_t n = whole["tokens"];
  EXPECT_EQ(n, 301);
  for (auto* j : {&whole, &strided, &disjoint}) EXPECT_EQ((*j)["scored_tokens"], n - 1);
  const double ppl = whole["perplexity"], nll = whole["mean_nll"];
  EXPECT_NEAR(std::log(ppl), nll, 1e-9);
  EXPECT_NEAR(double(whole["bits_per_byte"]), nll * (n - 1) / std::log(2.0) / text.size(), 1e-9);
  // A random model is near chance (ln 50257 = 10.82); less context must not make it better by much.
  EXPECT_GT(nll, 9.5);
  EXPECT_LT(nll, 12.0);
  EXPECT_NE(double(strided["mean_nll"]), double(disjoint["mean_nll"]));
}

struct BadCall {
  std::string args;
  int rc;
  std::string fragment;
};

TEST_F(Cli, BadInputGivesOneErrorLineAndNoOutputFile) {
  std::string longp(1100 * 2, ' ');
  for (size_t i = 0; i < longp.size(); i += 2) longp[i] = 'a';
  write_file_atomic(path("long.txt"), longp);
  const std::string m = " --model " + model();
  const std::string out = path("never.npy");
  const BadCall calls[] = {
      {"", 2, "subcommand"},
      {"frobnicate", 2, "got 'frobnicate'"},
      {"generate --prompt hi", 2, "--model"},
      {"generate" + m + " --prompt hi --nope", 2, "--nope"},
      {"generate" + m + " --prompt hi --threads abc", 2, "threads"},
      {"generate" + m + " --prompt hi --top-p 1.5", 1, "top-p"},
      {"generate" + m + " --prompt hi -n 1024", 1, "n_positions = 1024"},
      {"generate --model /nonexistent --prompt hi", 1, "not a directory"},
      {"generate" + m + " --prompt hi --attention quantum", 1, "expected one of softmax|sliding"},
      {"logits" + m + " --tokens 1,50257 --out " + out, 1, "token ids in [0, 50257)"},
      {"logits" + m + " --tokens 1,x --out " + out, 1, "'x'"},
      {"logits" + m + " --prompt \"$(cat " + path("long.txt") + ")\" --out " + out, 1, "n_positions = 1024"},
      {"logits" + m + " --out " + out, 1, "--prompt TEXT or --tokens IDS"},
      {"perplexity" + m + " --text /nonexistent.txt", 1, "/nonexistent.txt"},
      {"perplexity" + m + " --text " + path("long.txt") + " --context 2000", 1, "n_positions = 1024"},
      {"perplexity" + m + " --text " + path("long.txt") + " --context 16 --stride 32", 1, "--stride"},
      {"init --preset huge --out " + path("x"), 2, "huge"},
      {"info --model " + path("long.txt"), 1, "not a directory"},
  };
  for (const auto& c : calls) {
    Result r = gc(c.args);
    EXPECT_EQ(r.rc, c.rc) << c.args << "\n" << r.err;
    EXPECT_EQ(count_lines(r.err), 1) << c.args << "\n" << r.err;
    EXPECT_NE(r.err.find(c.fragment), std::string::npos) << c.args << "\n" << r.err;
    EXPECT_EQ(r.err.rfind("gaincell: error: ", 0), 0u) << r.err;
  }
  EXPECT_FALSE(fs::exists(out));
  for (auto& e : fs::directory_iterator(*dir_))
    EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << "left a temp file: " << e.path();
}

TEST_F(Cli, HelpExitsZero) {
  Result r = gc("generate --help");
  EXPECT_EQ(r.rc, 0);
  EXPECT_NE(r.out.find("--temperature"), std::string::npos);
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
