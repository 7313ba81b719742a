// `gaincell data prepare` and `gaincell train` end to end on a tiny random model: token files, the JSONL log,
// checkpoints readable by other commands, bit-identical --resume, and clean errors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/file.h"
#include "io/token_file.h"
#include "test_paths.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {
namespace fs = std::filesystem;

using test::gc;
using test::Result;

class TrainCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::scratch_dir("train_cli_" + std::to_string(::getpid()));
    Result r = gc("init --preset tiny --seed 7 --out " + dir_ + "/m");
    ASSERT_EQ(r.rc, 0) << r.err;
    std::string text;
    for (int i = 0; i < 60; ++i)
      text += "Once upon a time there was a little robot number " + std::to_string(i) +
              ". It liked to count the stars.<|endoftext|>";
    write_file_atomic(dir_ + "/corpus.txt", text);
    r = gc("data prepare --model " + dir_ + "/m --text " + dir_ + "/corpus.txt --out " + dir_ +
           "/d --val-fraction 0.2");
    ASSERT_EQ(r.rc, 0) << r.err;
  }
  std::string train_args(const std::string& out, int steps, int threads = 1) const {
    return "train --model " + dir_ + "/m --data " + dir_ + "/d --out " + dir_ + "/" + out + " --steps " +
           std::to_string(steps) +
           " --batch 2 --context 16 --accum 2 --lr 1e-3 --warmup 2 --eval-every 2 --eval-batches 2"
           " --checkpoint-every 2 --seed 3 --threads " +
           std::to_string(threads);
  }
  std::string dir_;
};

TEST_F(TrainCli, PrepareWritesValidTokenFilesWithEndOfText) {
  TokenFile train = TokenFile::load(dir_ + "/d/train.bin", 50257);
  TokenFile val = TokenFile::load(dir_ + "/d/val.bin", 50257);
  EXPECT_GT(train.size(), 3 * val.size());
  EXPECT_EQ(val.at(val.size() - 1), 50256);  // every document ends with <|endoftext|>
  int eot = 0;
  for (int64_t i = 0; i < train.size(); ++i) eot += train.at(i) == 50256;
  EXPECT_GE(eot, 40);
  Result r =
      gc("data prepare --model " + dir_ + "/m --text " + dir_ + "/corpus.txt --out " + dir_ + "/d2 --val-fraction 1.5");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("--val-fraction"), std::string::npos) << r.err;
}

TEST_F(TrainCli, TrainsLogsCheckpointsAndResumesBitIdentically) {
  Result r = gc(train_args("a", 4));
  ASSERT_EQ(r.rc, 0) << r.err;
  // Log: 4 steps and 2 evaluations, loss finite.
  std::istringstream log(read_file(dir_ + "/a/log.jsonl"));
  std::string line;
  int steps = 0, evals = 0;
  while (std::getline(log, line)) {
    auto j = nlohmann::json::parse(line);
    if (j["type"] == "step") {
      ++steps;
      EXPECT_GT(j["loss"].get<double>(), 0.0);
    }
    evals += j["type"] == "eval";
  }
  EXPECT_EQ(steps, 4);
  EXPECT_EQ(evals, 2);
  // The final model and the checkpoint are normal model folders.
  EXPECT_EQ(gc("info --model " + dir_ + "/a/model").rc, 0);
  EXPECT_EQ(gc("info --model " + dir_ + "/a/ckpt-00000004").rc, 0);
  EXPECT_FALSE(fs::exists(dir_ + "/a/ckpt-00000002"));
  // A second run into the same folder without --resume is refused.
  r = gc(train_args("a", 4));
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("--resume"), std::string::npos) << r.err;

  // 2 steps, then resume to 4: the same bits as 4 straight.
  ASSERT_EQ(gc(train_args("b", 2)).rc, 0);
  r = gc(train_args("b", 4) + " --resume");
  ASSERT_EQ(r.rc, 0) << r.err;
  for (const char* f : {"model.safetensors", "training_state.safetensors"})
    EXPECT_EQ(read_file(dir_ + "/a/ckpt-00000004/" + f), read_file(dir_ + "/b/ckpt-00000004/" + f)) << f;
  EXPECT_EQ(read_file(dir_ + "/a/model/model.safetensors"), read_file(dir_ + "/b/model/model.safetensors"));
}

TEST_F(TrainCli, CorruptTokenFileIsAOneLineError) {
  std::string bytes = read_file(dir_ + "/d/val.bin");
  bytes.resize(bytes.size() - 1);
  write_file_atomic(dir_ + "/d/val.bin", bytes);
  Result r = gc(train_args("c", 2));
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("[tokens]"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("val.bin"), std::string::npos) << r.err;
}

TEST_F(TrainCli, DistillationNeedsATeacherAndIsThreadIndependent) {
  Result r = gc(train_args("e", 2) + " --distill 0.5");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("--teacher"), std::string::npos) << r.err;
  r = gc(train_args("f", 2) + " --distill 0.5 --teacher " + dir_ + "/m");
  EXPECT_EQ(r.rc, 0) << r.err;
  // Distillation is as reproducible as plain training: the same bits at 2 threads.
  r = gc(train_args("g", 2, 2) + " --distill 0.5 --teacher " + dir_ + "/m");
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(read_file(dir_ + "/f/model/model.safetensors"), read_file(dir_ + "/g/model/model.safetensors"));
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
