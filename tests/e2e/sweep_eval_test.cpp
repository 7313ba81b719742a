// gaincell sweep --eval end to end (docs/scaling.md): accuracy + cost per point on the bundled byte-level model,
// shards merged == the unsharded sweep bit for bit, a partial sweep resumes and skips its finished points, a
// failing point writes an error record, the CSV columns and plot files, and a point's perplexity equals
// `gaincell perplexity` on the point's hardware TOML.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "core/file.h"
#include "expect_close.h"
#include "test_paths.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {
namespace fs = std::filesystem;

using test::gc;
using test::Result;
using Json = nlohmann::json;

class SweepEval : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(test::scratch_dir("sweep_eval_" + std::to_string(::getpid())));
    // ~160 bytes: 2-3 windows of 64 tokens per point keeps each point well under a second.
    write_file_atomic(*dir_ + "/text.txt",
                      "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
                      "First Citizen:\nYou are all resolved rather to die than to famish?\n");
  }
  static std::string path(const std::string& f) { return *dir_ + "/" + f; }
  static std::string model() { return test::data_path("../../models/shakespeare-bytes"); }
  // The sweep of the tests: 2 ADC widths x 2 seeds, with read noise so that the seed matters.
  static std::string sweep(const std::string& out, const std::string& extra = "") {
    return "sweep --model " + model() + " --eval " + path("text.txt") +
           " --context 64 --set adc_bits=4,6 --set noise.read_noise_s_ua_tmax=0.5 --set seed=1,2 --out " + out + " " +
           extra;
  }
  static Json point(const std::string& out, int i) {
    char b[32];
    std::snprintf(b, sizeof b, "/points/point_%05d.json", i);
    return Json::parse(read_file(out + b));
  }
  static std::string* dir_;
};
std::string* SweepEval::dir_ = nullptr;

TEST_F(SweepEval, ShardsMergedEqualTheUnshardedSweep) {
  const std::string a = path("whole"), b = path("sharded");
  Result r = gc(sweep(a));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("4 points, 4 run, 0 skipped"), std::string::npos) << r.out;
  for (const char* shard : {"1/2", "0/2"}) {
    Result s = gc(sweep(b, std::string("--shard ") + shard));
    ASSERT_EQ(s.rc, 0) << s.err;
    EXPECT_NE(s.out.find("2 points, 2 run"), std::string::npos) << s.out;
  }
  EXPECT_FALSE(fs::exists(b + "/points.csv"));  // a shard does not merge
  Result m = gc("sweep merge " + b);
  ASSERT_EQ(m.rc, 0) << m.err;
  for (int i = 0; i < 4; ++i) {
    const Json pa = point(a, i), pb = point(b, i);
    EXPECT_EQ(pa["status"], "ok") << pa.dump();
    EXPECT_EQ(pa["metrics"], pb["metrics"]) << i;  // the same doubles, parsed from the same text
    EXPECT_EQ(pa["settings"], pb["settings"]);
  }
  EXPECT_EQ(read_file(a + "/points.csv"), read_file(b + "/points.csv"));
  EXPECT_EQ(read_file(a + "/summary.csv"), read_file(b + "/summary.csv"));
  // The seeds draw different noise; the ADC width changes the loss and the energy.
  const Json p0 = point(a, 0), p1 = point(a, 1), p2 = point(a, 2);
  EXPECT_NE(p0["metrics"]["mean_nll"].get<double>(), p1["metrics"]["mean_nll"].get<double>());
  EXPECT_NE(p0["metrics"]["mean_nll"].get<double>(), p2["metrics"]["mean_nll"].get<double>());
  const double e4 = p0["metrics"]["energy_per_token_nj"], e6 = p2["metrics"]["energy_per_token_nj"];
  EXPECT_TRUE(e4 > 0 && e6 > e4) << e4 << " " << e6;  // the ADC's steps double per bit
  EXPECT_EQ(p0["seed"], 1);
  EXPECT_EQ(p1["seed"], 2);
  EXPECT_EQ(p0["provenance"]["hardware"]["converters.adc.levels"], 16);
  EXPECT_EQ(p2["provenance"]["hardware"]["converters.adc.levels"], 64);
  EXPECT_EQ(p0["provenance"]["hardware"]["noise.chip_seed"], 1);
  EXPECT_TRUE(p0["provenance"].contains("gaincell_version"));
  EXPECT_NE(p0["provenance"]["command_line"].get<std::string>().find("sweep"), std::string::npos);
}

TEST_F(SweepEval, APartialSweepResumesAndSkipsFinishedPoints) {
  const std::string a = path("resume");
  Result r = gc(sweep(a, "--shard 0/2"));  // stands for a sweep killed after points 0 and 2
  ASSERT_EQ(r.rc, 0) << r.err;
  const std::string p0 = read_file(a + "/points/point_00000.json");
  Result again = gc(sweep(a));
  ASSERT_EQ(again.rc, 0) << again.err;
  EXPECT_NE(again.out.find("4 points, 2 run, 2 skipped"), std::string::npos) << again.out;
  EXPECT_NE(again.err.find("point_00000 {\"adc_bits\":4.0,\"noise.read_noise_s_ua_tmax\":0.5,\"seed\":1.0}: done"),
            std::string::npos)
      << again.err;
  EXPECT_EQ(read_file(a + "/points/point_00000.json"), p0);  // not rewritten (its provenance names the shard run)
  EXPECT_EQ(test::count_lines(read_file(a + "/points.csv")), 5);
  // Another grid into the same folder is refused, naming the file.
  Result other = gc("sweep --model " + model() + " --eval " + path("text.txt") + " --set adc_bits=5 --out " + a);
  EXPECT_EQ(other.rc, 1);
  EXPECT_NE(other.err.find("point_00000.json"), std::string::npos) << other.err;
}

TEST_F(SweepEval, AFailingPointWritesAnErrorRecordAndTheSweepGoesOn) {
  const std::string a = path("failing");
  // array.rows 0 is not a hardware configuration; 64 is.
  Result r =
      gc("sweep --model " + model() + " --eval " + path("text.txt") + " --context 64 --set array.rows=0,64 --out " + a);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("2 points, 2 run, 0 skipped (done before), 1 failed"), std::string::npos) << r.out;
  const Json bad = point(a, 0), good = point(a, 1);
  EXPECT_EQ(bad["status"], "error");
  EXPECT_NE(bad["error"].get<std::string>().find("rows"), std::string::npos) << bad.dump();
  EXPECT_EQ(good["status"], "ok");
  EXPECT_TRUE(good["metrics"]["perplexity"].get<double>() > 1.0);
  const std::string csv = read_file(a + "/points.csv");
  EXPECT_NE(csv.find("\n0,0,0,error,"), std::string::npos) << csv;
  EXPECT_NE(csv.find("\n1,64,0,ok,"), std::string::npos) << csv;
  // The failed point runs again on resume; the ok one is skipped.
  Result again =
      gc("sweep --model " + model() + " --eval " + path("text.txt") + " --context 64 --set array.rows=0,64 --out " + a);
  EXPECT_NE(again.out.find("2 points, 1 run, 1 skipped (done before), 1 failed"), std::string::npos) << again.out;
}

TEST_F(SweepEval, CsvColumnsAndPlotFilesAsDocumented) {
  const std::string a = path("files");
  Result r = gc("sweep --model " + model() + " --eval " + path("text.txt") +
                " --context 64 --set retention_s=1e-7,1e-4 --set seed=1,2 --out " + a);
  ASSERT_EQ(r.rc, 0) << r.err;
  const std::string csv = read_file(a + "/points.csv");
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "point,retention_s,seed,status,context,stride,tokens,mean_nll,perplexity,bits_per_byte,"
            "energy_per_token_nj,latency_per_token_ns,area_mm2,decay_per_token,error");
  EXPECT_EQ(test::count_lines(csv), 5);
  const std::string sum = read_file(a + "/summary.csv");
  EXPECT_EQ(sum.substr(0, sum.find(',', sum.find("mean_nll_mean"))),
            "retention_s,n,context_mean,context_std,"
            "stride_mean,stride_std,tokens_mean,tokens_std,"
            "mean_nll_mean");
  EXPECT_EQ(test::count_lines(sum), 3);
  EXPECT_NE(sum.find("\n1e-07,2,"), std::string::npos) << sum;
  for (const char* f : {"perplexity_vs_retention_s.svg", "energy_vs_retention_s.svg", "pareto.svg"})
    EXPECT_TRUE(fs::exists(a + "/" + f)) << f;
  // Retention on a log time axis: the ticks are the decades, 1e-07 and 1e-04 among them.
  const std::string svg = read_file(a + "/perplexity_vs_retention_s.svg");
  EXPECT_NE(svg.find(">1e-07<"), std::string::npos) << svg.substr(0, 2000);
  EXPECT_NE(svg.find(">0.0001<"), std::string::npos);
  // Shorter retention: more decay per token, a higher loss.
  const Json fast = point(a, 0), slow = point(a, 2);
  EXPECT_TRUE(fast["metrics"]["decay_per_token"].get<double>() >
              100 * slow["metrics"]["decay_per_token"].get<double>());
  EXPECT_TRUE(fast["metrics"]["mean_nll"].get<double>() > slow["metrics"]["mean_nll"].get<double>());
}

TEST_F(SweepEval, PointPerplexityEqualsThePerplexityCommand) {
  const std::string a = path("equal");
  Result r = gc(sweep(a));
  ASSERT_EQ(r.rc, 0) << r.err;
  for (int i : {0, 3}) {
    const Json p = point(a, i);
    char hw[64];
    std::snprintf(hw, sizeof hw, "/points/point_%05d.hw.toml", i);
    Result ppl = gc("perplexity --model " + model() + " --attention gaincell --hw " + a + hw + " --seed " +
                    std::to_string(p["seed"].get<int>()) + " --text " + path("text.txt") + " --context 64 --json");
    ASSERT_EQ(ppl.rc, 0) << ppl.err;
    const Json j = Json::parse(ppl.out);
    EXPECT_EQ(j["mean_nll"].get<double>(), p["metrics"]["mean_nll"].get<double>()) << i;
    EXPECT_EQ(j["perplexity"].get<double>(), p["metrics"]["perplexity"].get<double>()) << i;
    EXPECT_EQ(j["bits_per_byte"].get<double>(), p["metrics"]["bits_per_byte"].get<double>()) << i;
  }
}

TEST_F(SweepEval, Bf16PrecisionIsThePerplexityCommandsAndIsRecorded) {
  // --precision bf16: every point's projections in bf16 (the gain-cell simulation in f32), the same numbers as
  // `perplexity --precision bf16` on the point's hardware, near the f32 ones; a resume in another precision is
  // refused.
  const std::string f = path("prec_f32"), b = path("prec_bf16");
  Result r = gc(sweep(f));
  ASSERT_EQ(r.rc, 0) << r.err;
  r = gc(sweep(b, "--precision bf16"));
  ASSERT_EQ(r.rc, 0) << r.err;
  for (int i : {0, 3}) {
    const Json pf = point(f, i), pb = point(b, i);
    EXPECT_EQ(pf["precision"], "f32");
    EXPECT_EQ(pb["precision"], "bf16");
    const double nf = pf["metrics"]["mean_nll"], nb = pb["metrics"]["mean_nll"];
    EXPECT_NE(nf, nb) << i;
    EXPECT_TRUE(test::all_close(&nb, &nf, 1, 0.0, 0.02)) << i;
    char hw[64];
    std::snprintf(hw, sizeof hw, "/points/point_%05d.hw.toml", i);
    Result ppl =
        gc("perplexity --model " + model() + " --attention gaincell --precision bf16 --hw " + b + hw + " --seed " +
           std::to_string(pb["seed"].get<int>()) + " --text " + path("text.txt") + " --context 64 --json");
    ASSERT_EQ(ppl.rc, 0) << ppl.err;
    const double want = Json::parse(ppl.out)["mean_nll"];
    EXPECT_TRUE(test::all_close(&nb, &want, 1, 0.0, 1e-3)) << i;
  }
  r = gc(sweep(b));
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("expected the point file of a sweep with --precision f32"), std::string::npos) << r.err;
}

TEST_F(SweepEval, ATaskScoreIsTheAccuracyMetric) {
  const std::string a = path("lambada");
  Result r = gc("sweep --model " + model() + " --eval " + test::data_path("eval/lambada.jsonl") +
                " --task lambada --limit 4 --set adc_bits=4,6 --out " + a);
  ASSERT_EQ(r.rc, 0) << r.err;
  const std::string csv = read_file(a + "/points.csv");
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "point,adc_bits,seed,status,items,accuracy,mean_nll,perplexity,energy_per_token_nj,latency_per_token_ns,"
            "area_mm2,decay_per_token,error");
  const Json p = point(a, 0);
  EXPECT_EQ(p["metrics"]["items"], 4);
  const double acc = p["metrics"]["accuracy"];
  EXPECT_TRUE(acc >= 0 && acc <= 1) << acc;
  EXPECT_TRUE(fs::exists(a + "/accuracy_vs_adc_bits.svg"));
  EXPECT_NE(read_file(a + "/pareto.svg").find("accuracy (higher is better)"), std::string::npos);
}

TEST_F(SweepEval, ASlurmArrayTaskRunsItsShard) {
  // Task ids 1..2 (--array=1-2): the second task runs shard 1/2, the points 1 and 3.
  ::setenv("SLURM_ARRAY_TASK_ID", "2", 1);
  ::setenv("SLURM_ARRAY_TASK_COUNT", "2", 1);
  ::setenv("SLURM_ARRAY_TASK_MIN", "1", 1);
  Result r = gc(sweep(path("slurm")));
  ::unsetenv("SLURM_ARRAY_TASK_ID");
  ::unsetenv("SLURM_ARRAY_TASK_COUNT");
  ::unsetenv("SLURM_ARRAY_TASK_MIN");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("shard 1/2: 2 points, 2 run"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(path("slurm/points/point_00001.json")));
  EXPECT_TRUE(fs::exists(path("slurm/points/point_00003.json")));
  EXPECT_FALSE(fs::exists(path("slurm/points/point_00000.json")));
}

TEST_F(SweepEval, BadInputIsOneClearLine) {
  Result r =
      gc("sweep --model " + model() + " --eval " + path("text.txt") + " --set nosuch.key=1 --out " + path("bad"));
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("nosuch.key"), std::string::npos) << r.err;
  r = gc(sweep(path("bad2"), "--shard 2/2"));
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("shard I/N"), std::string::npos) << r.err;
  r = gc("sweep merge " + path("nothing_here"));
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("point files"), std::string::npos) << r.err;
  r = gc(sweep(path("bad3"), "--window 64"));
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("--window"), std::string::npos) << r.err;
  r = gc(sweep(path("bad4"), "--adapt-steps 2"));  // no token folder to adapt on
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("--adapt-data"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(path("bad4/points")));
}

// --adapt-steps: every point runs the adaptation pipeline on its own hardware before its evaluation, on a tiny
// byte-level model (1 block, width 32). The adapted loss differs from the stored model's, the point file records
// the adaptation's stages and losses, no scratch model is left behind, and a second run is the same bits.
TEST_F(SweepEval, AdaptStepsRecalibratesEveryPointDeterministically) {
  Result r = gc("init --preset tiny --n-layer 1 --n-embd 32 --n-positions 32 --tokenizer bytes --seed 3 --out " +
                path("tiny"));
  ASSERT_EQ(r.rc, 0) << r.err;
  std::string corpus;
  for (int i = 0; i < 40; ++i) corpus += "Line " + std::to_string(i) + ": the robot counts the stars again.\n";
  write_file_atomic(path("corpus.txt"), corpus);
  r = gc("data prepare --model " + path("tiny") + " --text " + path("corpus.txt") + " --out " + path("tokens"));
  ASSERT_EQ(r.rc, 0) << r.err;
  const std::string base = "sweep --model " + path("tiny") + " --eval " + path("text.txt") +
                           " --context 16 --set window=4,16 --threads 1 --out ";
  const std::string adapt = " --adapt-steps 2 --adapt-data " + path("tokens");
  for (const char* out : {"plain", "adapt1", "adapt2"}) {
    r = gc(base + path(out) + (std::string(out) == "plain" ? "" : adapt));
    ASSERT_EQ(r.rc, 0) << r.err;
  }
  for (int i = 0; i < 2; ++i) {
    const Json plain = point(path("plain"), i), a1 = point(path("adapt1"), i), a2 = point(path("adapt2"), i);
    ASSERT_EQ(a1["status"], "ok") << a1.dump();
    EXPECT_EQ(plain["adapt_steps"], 0);
    EXPECT_EQ(a1["adapt_steps"], 2);
    EXPECT_FALSE(plain.contains("adaptation"));
    const double p = plain["metrics"]["mean_nll"], q = a1["metrics"]["mean_nll"];
    EXPECT_TRUE(std::isfinite(q) && std::fabs(q - p) > 1e-3) << p << " " << q;  // adapting changed the model
    EXPECT_EQ(a1["metrics"], a2["metrics"]) << i;                               // the same bits again
    EXPECT_EQ(a1["adaptation"], a2["adaptation"]) << i;
    const Json& st = a1["adaptation"]["stages"];
    EXPECT_EQ(st["linear"]["steps"], 2);
    EXPECT_EQ(st["finetune"]["steps"], 2);
    EXPECT_EQ(st["linear"]["trace"].size(), 2u);
    EXPECT_TRUE(std::isfinite(st["finetune"]["val_loss_after"].get<double>()));
    EXPECT_GE(st["calibration"]["iterations"].get<int>(), 1);
    EXPECT_EQ(a1["adaptation"]["data"], path("tokens"));
    // The cost metrics do not depend on the weights.
    EXPECT_EQ(a1["metrics"]["energy_per_token_nj"], plain["metrics"]["energy_per_token_nj"]);
  }
  // Each point adapted on its own hardware: the two windows end with different stage-3 losses.
  EXPECT_NE(point(path("adapt1"), 0)["adaptation"]["stages"]["finetune"]["val_loss_after"],
            point(path("adapt1"), 1)["adaptation"]["stages"]["finetune"]["val_loss_after"]);
  for (const auto& e : fs::directory_iterator(path("adapt1") + "/points"))
    EXPECT_EQ(e.path().string().find(".adapted"), std::string::npos) << e.path();
  // A resume with another --adapt-steps is refused (its points would mix two pipelines).
  r = gc(base + path("adapt1") + " --adapt-steps 3 --adapt-data " + path("tokens"));
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("--adapt-steps"), std::string::npos) << r.err;
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
