// Crash safety of `gaincell train`: the run is killed with SIGKILL at pseudo-random moments (fixed seed, spread
// over the length of an uninterrupted run). After every kill the checkpoint named by <out>/latest must load as a
// model folder and hold its training state, and `--resume` must finish with the same bits as the uninterrupted
// run (docs/reliability.md, "Atomic outputs").
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/file.h"
#include "test_paths.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {
namespace fs = std::filesystem;

int gc(const std::string& args, std::string* err = nullptr) {
  std::string out, e;
  const int rc = test::run_command(test::binary_path() + " " + args, &out, &e);
  if (err) *err = e;
  return rc;
}

// Starts the CLI with args (split on spaces; none contain spaces), stdout/stderr to /dev/null.
pid_t spawn(const std::string& args) {
  std::vector<std::string> words{test::binary_path()};
  for (size_t i = 0; i < args.size();) {
    size_t j = args.find(' ', i);
    if (j == std::string::npos) j = args.size();
    if (j > i) words.push_back(args.substr(i, j - i));
    i = j + 1;
  }
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::vector<char*> argv;
    for (auto& w : words) argv.push_back(w.data());
    argv.push_back(nullptr);
    if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr)) _exit(126);
    ::execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

class KillResume : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::scratch_dir("kill_resume_" + std::to_string(::getpid()));
    ASSERT_EQ(gc("init --preset tiny --seed 5 --out " + dir_ + "/m"), 0);
    std::string text;
    for (int i = 0; i < 40; ++i) text += "The robot counted " + std::to_string(i) + " stars tonight.<|endoftext|>";
    write_file_atomic(dir_ + "/corpus.txt", text);
    ASSERT_EQ(gc("data prepare --model " + dir_ + "/m --text " + dir_ + "/corpus.txt --out " + dir_ +
                 "/d --val-fraction 0.2"),
              0);
  }
  std::string train_args(const std::string& out) const {
    return "train --model " + dir_ + "/m --data " + dir_ + "/d --out " + dir_ + "/" + out + " --steps " +
           std::to_string(kSteps) +
           " --batch 2 --context 16 --accum 1 --lr 1e-3 --warmup 2 --eval-every 4 --eval-batches 1"
           " --checkpoint-every 2 --seed 11 --threads 1";
  }
  static constexpr int kSteps = 4;
  static constexpr int kTrials = 3;  // each costs two runs; the tiny model's checkpoints are ~80 MB with Adam
  std::string dir_;
};

TEST_F(KillResume, SigkillAtRandomMomentsThenResumeReproducesTheUninterruptedRun) {
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(gc(train_args("ref")), 0);
  const double run_s = seconds_since(t0);
  const std::string ref = read_file(dir_ + "/ref/model/model.safetensors");

  std::mt19937 rng(20250607);
  std::uniform_real_distribution<double> when(0.0, 1.1);
  int killed_mid_run = 0;
  for (int trial = 0; trial < kTrials; ++trial) {
    const std::string out = std::string("k").append(std::to_string(trial));  // not "k" + string&&: GCC 12 bug 105651
    const pid_t pid = spawn(train_args(out));
    ASSERT_GT(pid, 0);
    std::this_thread::sleep_for(std::chrono::duration<double>(when(rng) * run_s));
    ::kill(pid, SIGKILL);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    killed_mid_run += WIFSIGNALED(status);
    // Whatever the moment, the checkpoint that `latest` names is complete and loads.
    const std::string latest = dir_ + "/" + out + "/latest";
    if (file_exists(latest)) {
      std::string name = read_file(latest);
      while (!name.empty() && name.back() == '\n') name.pop_back();
      const std::string ckpt = dir_ + "/" + out + "/" + name;
      std::string err;
      EXPECT_EQ(gc("info --model " + ckpt, &err), 0) << "trial " << trial << ": " << err;
      EXPECT_TRUE(file_exists(ckpt + "/training_state.safetensors")) << ckpt;
    }
    std::string err;
    ASSERT_EQ(gc(train_args(out) + " --resume", &err), 0) << "trial " << trial << ": " << err;
    EXPECT_EQ(read_file(dir_ + "/" + out + "/model/model.safetensors"), ref) << "trial " << trial;
  }
  // Not a timing assertion: only reported, so a slow or fast machine shows how many kills landed mid-run.
  std::printf("kill/resume: %d of 3 runs killed mid-run (uninterrupted run %.2f s)\n", killed_mid_run, run_s);
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
