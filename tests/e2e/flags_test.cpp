// Every flag of every subcommand acts (issue 17, item 4). For each command the test reads `gaincell CMD --help`;
// every flag listed there must have a row in the table below, so a new flag without a row fails. A row runs the
// command with the flag set (or changed) and checks one of:
//   kChanges:  the outcome differs from a reference run without it (stdout, exit status and every file written
//              under {out}; the reference is the command's base invocation unless the row names another), while
//              the base invocation run twice gives the same outcome (so a difference is the flag's doing);
//   kRequired: omitting the flag is rejected with a line naming it (the base run uses it: its files are read);
//   kSame:     the results are the same bits (--threads: by design, docs/performance.md) and an out-of-range
//              value is rejected;
//   kRejected: the value given is rejected with a one-line error containing `error` (only where the effect cannot
//              be seen in the files of one run; the row says where it is tested);
//   kShown:    the base run, which uses the flag, shows its effect: its outcome contains the row's text (only
//              where the run without the flag takes minutes: reproduce without --quick).
// Timing fields ("seconds", "tokens_per_second") are removed from the files before they are compared, and so is
// the "provenance" object of every JSON file and JSON print (it holds the command line, which differs by design;
// provenance_test.cpp checks it).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/file.h"
#include "test_paths.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {
namespace fs = std::filesystem;

using test::gc;
using test::Result;

enum class Expect { kChanges, kRequired, kSame, kRejected, kShown };

struct Row {
  Row(std::string flag_, std::string args_, Expect expect_ = Expect::kChanges, std::string reference_ = "",
      std::string setup_ = "")
      : flag(std::move(flag_)),
        args(std::move(args_)),
        expect(expect_),
        reference(std::move(reference_)),
        setup(std::move(setup_)) {}
  std::string flag;  // as --help lists it
  std::string args;  // the run with the flag: replaces the base invocation
  Expect expect;
  std::string reference;  // kChanges: the run to compare with (empty: the base); kRejected: the error text;
                          // kShown: the text the base run's outcome contains
  std::string setup;      // run first in the same {out} (e.g. a training run to --resume)
};

struct Command {
  std::string name;  // as typed: "data prepare"
  std::string base;  // arguments after the name; {out} is a fresh folder per run, {F} the fixtures folder
  std::vector<Row> rows;
  std::string files = ".*";  // the files under {out} compared (a regex on the path relative to {out})
};

std::string fixtures() {
  static const std::string dir = test::scratch_dir("flags_fixtures_" + std::to_string(::getpid()));
  return dir;
}

// Where two outcomes first differ, with some context (outcomes hold whole files: never print them whole).
std::string first_difference(const std::string& a, const std::string& b) {
  size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  if (i == a.size() && i == b.size()) return "identical (" + std::to_string(a.size()) + " bytes)";
  const size_t from = i < 60 ? 0 : i - 60;
  return "first difference at byte " + std::to_string(i) + ":\n  " + a.substr(from, 120) + "\nvs\n  " +
         b.substr(from, 120);
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// A JSON object's text without its "provenance" member; any other text as it is.
std::string without_provenance(const std::string& text) {
  if (text.find("\"provenance\"") == std::string::npos) return text;
  auto j = nlohmann::ordered_json::parse(text, nullptr, false);
  if (!j.is_object() || !j.contains("provenance")) return text;
  j.erase("provenance");
  return j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

// Exit status, stdout and the files under `out` whose relative path matches `files` (sorted by path), with
// `out` itself, timing fields and reproduce's thread count masked.
std::string outcome(const Result& r, const std::string& out, const std::regex& files) {
  static const std::regex timing(
      R"re("(seconds|tokens_per_second)"\s*:\s*[-0-9.eE+]+|"timings_s"\s*:\s*\{[^}]*\}|"threads"\s*:\s*[0-9]+)re");
  static const std::regex wall(R"(\([0-9.]+ s\))");  // reproduce's "wrote ... (12 s)"
  std::string s = "rc " + std::to_string(r.rc) + "\n" +
                  std::regex_replace(without_provenance(replace_all(r.out, out, "{out}")), wall, "(_ s)");
  std::vector<fs::path> paths;
  if (fs::exists(out))
    for (const auto& e : fs::recursive_directory_iterator(out))
      if (e.is_regular_file() && std::regex_match(fs::relative(e.path(), out).string(), files))
        paths.push_back(e.path());
  std::sort(paths.begin(), paths.end());
  for (const fs::path& f : paths) {
    std::string content = replace_all(slurp(f), out, "{out}");
    const std::string ext = f.extension().string();
    if (ext == ".json" || ext == ".jsonl")  // std::regex is slow: only the files that hold timings
      content = std::regex_replace(without_provenance(content), timing, "\"$1\":_");
    s += "\n== " + fs::relative(f, out).string() + "\n" + content;
  }
  return s;
}

class Runner {
 public:
  Runner(std::string name, const std::string& files) : name_(std::move(name)), files_(files) {}
  // Runs `gaincell NAME args` (after `setup`, in the same {out}); returns its outcome.
  std::string run(const std::string& args, const std::string& setup = "", Result* result = nullptr) {
    const std::string out = test::scratch_dir("flags_" + std::to_string(::getpid())) + "/" + std::to_string(n_++);
    fs::remove_all(out);
    fs::create_directories(out);
    if (!setup.empty()) gc(name_ + " " + expand(setup, out));
    Result r = gc(name_ + " " + expand(args, out));
    if (result) *result = r;
    return outcome(r, out, files_);
  }
  // {out}: this run's folder; {F}: the fixtures; {M}: the bundled (trained) model, whose outputs move with any
  // change of the attention (a random model's greedy text does not).
  static std::string expand(const std::string& args, const std::string& out) {
    return replace_all(replace_all(replace_all(args, "{out}", out), "{F}", fixtures()), "{M}",
                       test::data_path("../../models/shakespeare-bytes"));
  }

 private:
  std::string name_;
  std::regex files_;
  int n_ = 0;
};

// The flags `gaincell NAME --help` lists (long names; -h,--help excluded).
std::set<std::string> listed_flags(const std::string& name) {
  Result r = gc(name + " --help");
  EXPECT_EQ(r.rc, 0) << r.err;
  std::set<std::string> flags;
  static const std::regex option(R"(^\s{1,8}(?:-\w,)?(--[a-z][a-z0-9-]*))");
  std::istringstream in(r.out);
  std::string line;
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_search(line, m, option) && m[1] != "--help") flags.insert(m[1]);
  }
  return flags;
}

void check_command(const Command& c) {
  SCOPED_TRACE("gaincell " + c.name);
  std::set<std::string> rows;
  for (const Row& row : c.rows) rows.insert(row.flag);
  const std::set<std::string> listed = listed_flags(c.name);
  ASSERT_FALSE(listed.empty());
  for (const std::string& f : listed) EXPECT_TRUE(rows.count(f)) << f << " is listed by --help but has no row";
  for (const std::string& f : rows) EXPECT_TRUE(listed.count(f)) << f << " has a row but --help does not list it";

  Runner runner(c.name, c.files);
  Result base_result;
  const std::string base = runner.run(c.base, "", &base_result);
  ASSERT_EQ(base_result.rc, 0) << c.base << "\n" << base_result.err;
  const std::string again = runner.run(c.base);
  ASSERT_TRUE(again == base) << "the base run is not repeatable: " << c.base << "\n" << first_difference(base, again);
  std::map<std::string, std::string> references;
  for (const Row& row : c.rows) {
    SCOPED_TRACE(row.flag + ": " + row.args);
    Result r;
    const std::string got = runner.run(row.args, row.setup, &r);
    switch (row.expect) {
      case Expect::kChanges: {
        EXPECT_EQ(r.rc, 0) << r.err;
        std::string ref = base;
        if (!row.reference.empty()) {
          const std::string key = row.setup + "|" + row.reference;
          if (!references.count(key)) references[key] = runner.run(row.reference, row.setup);
          ref = references[key];
        }
        EXPECT_TRUE(got != ref) << "the flag changed nothing: " << first_difference(got, ref);
        break;
      }
      case Expect::kRequired: {
        EXPECT_NE(base.find("\n== "), std::string::npos) << "the base run wrote no file";
        EXPECT_NE(r.rc, 0);
        EXPECT_NE(r.err.find(row.flag), std::string::npos) << r.err;
        break;
      }
      case Expect::kSame: {
        EXPECT_EQ(r.rc, 0) << r.err;
        EXPECT_TRUE(got == base) << first_difference(got, base);
        Result bad;
        runner.run(c.base + " " + row.flag + " -1", "", &bad);
        EXPECT_NE(bad.rc, 0);
        EXPECT_NE(bad.err.find(row.flag), std::string::npos) << bad.err;
        break;
      }
      case Expect::kShown: {
        EXPECT_NE(base.find(row.reference), std::string::npos) << "the base run does not show " << row.reference;
        break;
      }
      case Expect::kRejected: {
        EXPECT_NE(r.rc, 0) << r.out;
        EXPECT_NE(r.err.find(row.reference), std::string::npos) << r.err;
        EXPECT_LE(test::count_lines(r.err), 2) << r.err;
        break;
      }
    }
  }
}

// The flags every model command shares (add_model_options), for a base invocation `b` (without --attention,
// --window, --hw, --seed, --retention-s, --report, --threads) whose outputs depend on the model's logits; the
// --model row replaces `model` by `other`.
// precision_seen: the base's outputs show bf16 projections (false for greedy text, which bf16 leaves as it is:
// its row checks the value's validation, and bf16_test.cpp the logits).
std::vector<Row> model_rows(const std::string& b, bool evaluation = true, const std::string& model = "{M} ",
                            const std::string& other = "{F}/m ", bool precision_seen = true) {
  const std::string lin = b + " --attention gaincell-linear",
                    gc_noisy = b + " --attention gaincell --window 16 --hw {F}/noisy.toml";  // short window: fast
  std::vector<Row> rows = {
      {"--model", replace_all(b, model, other)},
      {"--attention", lin},
      {"--window", b + " --attention sliding --window 2", Expect::kChanges, b + " --attention sliding"},
      {"--hw", lin + " --hw {F}/adc4.toml", Expect::kChanges, lin},
      {"--seed", gc_noisy + " --seed 9", Expect::kChanges, gc_noisy},
      {"--retention-s", lin + " --retention-s 1e-7", Expect::kChanges, lin},
      {"--report", b + " --report {out}/report.json"},
      {"--threads", b + " --threads 2", Expect::kSame},
      precision_seen
          ? Row{"--precision", b + " --precision bf16"}
          : Row{"--precision", b + " --precision bf17", Expect::kRejected, "expected f32 or bf16, got 'bf17'"},
  };
  if (evaluation)  // evaluation-only read noise: training commands do not offer it
    rows.push_back({"--read-snr-db", b + " --attention gaincell --window 16 --read-snr-db 10", Expect::kChanges,
                    b + " --attention gaincell --window 16"});
  return rows;
}

std::vector<Row> operator+(std::vector<Row> a, const std::vector<Row>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// The subcommands `gaincell --help` lists, with the nested ones (`data`, `device`) expanded from their own --help.
std::set<std::string> listed_subcommands(const std::string& parent) {
  Result r = gc(parent + " --help");
  EXPECT_EQ(r.rc, 0) << r.err;
  std::set<std::string> names;
  static const std::regex sub(R"(^  ([a-z][a-z0-9-]*)\s{2,}\S)");
  std::istringstream in(r.out.substr(std::min(r.out.size(), r.out.find("Subcommands:"))));
  std::string line;
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_search(line, m, sub)) names.insert(parent.empty() ? std::string(m[1]) : parent + " " + m[1].str());
  }
  return names;
}

// The table below covers every subcommand (a new one without a TEST here fails), and the top-level --version acts.
TEST(FlagsTable, CoversEverySubcommand) {
  std::set<std::string> listed;
  for (const std::string& name : listed_subcommands("")) {
    const std::set<std::string> nested = name == "data" || name == "device" || name == "convert" || name == "sweep"
                                             ? listed_subcommands(name)
                                             : std::set<std::string>{};
    if (nested.empty() || name == "sweep") listed.insert(name);  // sweep runs itself and has `sweep merge`
    listed.insert(nested.begin(), nested.end());
  }
  const std::set<std::string> tested = {"init",  "info",      "tokenize",        "data prepare", "device fit", "cost",
                                        "sweep", "generate",  "perplexity",      "logits",       "eval",       "train",
                                        "adapt", "reproduce", "convert llama2c", "sweep merge"};
  EXPECT_EQ(listed, tested);
  EXPECT_EQ(listed_flags(""), (std::set<std::string>{"--version"}));
  Result v = gc("--version");
  EXPECT_EQ(v.rc, 0) << v.err;
  EXPECT_FALSE(v.out.empty());
}

class Flags : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string F = fixtures();
    std::string text;
    std::string text2;
    for (int i = 0; i < 16; ++i) {
      text += "Line " + std::to_string(i) + ": the quick brown fox jumps over the lazy dog, twice.\n";
      text2 += "Verse " + std::to_string(i) + ": a slow green turtle walks under the old stone bridge.\n";
    }
    write_file_atomic(F + "/text.txt", text);
    write_file_atomic(F + "/text2.txt", text2);
    // Byte-level models (m, m2: two seeds) and a GPT-2-tokenizer one, all small: 1 block, width 32, 32 positions.
    for (const auto& [dir, extra] :
         std::vector<std::pair<std::string, std::string>>{{"m", "--tokenizer bytes --seed 3"},
                                                          {"m2", "--tokenizer bytes --seed 5"},
                                                          {"g", "--vocab-size 50257 --seed 3"}}) {
      Result r = gc("init --preset tiny --n-layer 1 --n-embd 32 --n-positions 32 " + extra + " --out " + F + "/" + dir);
      ASSERT_EQ(r.rc, 0) << r.err;
    }
    for (const auto& [dir, t] :
         std::vector<std::pair<std::string, std::string>>{{"d", "text.txt"}, {"d2", "text2.txt"}}) {
      Result r = gc("data prepare --model " + F + "/m --text " + F + "/" + t + " --out " + F + "/" + dir);
      ASSERT_EQ(r.rc, 0) << r.err;
    }
    write_file_atomic(F + "/noisy.toml",
                      "[noise]\ncell_gain_sigma = 0.05\nwrite_noise_sigma_v = 0.01\nread_noise_s_ua_tmax = 2.0\n"
                      "read_noise_a_ua_tmax = 2.0\n");
    // The LAMBADA items in reverse order: --data reads another file.
    {
      std::istringstream in(read_file(test::data_path("eval/lambada.jsonl")));
      std::vector<std::string> lines;
      for (std::string line; std::getline(in, line);) lines.push_back(line);
      std::string fwd, rev;
      for (size_t i = 0; i < lines.size(); ++i) fwd += lines[i] + "\n", rev += lines[lines.size() - 1 - i] + "\n";
      write_file_atomic(F + "/lambada.jsonl", fwd);
      write_file_atomic(F + "/lambada2.jsonl", rev);
    }
    write_file_atomic(F + "/tmax.toml", "[converters]\nt_max_ns = 20.0\n");
    write_file_atomic(F + "/adc4.toml", "[converters.adc]\nlevels = 16\n");
    write_file_atomic(F + "/table.toml", "[energy]\nadc_fom_fj_per_step = 9.0\n");
    // A smooth increasing I-V table at two read voltages (the cubic of the paper, scaled).
    for (const auto& [name, scale] : std::vector<std::pair<std::string, double>>{{"iv.csv", 1.0}, {"iv2.csv", 1.3}}) {
      std::string csv = "v_store_V,v_in_V,i_read_A\n";
      for (double v_in : {0.5, 0.9})
        for (int k = 0; k <= 40; ++k) {
          const double vs = 0.9 * k / 40.0, y = vs - 0.45;
          const double i_ua = scale * (v_in / 0.9) * (0.52 + 13.6 * y - 2.6 * y * y + 46.0 * y * y * y) + 5.0;
          csv += std::to_string(vs) + "," + std::to_string(v_in) + "," + std::to_string(i_ua * 1e-6) + "\n";
        }
      write_file_atomic(F + "/" + name, csv);
    }
    // Llama-family fixtures: a llama-tiny model with the llama2.c tokenizer (vocabulary 512) that adds BOS, two
    // small llama2.c version-0 checkpoints and a second tokenizer with one score changed.
    {
      Result r =
          gc("init --preset llama-tiny --n-layer 1 --n-embd 32 --n-head 2 --n-kv-head 1 --n-positions 32 "
             "--seed 3 --out " +
             F + "/L");
      ASSERT_EQ(r.rc, 0) << r.err;
      const std::string tok = read_file(test::data_path("tokenizer/llama2c/tokenizer.bin"));
      write_file_atomic(F + "/L/tokenizer.bin", tok);
      write_file_atomic(F + "/L/tokenizer_config.json", R"({"add_bos_token": true, "add_eos_token": false})");
      write_file_atomic(F + "/tok.bin", tok);
      std::string tok2 = tok;
      tok2[4] = static_cast<char>(tok2[4] ^ 1);  // the first record's score, lowest mantissa bit
      write_file_atomic(F + "/tok2.bin", tok2);
      const int32_t dim = 8, hidden = 16, layers = 1, heads = 2, kv_heads = 1, vocab = 512, seq = 8;
      const int64_t hs = dim / heads, kv = hs * kv_heads;
      const int64_t floats = int64_t{vocab} * dim +
                             layers * (2 * dim + 2 * dim * dim + 2 * kv * dim + 3 * hidden * dim) + dim +
                             2 * seq * (hs / 2);
      for (const auto& [name, scale] :
           std::vector<std::pair<std::string, float>>{{"ck.bin", 1.0f}, {"ck2.bin", 2.0f}}) {
        std::string bin;
        for (int32_t v : {dim, hidden, layers, heads, kv_heads, vocab, seq})
          bin.append(reinterpret_cast<const char*>(&v), 4);
        for (int64_t i = 0; i < floats; ++i) {
          const float x = scale * 0.01f * static_cast<float>((i * 37) % 101 - 50);
          bin.append(reinterpret_cast<const char*>(&x), 4);
        }
        write_file_atomic(F + "/" + name, bin);
      }
    }
  }
};

TEST_F(Flags, Init) {
  const std::string b = "--preset tiny --n-layer 1 --n-embd 48 --n-positions 16 --vocab-size 300 --seed 1";
  check_command({"init",
                 b + " --out {out}",
                 {{"--preset", replace_all(b, "tiny", "gpt2") + " --out {out}"},
                  {"--seed", replace_all(b, "--seed 1", "--seed 2") + " --out {out}"},
                  {"--out", b, Expect::kRequired},
                  {"--n-layer", replace_all(b, "--n-layer 1", "--n-layer 2") + " --out {out}"},
                  {"--n-head", b + " --n-head 4 --out {out}"},
                  {"--n-kv-head", replace_all(b, "tiny", "llama-tiny") + " --n-head 4 --n-kv-head 1 --out {out}",
                   Expect::kChanges, replace_all(b, "tiny", "llama-tiny") + " --n-head 4 --out {out}"},
                  {"--n-embd", replace_all(b, "--n-embd 48", "--n-embd 64") + " --out {out}"},
                  {"--n-positions", replace_all(b, "--n-positions 16", "--n-positions 24") + " --out {out}"},
                  {"--vocab-size", replace_all(b, "--vocab-size 300", "--vocab-size 310") + " --out {out}"},
                  {"--tokenizer", replace_all(b, "--vocab-size 300", "--tokenizer bytes") + " --out {out}"},
                  {"--threads", b + " --out {out} --threads 2", Expect::kSame}}});
}

TEST_F(Flags, InfoAndTokenize) {
  check_command({"info", "--model {F}/m", {{"--model", "--model {F}/g"}}});
  check_command({"tokenize",
                 "--model {F}/g --prompt 'hello world'",
                 {{"--model", "--model {F}/m --prompt 'hello world'"},
                  {"--prompt", "--model {F}/g --prompt 'goodbye world'"},
                  {"--text", "--model {F}/g --text {F}/text.txt"},
                  {"--add-special", "--model {F}/L --prompt 'hello world' --add-special", Expect::kChanges,
                   "--model {F}/L --prompt 'hello world'"}}});
}

TEST_F(Flags, DataPrepareAndDeviceFit) {
  check_command({"data prepare",
                 "--model {F}/m --text {F}/text.txt --out {out}",
                 {{"--model", "--model {F}/g --text {F}/text.txt --out {out}"},
                  {"--text", "--model {F}/m --text {F}/text2.txt --out {out}"},
                  {"--out", "--model {F}/m --text {F}/text.txt", Expect::kRequired},
                  {"--val-fraction", "--model {F}/m --text {F}/text.txt --out {out} --val-fraction 0.3"}}});
  check_command({"device fit",
                 "--csv {F}/iv.csv",
                 {{"--csv", "--csv {F}/iv2.csv"},
                  {"--v-in", "--csv {F}/iv.csv --v-in 0.5"},
                  {"--v-offset", "--csv {F}/iv.csv --v-offset 0.4"},
                  {"--order", "--csv {F}/iv.csv --order 4"},
                  {"--out", "--csv {F}/iv.csv --out {out}/fit.toml"},
                  {"--v-in-tol", "--csv {F}/iv.csv --v-in 0.88 --v-in-tol 0.05", Expect::kChanges,
                   "--csv {F}/iv.csv --v-in 0.88"},
                  {"--max-rel-rms", "--csv {F}/iv.csv --max-rel-rms 1e-4", Expect::kRejected, "fit quality"},
                  {"--min-r2", "--csv {F}/iv.csv --min-r2 0.9999999", Expect::kRejected, "fit quality"},
                  {"--force", "--csv {F}/iv.csv --min-r2 0.9999999 --force --out {out}/fit.toml", Expect::kChanges,
                   "--csv {F}/iv.csv --min-r2 0.9999999 --out {out}/fit.toml"}}});
}

std::vector<Row> cost_rows(const std::string& b) {
  return {{"--model", replace_all(b, "--model tiny", "--model gpt2")},
          {"--hw", b + " --hw {F}/tmax.toml"},  // not the ADC: the sweep below sets adc_bits
          {"--table", b + " --table {F}/table.toml"},
          {"--gpu", b + " --gpu h100"},
          {"--window", b + " --window 512"},
          {"--retention-s", b + " --retention-s 1e-6"},
          {"--gpu-baseline", b + " --gpu-baseline roofline"}};
}

TEST_F(Flags, CostAndSweep) {
  const std::string b = "--model tiny";
  check_command({"cost", b, cost_rows(b) + std::vector<Row>{{"--json", b + " --json"}}});
  const std::string s = "--model tiny --set adc_bits=4,5 --out {out}";
  // --eval: accuracy + cost per point (docs/scaling.md) on the small byte-level model.
  const std::string e = "--model {F}/m --eval {F}/text.txt --set adc_bits=4,5 --context 16 --out {out}";
  const std::string l = replace_all(e, "{F}/text.txt", "{F}/lambada.jsonl");
  check_command({"sweep", s,
                 cost_rows(s) + std::vector<Row>{
                                    {"--set", replace_all(s, "adc_bits=4,5", "window=256,512")},
                                    {"--out", "--model tiny --set adc_bits=4,5", Expect::kRequired},
                                    {"--eval", e, Expect::kChanges, replace_all(e, "text.txt", "text2.txt")},
                                    {"--task", l + " --task lambada", Expect::kChanges, l},
                                    {"--attention", e + " --attention gaincell-linear", Expect::kChanges, e},
                                    {"--context", replace_all(e, "--context 16", "--context 24"), Expect::kChanges, e},
                                    {"--stride", e + " --stride 4", Expect::kChanges, e},
                                    {"--limit", e + " --limit 40", Expect::kChanges, e},
                                    {"--shard", e + " --shard 1/2", Expect::kChanges, e},
                                    {"--adapt-steps", e + " --adapt-steps 2 --adapt-data {F}/d", Expect::kChanges, e},
                                    {"--adapt-data", e + " --adapt-steps 2 --adapt-data {F}/d2", Expect::kChanges,
                                     e + " --adapt-steps 2 --adapt-data {F}/d"},
                                    {"--precision", e + " --precision bf16", Expect::kChanges, e},
                                    {"--threads", s + " --threads 2", Expect::kSame}}});
}

TEST_F(Flags, SweepMerge) {
  const std::string F = fixtures();
  Result r =
      gc("sweep --model " + F + "/m --eval " + F + "/text.txt --set adc_bits=4,5 --context 16 --out " + F + "/swp");
  ASSERT_EQ(r.rc, 0) << r.err;
  check_command({"sweep merge", "{F}/swp", {{"--out", "{F}/swp --out {out}"}}});
}

TEST_F(Flags, GeneratePerplexityLogits) {
  const std::string g = "--model {M} --prompt 'ROMEO:' -n 24 --temperature 0";
  check_command({"generate", g,
                 model_rows(g, true, "{M} ", "{F}/m ", /*precision_seen=*/false) +
                     std::vector<Row>{
                         {"--prompt", replace_all(g, "'ROMEO:'", "'JULIET:'")},
                         {"--tokens", replace_all(g, "-n 24", "-n 25")},
                         {"--temperature", replace_all(g, "--temperature 0", "--temperature 1.5")},
                         {"--top-k", replace_all(g, "--temperature 0", "--temperature 1 --top-k 1"), Expect::kChanges,
                          replace_all(g, "--temperature 0", "--temperature 1")},
                         {"--top-p", replace_all(g, "--temperature 0", "--temperature 1 --top-p 0.01"),
                          Expect::kChanges, replace_all(g, "--temperature 0", "--temperature 1")},
                     }});
  const std::string p = "--model {M} --text {F}/text.txt";
  check_command({"perplexity", p,
                 model_rows(p) + std::vector<Row>{{"--text", replace_all(p, "text.txt", "text2.txt")},
                                                  {"--context", p + " --context 8"},
                                                  {"--stride", p + " --context 16 --stride 3", Expect::kChanges,
                                                   p + " --context 16"},
                                                  {"--json", p + " --json"}}});
  const std::string l = "--model {M} --tokens 70,71,72,73,74,75 --out {out}/l.npy";
  check_command(
      {"logits", l,
       model_rows(l) + std::vector<Row>{{"--tokens", replace_all(l, "70,71,72,73,74,75", "70,71,72,73,74,76")},
                                        {"--prompt", replace_all(l, "--tokens 70,71,72,73,74,75", "--prompt 'abcdef'")},
                                        {"--out", "--model {M} --tokens 1,2,3", Expect::kRequired}}});
}

TEST_F(Flags, Eval) {
  const std::string e = "--model {M} --task lambada --data {F}/lambada.jsonl --limit 3";
  const std::string ppl = "--model {M} --task perplexity --data {F}/text.txt";
  check_command({"eval", e,
                 model_rows(e) + std::vector<Row>{{"--task", replace_all(e, "--task lambada", "--task perplexity")},
                                                  {"--data", replace_all(e, "lambada.jsonl", "lambada2.jsonl")},
                                                  {"--limit", replace_all(e, "--limit 3", "--limit 2")},
                                                  {"--context", ppl + " --context 8", Expect::kChanges, ppl},
                                                  {"--stride", ppl + " --context 16 --stride 3", Expect::kChanges,
                                                   ppl + " --context 16"},
                                                  {"--json", e + " --json"}}});
}

TEST_F(Flags, Train) {
  // The bundled model: its attention is not negligible, so hardware changes move the trained weights.
  const std::string t = "--model {M} --data {F}/d --out {out} --steps 3 --batch 2 --context 8 --lr 1e-3";
  check_command(
      {"train", t,
       model_rows(t, /*evaluation=*/false) +
           std::vector<Row>{
               {"--data", replace_all(t, "{F}/d ", "{F}/d2 ")},
               {"--out", replace_all(t, " --out {out}", ""), Expect::kRequired},
               {"--steps", replace_all(t, "--steps 3", "--steps 4")},
               {"--batch", replace_all(t, "--batch 2", "--batch 3")},
               {"--context", replace_all(t, "--context 8", "--context 12")},
               {"--accum", t + " --accum 2"},
               {"--lr", replace_all(t, "--lr 1e-3", "--lr 1e-2")},
               {"--min-lr", t + " --min-lr 9e-4"},
               {"--warmup", t + " --warmup 2"},
               {"--decay-steps", t + " --decay-steps 1"},
               {"--grad-clip", t + " --grad-clip 1e-3"},
               {"--weight-decay", t + " --weight-decay 0.9"},
               {"--eval-every", t + " --eval-every 1"},
               {"--eval-batches", t + " --eval-every 1 --eval-batches 1", Expect::kChanges, t + " --eval-every 1"},
               // Only the last checkpoint is kept, so the interval is seen by a kill: kill_resume_test.cpp.
               {"--checkpoint-every", t + " --checkpoint-every -2", Expect::kRejected, "--checkpoint-every"},
               {"--init", t + " --init scratch"},
               {"--preset", t + " --init scratch --preset tiny", Expect::kChanges, t + " --init scratch"},
               {"--distill", t + " --teacher {F}/m2 --distill 0.5", Expect::kChanges, t + " --teacher {F}/m2"},
               {"--teacher", t + " --distill 0.5 --teacher {F}/m2", Expect::kChanges,
                t + " --distill 0.5 --teacher {F}/m"},
               {"--resume", replace_all(t, "--steps 3", "--steps 4") + " --resume", Expect::kChanges,
                replace_all(t, "--steps 3", "--steps 4"), t},
           }});
}

TEST_F(Flags, Adapt) {
  const std::string a =
      "--model {F}/m --data {F}/d --out {out} --linear-steps 50 --finetune-steps 2 --calib-batch 2 "
      "--calib-iterations 2 --batch 2 --context 8 --eval-batches 1 --lr 1e-3";
  check_command({"adapt",
                 a,
                 {{"--model", replace_all(a, "{F}/m ", "{F}/m2 ")},
                  {"--data", replace_all(a, "{F}/d ", "{F}/d2 ")},
                  {"--out", replace_all(a, "--out {out} ", ""), Expect::kRequired},
                  {"--hw", a + " --hw {F}/adc4.toml"},
                  {"--linear-steps", replace_all(a, "--linear-steps 50", "--linear-steps 51")},
                  {"--calib-batch", replace_all(a, "--calib-batch 2", "--calib-batch 3")},
                  {"--calib-iterations", replace_all(a, "--calib-iterations 2", "--calib-iterations 1")},
                  {"--finetune-steps", replace_all(a, "--finetune-steps 2", "--finetune-steps 3")},
                  {"--distill", a + " --distill 0.25"},
                  {"--teacher", a + " --distill 0.5 --teacher {F}/m2", Expect::kChanges, a + " --distill 0.5"},
                  {"--batch", replace_all(a, "--batch 2", "--batch 3")},
                  {"--accum", a + " --accum 2"},
                  {"--context", replace_all(a, "--context 8", "--context 12")},
                  {"--lr", replace_all(a, "--lr 1e-3", "--lr 1e-2")},
                  {"--warmup", a + " --warmup 5"},
                  {"--eval-every", a + " --eval-every 10"},
                  {"--eval-batches", replace_all(a, "--eval-batches 1", "--eval-batches 2")},
                  {"--seed", a + " --seed 9"},
                  {"--threads", a + " --threads 2", Expect::kSame},
                  {"--precision", a + " --precision bf16"}}});
}

TEST_F(Flags, ConvertLlama2c) {
  const std::string c = "--checkpoint {F}/ck.bin --tokenizer {F}/tok.bin --out {out}/hf";
  check_command({"convert llama2c",
                 c,
                 {{"--checkpoint", replace_all(c, "ck.bin", "ck2.bin")},
                  {"--tokenizer", replace_all(c, "tok.bin", "tok2.bin")},
                  {"--out", replace_all(c, " --out {out}/hf", ""), Expect::kRequired}}});
}

// reproduce on a small random byte model (the pipeline's steps are the same; a run takes seconds). Only
// results.json is compared: the reports repeat its numbers with the run's timings.
TEST_F(Flags, Reproduce) {
  const std::string F = fixtures();
  const std::string text = read_file(test::data_path("../../data/tinyshakespeare.txt"));
  ASSERT_GT(text.size(), 60000u);
  write_file_atomic(F + "/shake.txt", text.substr(0, 30000));
  write_file_atomic(F + "/shake2.txt", text.substr(30000, 30000));
  for (const char* seed : {"3", "4"}) {
    Result r = gc("init --preset tiny --n-layer 1 --n-embd 32 --n-positions 128 --tokenizer bytes --seed " +
                  std::string(seed) + " --out " + F + "/r" + seed);
    ASSERT_EQ(r.rc, 0) << r.err;
  }
  // --profile stories260k with --model and --text: that profile's split (train, monitor, held out), model
  // tokenization and budgets on the same small model and corpus.
  const std::string b = "--quick --profile shakespeare --model {F}/r3 --text {F}/shake.txt --out {out} --seed 1";
  Command c{"reproduce",
            b,
            {{"--quick", b, Expect::kShown, "\"profile\": \"quick\""},
             {"--out", b, Expect::kShown, "\n== results.json\n"},
             {"--profile", replace_all(b, "--profile shakespeare", "--profile stories260k")},
             {"--model", replace_all(b, "{F}/r3", "{F}/r4")},
             {"--text", replace_all(b, "shake.txt", "shake2.txt")},
             {"--seed", replace_all(b, "--seed 1", "--seed 2")},
             {"--threads", b + " --threads 2", Expect::kSame}}};
  c.files = "results\\.json";
  check_command(c);
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell

namespace gaincell {
namespace GAINCELL_UNITY_ID {

// --precision accepts f32 | bf16 only: anything else is one error line naming both, exit 1, no output file.
TEST(FlagsPrecision, RejectsUnknownValueWithOneLineAndNoOutput) {
  const std::string out = fixtures() + "/precision_bad.npy";
  Result r = gc("logits --model " + test::data_path("../../models/shakespeare-bytes") + " --tokens 70,71 --out " + out +
                " --precision fp16");
  EXPECT_EQ(r.rc, 1) << r.err;
  EXPECT_NE(r.err.find("error: [precision] expected f32 or bf16, got 'fp16'"), std::string::npos) << r.err;
  EXPECT_EQ(test::count_lines(r.err), 1) << r.err;
  EXPECT_FALSE(fs::exists(out));
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
