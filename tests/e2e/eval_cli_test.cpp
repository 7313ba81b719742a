// `gaincell eval` end to end on a tiny random model: each task on a few items copied into tests/data/eval,
// JSON fields and their internal consistency, agreement with `gaincell perplexity`, and one-line errors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/file.h"
#include "test_paths.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {
namespace fs = std::filesystem;

using test::gc;
using test::Result;

std::string data(const std::string& f) {
  return test::data_path("eval/" + f);
}

class EvalCli : public ::testing::Test {
 protected:
  // As in cli_test.cpp: ctest runs tests in parallel processes, so the model folder is written to a private
  // temporary folder and renamed into place; a process that loses the race uses the winner's copy.
  static void SetUpTestSuite() {
    dir_ = new std::string(test::scratch_dir("eval_cli_" + std::to_string(::getpid())));
    model_ = new std::string(fs::path(*dir_).parent_path() / "eval_model_tiny_seed7");
    if (fs::exists(*model_ + "/config.json")) return;
    std::string tmp = *dir_ + "/model_tmp";
    Result r = gc("init --preset tiny --seed 7 --out " + tmp);
    ASSERT_EQ(r.rc, 0) << r.err;
    std::error_code ec;
    fs::rename(tmp, *model_, ec);
  }
  static nlohmann::json eval(const std::string& args) {
    Result r = gc("eval --model " + *model_ + " --threads 1 --json " + args);
    EXPECT_EQ(r.rc, 0) << args << "\n" << r.err;
    return r.rc == 0 ? nlohmann::json::parse(r.out) : nlohmann::json::object();
  }
  static std::string model() { return *model_; }
  static std::string* dir_;
  static std::string* model_;
};
std::string* EvalCli::dir_ = nullptr;
std::string* EvalCli::model_ = nullptr;

TEST_F(EvalCli, PerplexityTaskMatchesThePerplexityCommand) {
  auto e = eval("--task perplexity --data " + data("text.txt") + " --context 128 --stride 48");
  Result p = gc("perplexity --model " + model() + " --text " + data("text.txt") +
                " --context 128 --stride 48 --json --threads 1");
  ASSERT_EQ(p.rc, 0) << p.err;
  auto pj = nlohmann::json::parse(p.out);
  EXPECT_EQ(e["task"], "perplexity");
  for (const char* k :
       {"context", "stride", "tokens", "scored_tokens", "bytes", "mean_nll", "perplexity", "bits_per_byte"})
    EXPECT_EQ(e[k], pj[k]) << k;
  EXPECT_EQ(e["bytes"], 3000);
  // --limit keeps the first N tokens; bits per byte then counts their bytes.
  auto lim = eval("--task perplexity --data " + data("text.txt") + " --limit 100");
  EXPECT_EQ(lim["tokens"], 100);
  const double nll = lim["mean_nll"];
  const int64_t bytes = lim["bytes"];
  EXPECT_LT(bytes, 3000);
  EXPECT_GT(bytes, 100);
  EXPECT_NEAR(double(lim["bits_per_byte"]), nll * 99 / std::log(2.0) / bytes, 1e-9);
  EXPECT_NEAR(std::log(double(lim["perplexity"])), nll, 1e-9);
  EXPECT_GT(nll, 9.5);  // a random model is near chance, ln 50257 = 10.82
  EXPECT_LT(nll, 12.5);
}

TEST_F(EvalCli, LambadaIsNearZeroForARandomModelAndConsistent) {
  auto j = eval("--task lambada --data " + data("lambada.jsonl") + " --limit 6");
  EXPECT_EQ(j["task"], "lambada");
  EXPECT_EQ(j["attention"], "softmax");
  const int64_t items = j["items"], correct = j["correct"], tokens = j["target_tokens"];
  EXPECT_EQ(items, 6);
  EXPECT_LE(correct, 1);  // greedy exact match over 50257 tokens: a random model almost never hits
  EXPECT_DOUBLE_EQ(double(j["accuracy"]), double(correct) / items);
  EXPECT_GE(tokens, items);
  const double nll = j["mean_nll"];
  EXPECT_NEAR(std::log(double(j["perplexity"])), nll, 1e-9);
  EXPECT_NEAR(std::log(double(j["perplexity_word"])), nll * tokens / items, 1e-9);
  EXPECT_GT(nll, 9.0);
  EXPECT_LT(nll, 13.0);
  EXPECT_EQ(j["truncated"], 0);
}

TEST_F(EvalCli, MultipleChoiceIsNearChanceAndReadsEverySchema) {
  auto arc = eval("--task mc --data " + data("arc_easy.jsonl"));
  EXPECT_EQ(arc["items"], 6);
  EXPECT_EQ(arc["requests"], 24);
  EXPECT_DOUBLE_EQ(double(arc["chance"]), 0.25);
  auto mixed = eval("--task mc --data " + data("mixed.jsonl"));
  EXPECT_EQ(mixed["schemas"]["query/choices"], 2);
  EXPECT_EQ(mixed["schemas"]["context_options/continuation"], 2);
  EXPECT_EQ(mixed["schemas"]["hellaswag"], 2);
  EXPECT_NEAR(double(mixed["chance"]), (0.25 * 4 + 0.5 * 2) / 6, 1e-12);
  int64_t items = 0, correct = 0;
  double chance = 0;
  for (const char* f : {"arc_easy", "piqa", "winogrande", "hellaswag", "copa"}) {
    auto j = eval("--task mc --data " + data(std::string(f) + ".jsonl"));
    const int64_t n = j["items"];
    const double acc = j["acc"], acc_norm = j["acc_norm"];
    EXPECT_DOUBLE_EQ(acc, double(j["correct"]) / n) << f;
    EXPECT_DOUBLE_EQ(acc_norm, double(j["correct_norm"]) / n) << f;
    EXPECT_NEAR(double(j["acc_stderr"]), std::sqrt(acc * (1 - acc) / (n - 1)), 1e-12) << f;
    if (std::string(f) == "winogrande") {
      EXPECT_EQ(acc, acc_norm);  // one shared continuation per item
    }
    items += n;
    correct += int64_t(j["correct"]);
    chance += double(j["chance"]) * n;
  }
  // 24 items at chance ~0.33: a random model stays well inside [0, 0.75].
  EXPECT_EQ(items, 24);
  EXPECT_LE(double(correct) / items, 0.75);
  EXPECT_NEAR(chance / items, (6 * 0.25 + 4 * 0.5 + 4 * 0.5 + 6 * 0.25 + 4 * 0.5) / 24, 1e-12);
}

// The bundled model has a 128-token window and a byte tokenizer: HellaSwag items 4 and 5 (lines 4, 5 of the
// file) have endings longer than 128 bytes. Like lm-eval, each request is cut to the last 129 tokens and what
// remains is scored; the run goes on to the end and counts the cut requests (it used to stop at item 4).
TEST_F(EvalCli, McContinuationLongerThanTheWindowIsTruncatedNotFatal) {
  const std::string bundled = test::data_path("../../models/shakespeare-bytes");
  Result r = gc("eval --model " + bundled + " --threads 1 --json --task mc --data " + data("hellaswag.jsonl"));
  ASSERT_EQ(r.rc, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["items"], 6);
  EXPECT_EQ(j["requests"], 24);
  const int64_t truncated = j["truncated"];
  EXPECT_GE(truncated, 8);  // every choice of items 4 and 5: the ending alone is over 128 bytes
  EXPECT_LE(truncated, 24);
  const double acc = j["acc"], acc_norm = j["acc_norm"];
  EXPECT_TRUE(acc >= 0 && acc <= 1) << acc;
  EXPECT_TRUE(acc_norm >= 0 && acc_norm <= 1) << acc_norm;
  // Only the first three items: fewer requests cut.
  Result three =
      gc("eval --model " + bundled + " --threads 1 --json --task mc --limit 3 --data " + data("hellaswag.jsonl"));
  ASSERT_EQ(three.rc, 0) << three.err;
  EXPECT_LT(int64_t(nlohmann::json::parse(three.out)["truncated"]), truncated);
}

TEST_F(EvalCli, TextOutputAndLimitOnMc) {
  Result r = gc("eval --model " + model() + " --task mc --data " + data("hellaswag.jsonl") + " --limit 2 --threads 1");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("acc_norm:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("items:           2"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("eval mc"), std::string::npos) << r.err;  // the progress summary
}

TEST_F(EvalCli, BadInputGivesOneErrorLine) {
  const std::string bad = *dir_ + "/bad.jsonl";
  write_file_atomic(bad,
                    "{\"query\": \"a\", \"choices\": [\"b\", \"c\"], \"gold\": 0}\n{\"query\": \"a\", "
                    "\"choices\": [\"b\", \"c\"], \"gold\": 5}\n");
  struct Case {
    std::string args;
    int rc;
    std::string fragment;
  };
  const std::string m = " --threads 1 --model " + model();
  const std::vector<Case> cases = {
      {"eval" + m + " --task mc --data " + bad, 1, "bad.jsonl:2"},
      {"eval" + m + " --task lambada --data " + data("arc_easy.jsonl"), 1, "arc_easy.jsonl:1"},
      {"eval" + m + " --task mc --data " + data("lambada.jsonl"), 1, "lambada.jsonl:1"},
      {"eval" + m + " --task mc --data /nonexistent.jsonl", 1, "/nonexistent.jsonl"},
      {"eval" + m + " --task squad --data " + bad, 2, "--task"},
      {"eval" + m + " --task perplexity --data " + data("text.txt") + " --context 2000", 1, "n_positions"},
  };
  for (const Case& c : cases) {
    Result r = gc(c.args);
    EXPECT_EQ(r.rc, c.rc) << c.args << "\n" << r.err;
    EXPECT_NE(r.err.find(c.fragment), std::string::npos) << c.args << "\n" << r.err;
    EXPECT_EQ(r.err.rfind("gaincell: error: ", 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
