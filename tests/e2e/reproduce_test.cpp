// `gaincell reproduce --quick` end to end on the bundled model: the report's numbers agree with
// results.json, the adapted model is far closer to the softmax baseline than the direct mapping, and every
// figure is present (SVG files, inline SVGs in a self-contained HTML). Also `init` with custom sizes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/file.h"
#include "io/token_file.h"
#include "test_paths.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {
namespace fs = std::filesystem;

int gc(const std::string& args, std::string* err) {
  std::string out;
  return test::run_command(test::binary_path() + " " + args, &out, err);
}

std::string fixed4(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.4f", v);
  return b;
}

TEST(InitCli, CustomSizesAndByteTokenizer) {
  const std::string dir = test::scratch_dir("init_custom_" + std::to_string(::getpid()));
  std::string err;
  ASSERT_EQ(gc("init --preset tiny --n-layer 3 --n-positions 96 --tokenizer bytes --seed 1 --out " + dir + "/m", &err),
            0)
      << err;
  auto cfg = nlohmann::json::parse(read_file(dir + "/m/config.json"));
  EXPECT_EQ(cfg["n_layer"], 3);
  EXPECT_EQ(cfg["n_head"], 2);
  EXPECT_EQ(cfg["n_embd"], 128);
  EXPECT_EQ(cfg["n_positions"], 96);
  EXPECT_EQ(cfg["vocab_size"], 256);
  EXPECT_TRUE(fs::exists(dir + "/m/tokenizer.json"));
  EXPECT_FALSE(fs::exists(dir + "/m/vocab.bpe"));
  EXPECT_NE(gc("init --preset tiny --n-head 3 --out " + dir + "/bad", &err), 0);  // 128 % 3 != 0
  EXPECT_NE(err.find("n_embd"), std::string::npos) << err;
}

// One run for every check (ctest runs each TEST in its own process, and the run takes minutes). Relations
// only, never digits: the last digits of the losses depend on the CPU's GEMM kernel (README).
void check_losses(const nlohmann::json& r) {
  const double base = r["baseline"]["val_loss"], direct = r["direct_mapping"]["val_loss"];
  const double adapted = r["adaptation"]["val_loss"], control = r["control"]["val_loss"];
  EXPECT_LT(base, 2.6);                                  // a trained byte model: far below ln 256 = 5.55
  EXPECT_GT(direct, base + 0.5);                         // direct mapping breaks the model
  EXPECT_LT(adapted - base, 0.5 * (direct - base));      // adaptation closes most of the gap
  EXPECT_LT(adapted, direct);                            // adaptation helps
  EXPECT_LT(adapted, control);                           // and beats training the gain-cell model from scratch
  const auto& retention = r["robustness"]["retention"];  // 5 ms, then 1 us: a leakier cell is worse
  ASSERT_GE(retention.size(), 2u);
  EXPECT_GT(retention.back()["retention_s"].get<double>(), 0.0);
  EXPECT_LT(retention.back()["retention_s"].get<double>(), retention.front()["retention_s"].get<double>());
  EXPECT_GT(retention.back()["val_loss"].get<double>(), retention.front()["val_loss"].get<double>());
  for (const char* k : {"baseline", "direct_mapping", "adaptation", "control"})
    EXPECT_NEAR(r[k]["perplexity"].get<double>(), std::exp(r[k]["val_loss"].get<double>()), 1e-9) << k;
}

void check_sections(const nlohmann::json& r) {
  EXPECT_EQ(r["profile"], "quick");
  EXPECT_EQ(r["model"]["head_dim"], 64);
  EXPECT_EQ(r["data"]["train_tokens"], 1003854);
  EXPECT_EQ(r["data"]["val_tokens"], 111540);
  EXPECT_FALSE(r["curves"]["pretrain"].empty());
  EXPECT_FALSE(r["curves"]["finetune"].empty());
  EXPECT_EQ(r["curves"]["control"].size(), r["control"]["steps"].get<size_t>());
  EXPECT_EQ(r["generation"]["baseline"].get<std::string>().size(), r["generation"]["tokens"].get<size_t>());
  EXPECT_EQ(r["generation"]["adapted"].get<std::string>().size(), r["generation"]["tokens"].get<size_t>());
  ASSERT_EQ(r["cost"].size(), 3u);
  for (const auto& c : r["cost"]) {
    EXPECT_GT(c["energy_pj_per_token"]["total"].get<double>(), 0.0);
    EXPECT_GT(c["gpus"][0]["energy_ratio"].get<double>(), 1.0);  // gain cells beat the H100 on attention
  }
  // A bigger model costs more per token.
  EXPECT_LT(r["cost"][0]["energy_pj_per_token"]["total"].get<double>(),
            r["cost"][1]["energy_pj_per_token"]["total"].get<double>());
  EXPECT_GE(r["robustness"]["cell_gain_sigma"].size(), 2u);
  EXPECT_GE(r["robustness"]["retention"].size(), 2u);
  // Per-phase times add up to the run's time.
  double sum = 0;
  for (const char* k :
       {"data", "baseline_and_direct_mapping", "adaptation", "control", "generation", "cost", "robustness"}) {
    ASSERT_TRUE(r["timings_s"].contains(k)) << k;
    sum += r["timings_s"][k].get<double>();
  }
  EXPECT_NEAR(sum, r["seconds"].get<double>(), 0.01 * r["seconds"].get<double>() + 0.05);
}

void check_reports(const nlohmann::json& r, const std::string& dir) {
  const std::string md = read_file(dir + "/report.md"), html = read_file(dir + "/report.html");
  for (const char* k : {"baseline", "direct_mapping", "adaptation", "control"}) {
    const std::string v = fixed4(r[k]["val_loss"].get<double>());
    EXPECT_NE(md.find(v), std::string::npos) << k << " " << v;
    EXPECT_NE(html.find(v), std::string::npos) << k << " " << v;
  }
  ASSERT_EQ(r["figures"].size(), 7u);
  for (const auto& f : r["figures"]) {
    const std::string name = f.get<std::string>();
    EXPECT_TRUE(fs::exists(dir + "/" + name + ".svg")) << name;
    EXPECT_NE(md.find("](" + name + ".svg)"), std::string::npos) << name;
    EXPECT_NE(html.find("<figure id=\"" + name + "\"><svg"), std::string::npos) << name;
  }
  // The GEMM kernel the numbers came from is named in both reports.
  const std::string gemm = r["machine"]["gemm"];
  EXPECT_FALSE(gemm.empty());
  EXPECT_NE(md.find("GEMM: " + gemm), std::string::npos);
  EXPECT_NE(html.find("GEMM: " + gemm), std::string::npos);
  EXPECT_EQ(md.rfind("# gaincell reproduce: gain-cell attention on " + r["title"].get<std::string>() + "\n", 0), 0u);
  // What produced the numbers (provenance_test.cpp checks the other commands): the command line, version and
  // commit, CPU, the GEMM kernel that ran, the seeds and the adapted model's hardware configuration.
  const auto& p = r["provenance"];
  EXPECT_EQ(p["gemm"], gemm);
  EXPECT_EQ(p["argv"][1], "reproduce");
  EXPECT_NE(p["command_line"].get<std::string>().find("reproduce --quick --profile shakespeare --out "),
            std::string::npos);
  EXPECT_EQ(p["seeds"]["seed"], r["seed"]);
  EXPECT_EQ(p["hardware"]["array.rows"], 64);
  EXPECT_FALSE(p["cpu"].get<std::string>().empty());
  EXPECT_FALSE(p["git_commit"].get<std::string>().empty());
  EXPECT_NE(md.find("commit " + p["git_commit"].get<std::string>()), std::string::npos);
  // Figures stay small: the loss curves of every run are averaged down to a few hundred points.
  EXPECT_LT(fs::file_size(dir + "/loss_curves.svg"), 100u * 1024);
  EXPECT_EQ(html.find("src="), std::string::npos);  // self-contained: no external images or scripts
  EXPECT_EQ(html.find("href="), std::string::npos);
}

TEST(ReproduceQuick, ReportIsInternallyConsistent) {
  const std::string dir = test::scratch_dir("reproduce_quick_" + std::to_string(::getpid()));
  std::string err;
  ASSERT_EQ(gc("reproduce --quick --profile shakespeare --out " + dir, &err), 0) << err;
  const auto r = nlohmann::json::parse(read_file(dir + "/results.json"));
  check_losses(r);
  check_sections(r);
  check_reports(r, dir);
}

// Every value of a results JSON is present and finite (a NaN or an infinity is written as null by the JSON
// writer, so null fails too).
void check_finite(const nlohmann::json& j, const std::string& path, int* numbers) {
  if (j.is_null()) ADD_FAILURE() << "null (NaN or inf) at " << path;
  if (j.is_number()) {
    ++*numbers;
    EXPECT_TRUE(std::isfinite(j.get<double>())) << path;
  }
  if (j.is_object())
    for (const auto& [k, v] : j.items()) check_finite(v, path + "/" + k, numbers);
  if (j.is_array())
    for (size_t i = 0; i < j.size(); ++i) check_finite(j[i], path + "/" + std::to_string(i), numbers);
}

const std::string kStoriesCheckpoint = "data/DaveBben__esp32-llm/stories260K.bin";
const std::string kStoriesTokenizer = "data/DaveBben__esp32-llm/tok512.bin";
const std::string kStoriesText = "data/yuninxia__moe-routing-bench/tinystories_val.txt";

// The second profile (stories260K, GQA 8/4 heads, its own 512-token tokenizer, on TinyStories) at --quick: the
// held-out tokens that score every loss are disjoint from what the adaptation read, the losses are ordered
// as the experiment claims, every number is finite, and the derived model folders carry the tokenizer.
TEST(ReproduceQuick, Stories260kHeldOutAndConsistent) {
  for (const std::string& f : {kStoriesCheckpoint, kStoriesTokenizer, kStoriesText})
    GAINCELL_REQUIRE_FILE(test::shared_path(f));
  const std::string dir = test::scratch_dir("reproduce_stories_" + std::to_string(::getpid()));
  std::string err;
  ASSERT_EQ(gc("reproduce --quick --profile stories260k --out " + dir, &err), 0) << err;
  const auto r = nlohmann::json::parse(read_file(dir + "/results.json"));
  int numbers = 0;
  check_finite(r, "", &numbers);
  EXPECT_GT(numbers, 50);
  EXPECT_EQ(r["profile_name"], "stories260k");
  EXPECT_EQ(r["model"]["family"], "llama");
  EXPECT_EQ(r["model"]["vocab_size"], 512);
  EXPECT_EQ(r["model"]["n_kv_head"], 4);
  EXPECT_EQ(r["data"]["tokenization"], "model");
  // The split: train [0, a), monitor [a, b), held out [b, n), in order and non-empty; the token files hold
  // exactly those counts, and every loss reads the held-out file.
  const auto& rg = r["data"]["ranges"];
  const int64_t a = rg["train"][1], b = rg["heldout"][0], n = rg["heldout"][1];
  EXPECT_EQ(rg["train"][0], 0);
  EXPECT_EQ(rg["monitor"][0], a);
  EXPECT_EQ(rg["monitor"][1], b);
  EXPECT_LT(0, a);
  EXPECT_LT(a, b);  // a monitor part separates them: the adaptation's own evaluations never read held-out tokens
  EXPECT_LT(b, n);
  EXPECT_EQ(r["data"]["tokens"], n);
  EXPECT_EQ(r["data"]["train_tokens"], a);
  EXPECT_EQ(r["data"]["val_tokens"], n - b);
  EXPECT_EQ(r["eval"]["split"], "heldout");
  const std::string data = dir + "/work/data/";
  EXPECT_EQ(TokenFile::load(data + "train.bin", 512).size(), a);
  EXPECT_EQ(TokenFile::load(data + "val.bin", 512).size(), b - a);
  EXPECT_EQ(TokenFile::load(data + "heldout.bin", 512).size(), n - b);
  // The experiment's relations (never digits: README).
  const double base = r["baseline"]["val_loss"], direct = r["direct_mapping"]["val_loss"];
  const double adapted = r["adaptation"]["val_loss"];
  EXPECT_LT(base, std::log(512.0));  // a trained model: below random guessing
  EXPECT_LT(base, direct);           // direct mapping loses accuracy
  EXPECT_LT(adapted, direct);        // adaptation recovers some
  for (const char* k : {"baseline", "direct_mapping", "adaptation", "control"})
    EXPECT_NEAR(r[k]["perplexity"].get<double>(), std::exp(r[k]["val_loss"].get<double>()), 1e-9) << k;
  // The adapted and control folders are usable model folders with the model's tokenizer.
  for (const char* m : {"/work/adapted", "/work/control/model"}) {
    EXPECT_TRUE(fs::exists(dir + m + "/tokenizer.bin")) << m;
    EXPECT_TRUE(fs::exists(dir + m + "/config.json")) << m;
  }
  EXPECT_GT(r["generation"]["generated_tokens"]["adapted"].get<int>(), 0);
  EXPECT_FALSE(r["generation"]["adapted"].get<std::string>().empty());
  EXPECT_EQ(r["cost"][0]["n_kv_head"], 4);
  const std::string md = read_file(dir + "/report.md");
  for (const char* k : {"baseline", "direct_mapping", "adaptation", "control"})
    EXPECT_NE(md.find(fixed4(r[k]["val_loss"].get<double>())), std::string::npos) << k;
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
