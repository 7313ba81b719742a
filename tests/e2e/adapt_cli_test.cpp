// `gaincell adapt` end to end, stage 2 (calibration, paper-spec §3.3) on a tiny random model: the linear
// model's target statistics are recorded here with forward passes of gaincell-linear (stage 1 without its
// training), then the CLI calibrates gaincell's scalers on one fixed batch and writes a model folder plus a
// summary JSON whose trace shows the statistics mismatch shrinking.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "analog/gaincell_attention.h"
#include "core/file.h"
#include "core/rng.h"
#include "model/engine.h"
#include "test_paths.h"

namespace gaincell {
namespace {
namespace fs = std::filesystem;

struct Result {
  int rc;
  std::string out, err;
};

Result gc(const std::string& args) {
  Result r;
  r.rc = test::run_command(test::binary_path() + " " + args, &r.out, &r.err);
  return r;
}

// A GCTOKENS v1 file of n uint16 ids below vocab.
void write_tokens(const std::string& path, int64_t n, int32_t vocab) {
  std::string b(32, '\0');
  std::memcpy(&b[0], "GCTOKENS", 8);
  uint32_t version = 1, width = 2, v = uint32_t(vocab);
  uint64_t count = uint64_t(n);
  std::memcpy(&b[8], &version, 4);
  std::memcpy(&b[12], &width, 4);
  std::memcpy(&b[16], &count, 8);
  std::memcpy(&b[24], &v, 4);
  Rng r(3);
  for (int64_t i = 0; i < n; ++i) {
    uint16_t id = uint16_t(r.uniform() * 1000);  // a small sub-vocabulary
    b.append(reinterpret_cast<const char*>(&id), 2);
  }
  write_file_atomic(path, b);
}

// Records targets with 20 forwards of gaincell-linear (EMA 0.1) and saves the model with them.
void record_targets(const std::string& model_dir, const std::string& out_dir) {
  Gpt2 model = Gpt2::load(model_dir);
  const Gpt2Config& c = model.config();
  AttentionContext ctx;
  ctx.n_layer = c.n_layer;
  ctx.n_head = c.n_head;
  ctx.head_dim = c.head_dim();
  ctx.n_positions = c.n_positions;
  GainCellAttention att(ctx, true);
  att.train_state().set_record_targets(true);
  Gpt2Engine engine(model, att);
  Rng r(9);
  std::vector<int32_t> tokens(2 * 32);
  for (int it = 0; it < 20; ++it) {
    for (auto& t : tokens) t = int32_t(r.uniform() * 1000);
    engine.forward(tokens.data(), 2, 32);
  }
  for (const ParamView& v : att.buffers()) model.set_extra(v.name, v.shape, v.value);
  model.save(out_dir);
  for (const char* f : {"encoder.json", "vocab.bpe"})
    fs::copy_file(fs::path(model_dir) / f, fs::path(out_dir) / f, fs::copy_options::overwrite_existing);
}

// The models and data are made once per process (ctest runs each test in its own process).
class AdaptCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new std::string(test::scratch_dir("adapt_" + std::to_string(::getpid())));
    Result r = gc("init --preset tiny --seed 7 --out " + *root_ + "/init");
    ASSERT_EQ(r.rc, 0) << r.err;
    record_targets(*root_ + "/init", *root_ + "/linear");
    fs::create_directories(*root_ + "/data");
    write_tokens(*root_ + "/data/train.bin", 4000, 50257);
  }
  void SetUp() override { dir_ = *root_; }
  std::string dir_;
  static std::string* root_;
};
std::string* AdaptCli::root_ = nullptr;

TEST_F(AdaptCli, CalibrationStageWritesAModelAndATrace) {
  Result r = gc("adapt --model " + dir_ + "/linear --data " + dir_ + "/data --out " + dir_ +
                "/adapted --calib-batch 2 --context 32 --calib-iterations 25 --threads 2");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto j = nlohmann::json::parse(read_file(dir_ + "/adapted/adapt_summary.json"));
  auto cal = j["stages"]["calibration"];
  int iters = cal["iterations"];
  ASSERT_GE(iters, 2);
  ASSERT_EQ(cal["trace"].size(), size_t(iters));
  auto first = cal["trace"][0], last = cal["trace"][iters - 1];
  EXPECT_EQ(first["criteria"], 2 * 4 * 2 * 2);  // tiny preset: 2 layers x 4 scalers x 2 heads x 2
  EXPECT_EQ(first["alpha"], 1.0);
  EXPECT_LT(double(last["max_std_error"]), 0.1 * double(first["max_std_error"]));
  EXPECT_LT(double(last["max_mean_error"]), 0.1 * double(first["max_mean_error"]));
  EXPECT_TRUE(std::isfinite(double(cal["loss_after"])));
  // A normal model folder: loadable, with scalers and targets, and runnable with the gaincell backend.
  Gpt2 m = Gpt2::load(dir_ + "/adapted");
  const float* a = m.find_extra("h.1.attn.gaincell.k.scale", 2);
  ASSERT_NE(a, nullptr);
  EXPECT_NE(a[0], 1.0f);
  EXPECT_NE(m.find_extra("h.0.attn.gaincell.out.target_std", 2), nullptr);
  EXPECT_TRUE(fs::exists(dir_ + "/adapted/hardware.toml"));
  Result g = gc("generate --model " + dir_ + "/adapted --attention gaincell --hw " + dir_ +
                "/adapted/hardware.toml --prompt 'Hello' -n 3 --seed 1");
  EXPECT_EQ(g.rc, 0) << g.err;
}

TEST_F(AdaptCli, RefusesMissingTargetsAndTrainingStages) {
  Result r = gc("adapt --model " + dir_ + "/init --data " + dir_ + "/data --out " + dir_ + "/x");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("target statistics"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir_ + "/x/model.safetensors"));
  r = gc("adapt --model " + dir_ + "/linear --data " + dir_ + "/data --out " + dir_ + "/x --linear-steps 5");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("training engine"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace gaincell
