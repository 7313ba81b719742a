// Determinism: the same seed gives the same output at 1 and 2 threads, run after run, for sampled generation
// (same text), inference logits of every backend including the noisy analog simulation (gaincell attention with
// device-to-device and cycle-to-cycle noise on, via --hw: same bits) and training (same bits)
// (docs/reliability.md, "Determinism").
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <string>

#include "core/file.h"
#include "expect_close.h"
#include "io/npy.h"
#include "test_paths.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {

using test::gc;
using test::Result;

// Every noise source of the simulator on (hardware TOML keys of docs/hardware-toml.md).
std::string noisy_hw(int chip_seed) {
  return "[noise]\nchip_seed = " + std::to_string(chip_seed) +
         "\ncell_gain_sigma = 0.05\ncell_offset_sigma_ua = 0.01\nwrite_noise_sigma_v = 0.01\n"
         "read_noise_s_ua_tmax = 0.02\nread_noise_a_ua_tmax = 0.02\nadc_offset_sigma = 0.01\n"
         "adc_gain_sigma = 0.02\nc2p_sat_sigma = 0.02\n";
}

class Determinism : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new std::string(test::scratch_dir("determinism_" + std::to_string(::getpid())));
    Result r = gc("init --preset tiny --seed 7 --out " + *root_ + "/m");
    ASSERT_EQ(r.rc, 0) << r.err;
    write_file_atomic(*root_ + "/noisy1.toml", noisy_hw(1));
    write_file_atomic(*root_ + "/noisy2.toml", noisy_hw(2));
  }
  void SetUp() override { dir_ = *root_; }
  std::string model() const { return dir_ + "/m"; }
  std::string dir_;
  static std::string* root_;
};
std::string* Determinism::root_ = nullptr;

TEST_F(Determinism, SampledGenerationIsIdenticalAtOneAndTwoThreads) {
  for (const std::string& backend : {std::string("softmax"), "gaincell --hw " + dir_ + "/noisy1.toml"}) {
    const std::string args = "generate --model " + model() + " --attention " + backend +
                             " --prompt 'Once upon a time' -n 16 --seed 4 --temperature 0.9 --top-k 40";
    Result a = gc(args + " --threads 1"), b = gc(args + " --threads 2"), c = gc(args + " --threads 2");
    ASSERT_EQ(a.rc, 0) << a.err;
    EXPECT_EQ(a.out, b.out) << backend;
    EXPECT_EQ(b.out, c.out) << backend;
  }
}

// Largest |a - b| over two logits arrays of the same shape (infinity when the shapes differ, NaN when any value
// is NaN: tests/expect_close.h).
double max_abs_diff(const NpyArray& a, const NpyArray& b) {
  if (a.shape != b.shape) return std::numeric_limits<double>::infinity();
  return test::worst_abs_diff(a.data, b.data).err;
}

// Inference logits are the same bits at 1 and 2 threads and run after run, for every attention backend, the
// noisy analog simulation included (every GEMM is cut by shape alone: kernels/gemm.h). The noise draws are
// real: another chip seed, or noise off, moves the logits by the noise scale.
TEST_F(Determinism, LogitsAreBitIdenticalAtOneAndTwoThreadsForEveryBackend) {
  // 40 tokens, window 16: every windowed backend (sliding, hardsigmoid, the gain-cell arrays) wraps its window.
  std::string tokens = "464";
  for (int i = 1; i < 40; ++i) {
    tokens += ',';
    tokens += std::to_string((i * 7919) % 50000);
  }
  const std::string base = "logits --model " + model() + " --tokens " + tokens + " --attention ";
  const std::string window = " --window 16", gaincell = "gaincell" + window,
                    noisy1 = gaincell + " --hw " + dir_ + "/noisy1.toml",
                    noisy2 = gaincell + " --hw " + dir_ + "/noisy2.toml";
  int runs = 0;
  auto logits = [&](const std::string& backend, int threads) {  // path of the logits file written
    const std::string out = dir_ + "/l" + std::to_string(runs++) + ".npy";
    Result r = gc(base + backend + " --threads " + std::to_string(threads) + " --out " + out);
    EXPECT_EQ(r.rc, 0) << r.err;
    return out;
  };
  std::map<std::string, std::string> two_threads;  // backend -> logits at 2 threads
  for (const std::string& backend : {std::string("softmax"), "sliding" + window, "hardsigmoid" + window,
                                     "gaincell-linear" + window, gaincell, noisy1}) {
    const std::string one = read_file(logits(backend, 1));
    two_threads[backend] = logits(backend, 2);
    const std::string two = read_file(two_threads[backend]), again = read_file(logits(backend, 2));
    EXPECT_FALSE(one.empty()) << backend;
    EXPECT_TRUE(one == two) << backend << ": 1 vs 2 threads";
    EXPECT_TRUE(two == again) << backend << ": run after run";
  }
  const NpyArray base_noisy = read_npy(two_threads[noisy1]);
  const double chip_diff = max_abs_diff(base_noisy, read_npy(logits(noisy2, 2))),
               noise_diff = max_abs_diff(base_noisy, read_npy(two_threads[gaincell]));
  EXPECT_GT(chip_diff, 1e-3) << "another chip seed must change the logits by the noise scale";
  EXPECT_GT(noise_diff, 1e-3) << "noise on vs off must change the logits";
  std::printf("max |logit diff|: other chip %.3g, noise off %.3g\n", chip_diff, noise_diff);
}

TEST_F(Determinism, TrainingIsBitIdenticalAtOneAndTwoThreads) {
  std::string text;
  for (int i = 0; i < 30; ++i) text += "Counting sheep number " + std::to_string(i) + " at night.<|endoftext|>";
  write_file_atomic(dir_ + "/corpus.txt", text);
  Result r =
      gc("data prepare --model " + model() + " --text " + dir_ + "/corpus.txt --out " + dir_ + "/d --val-fraction 0.2");
  ASSERT_EQ(r.rc, 0) << r.err;
  std::string weights[2];
  for (int threads = 1; threads <= 2; ++threads) {
    const std::string out = dir_ + "/t" + std::to_string(threads);
    r = gc("train --model " + model() + " --data " + dir_ + "/d --out " + out +
           " --steps 4 --batch 2 --context 16 --accum 2 --lr 1e-3 --warmup 1 --eval-every 0 --seed 5 --threads " +
           std::to_string(threads));
    ASSERT_EQ(r.rc, 0) << r.err;
    weights[threads - 1] = read_file(out + "/model/model.safetensors");
  }
  EXPECT_EQ(weights[0], weights[1]);
  EXPECT_NE(weights[0], read_file(model() + "/model.safetensors"));  // training changed the weights
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
