// `gaincell adapt` on a Llama-family model someone else pre-trained: stories260K (../shared, converted with
// `gaincell convert llama2c`; 5 layers, 8 query heads over 4 KV heads of 8, RoPE, SwiGLU) on TinyStories.
//  * MHA: the same network with every KV head duplicated for each query head of its group (n_kv_head = n_head,
//    the same function: checked with softmax) runs all three stages; the adapted model's loss on the gain-cell
//    backend, on text no stage saw, is lower than direct mapping's (the pre-trained weights with default
//    scalers), and the calibration counts its criteria per query head for q/out and per KV head for k/v.
//  * GQA (the checkpoint itself): calibration from targets recorded with gaincell-linear forwards counts the
//    k/v criteria once per KV head and meets them; the stage that trains through the gain-cell backend refuses
//    grouped-query models with one line until that backward lands.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "analog/gaincell_attention.h"
#include "core/file.h"
#include "core/rng.h"
#include "io/token_file.h"
#include "model/engine.h"
#include "model/weights.h"
#include "test_paths.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {

using test::gc;
using test::Result;

const std::string kCheckpoint = "data/DaveBben__esp32-llm/stories260K.bin";
const std::string kTokenizer = "data/DaveBben__esp32-llm/tok512.bin";
const std::string kText = "data/yuninxia__moe-routing-bench/tinystories_val.txt";

bool ends_with(const std::string& s, const std::string& e) {
  return s.size() >= e.size() && s.compare(s.size() - e.size(), e.size(), e) == 0;
}

// The model with n_kv_head = n_head: KV head g's k_proj/v_proj rows (and biases) copied to every query head of
// its group, so query head h reads its own copy of the keys and values it read before.
void expand_kv_heads(const std::string& in, const std::string& out) {
  Model m = Model::load(in);
  const ModelConfig& c = m.config();
  ModelConfig e = c;
  e.n_kv_head = c.n_head;
  const int64_t D = c.head_dim(), G = c.n_head / c.kv_heads();
  std::vector<float> params;
  for (const WeightSpec& s : weight_table(e)) {
    const bool kv =
        s.name.find("self_attn.k_proj") != std::string::npos || s.name.find("self_attn.v_proj") != std::string::npos;
    if (!kv) {
      const float* p = m.tensor_data(s.name);
      params.insert(params.end(), p, p + s.numel());
      continue;
    }
    const float* p = m.tensor_data(s.name);
    const int64_t row = ends_with(s.name, ".bias") ? 1 : c.n_embd;  // floats per output row
    for (int h = 0; h < e.n_head; ++h) {
      const float* src = p + (h / G) * D * row;
      params.insert(params.end(), src, src + D * row);
    }
  }
  Model::view(e, params.data(), in).save(out);
}

// Records gain-cell targets with 20 gaincell-linear forwards over windows of train.bin and saves them with
// the model (the GQA path has no stage 1: TrainModel refuses gain-cell training there).
void record_targets(const std::string& model_dir, const std::string& data_dir, const std::string& out_dir) {
  Model model = Model::load(model_dir);
  const ModelConfig& c = model.config();
  GainCellAttention att(attention_context(c), true);
  att.train_state().set_record_targets(true);
  Engine engine(model, att);
  TokenFile f = TokenFile::load(data_dir + "/train.bin", c.vocab_size);
  Rng r(9);
  std::vector<int32_t> tokens(4 * 64);
  for (int it = 0; it < 20; ++it) {
    for (int b = 0; b < 4; ++b) f.copy(tokens.data() + b * 64, int64_t(r.next_u64() % uint64_t(f.size() - 64)), 64);
    engine.forward(tokens.data(), 4, 64);
  }
  for (const ParamView& v : att.buffers()) model.set_extra(v.name, v.shape, v.value);
  model.save(out_dir);
}

double perplexity(const std::string& model, const std::string& extra, const std::string& text) {
  Result p = gc("perplexity --model " + model + " " + extra + " --text " + text + " --context 64 --json --threads 2");
  EXPECT_EQ(p.rc, 0) << p.err;
  if (p.rc != 0) return NAN;
  return nlohmann::json::parse(p.out)["perplexity"].get<double>();
}

class AdaptLlamaCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!std::filesystem::exists(test::shared_path(kCheckpoint))) return;
    root_ = new std::string(test::scratch_dir("adapt_llama_" + std::to_string(::getpid())));
    const std::string& d = *root_;
    Result r = gc("convert llama2c --checkpoint " + test::shared_path(kCheckpoint) + " --tokenizer " +
                  test::shared_path(kTokenizer) + " --out " + d + "/gqa");
    ASSERT_EQ(r.rc, 0) << r.err;
    // The first ~60 KB of the validation prefix to adapt on (90 % train.bin, 10 % val.bin: ~26k and ~2.9k
    // tokens), the next ~6 KB held out from every stage. (With a few KB, stages 1 and 3 memorise the stories
    // and the held-out loss rises above direct mapping's.)
    const std::string text = read_file(test::shared_path(kText), 1 << 24).substr(0, 70000);
    const std::string adapt_part = text.substr(0, text.rfind('\n', 60000) + 1);
    const std::string held =
        text.substr(adapt_part.size(), text.rfind('\n', adapt_part.size() + 6000) + 1 - adapt_part.size());
    write_file_atomic(d + "/corpus.txt", adapt_part);
    write_file_atomic(d + "/held.txt", held);
    r = gc("data prepare --model " + d + "/gqa --text " + d + "/corpus.txt --out " + d + "/data --val-fraction 0.1");
    ASSERT_EQ(r.rc, 0) << r.err;
    expand_kv_heads(d + "/gqa", d + "/mha");
  }
  void SetUp() override {
    GAINCELL_REQUIRE_FILE(test::shared_path(kCheckpoint));
    GAINCELL_REQUIRE_FILE(test::shared_path(kTokenizer));
    GAINCELL_REQUIRE_FILE(test::shared_path(kText));
    ASSERT_NE(root_, nullptr);
    dir_ = *root_;
  }
  std::string dir_;
  static std::string* root_;
};
std::string* AdaptLlamaCli::root_ = nullptr;

TEST_F(AdaptLlamaCli, ExpandedKvHeadsComputeTheSameFunction) {
  const double a = perplexity(dir_ + "/gqa", "", dir_ + "/held.txt");
  const double b = perplexity(dir_ + "/mha", "", dir_ + "/held.txt");
  EXPECT_TRUE(std::fabs(a - b) <= 1e-4 * a) << a << " vs " << b;
}

TEST_F(AdaptLlamaCli, ThreeStagesBeatDirectMappingOnHeldOutText) {
  Result r = gc("adapt --model " + dir_ + "/mha --data " + dir_ + "/data --out " + dir_ +
                "/adapted --linear-steps 50 --finetune-steps 30 --batch 4 --calib-batch 4 --context 64 --lr 1e-3"
                " --eval-batches 2 --seed 3 --threads 2");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto j = nlohmann::json::parse(read_file(dir_ + "/adapted/adapt_summary.json"));
  auto cal = j["stages"]["calibration"];
  EXPECT_EQ(j["stages"]["linear"]["attention"], "gaincell-linear");
  EXPECT_EQ(j["stages"]["finetune"]["attention"], "gaincell");
  // 5 layers x (q, out: 8 query heads; k, v: 8 KV heads) x 2 criteria.
  EXPECT_EQ(cal["trace"][0]["criteria"], 5 * (2 * 8 + 2 * 8) * 2);
  EXPECT_TRUE(double(cal["mismatch_after"]["max_mean_error"]) < 0.1 * double(cal["mismatch_before"]["max_mean_error"]))
      << cal["mismatch_after"] << cal["mismatch_before"];
  const double softmax = perplexity(dir_ + "/mha", "", dir_ + "/held.txt");
  const double direct = perplexity(dir_ + "/mha", "--attention gaincell", dir_ + "/held.txt");
  const double adapted =
      perplexity(dir_ + "/adapted", "--attention gaincell --hw " + dir_ + "/adapted/hardware.toml", dir_ + "/held.txt");
  std::printf("stories260K (KV heads expanded), held-out perplexity: softmax %.3f, direct mapping %.3f, adapted %.3f\n",
              softmax, direct, adapted);
  // Measured: softmax 3.79, direct mapping 57.7, adapted 21.9 (the adapted model's held-out NLL is ~1 nat lower).
  EXPECT_TRUE(adapted < 0.6 * direct) << adapted << " vs direct " << direct;
  EXPECT_TRUE(softmax < adapted) << softmax << " vs adapted " << adapted;
}

TEST_F(AdaptLlamaCli, GroupedQueryCalibrationPerKvHead) {
  record_targets(dir_ + "/gqa", dir_ + "/data", dir_ + "/gqa_linear");
  Result r = gc("adapt --model " + dir_ + "/gqa_linear --data " + dir_ + "/data --out " + dir_ +
                "/gqa_cal --calib-batch 4 --context 64 --seed 3 --threads 2");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto cal = nlohmann::json::parse(read_file(dir_ + "/gqa_cal/adapt_summary.json"))["stages"]["calibration"];
  // 5 layers x (q, out: 8 query heads; k, v: 4 KV heads) x 2 criteria: k and v are calibrated once per KV head.
  EXPECT_EQ(cal["trace"][0]["criteria"], 5 * (2 * 8 + 2 * 4) * 2);
  EXPECT_TRUE(double(cal["mismatch_after"]["max_mean_error"]) < 0.1 * double(cal["mismatch_before"]["max_mean_error"]))
      << cal["mismatch_after"] << cal["mismatch_before"];
  EXPECT_TRUE(double(cal["mismatch_after"]["max_std_error"]) < 0.1 * double(cal["mismatch_before"]["max_std_error"]))
      << cal["mismatch_after"] << cal["mismatch_before"];
  // The backend's k/v scalers: per KV head ([4]) or per query head ([8], each query head holding its KV head's).
  Model m = Model::load(dir_ + "/gqa_cal");
  for (const auto& [name, shape] : m.extra_table()) {
    const bool kv = name.find(".gaincell.k.") != std::string::npos || name.find(".gaincell.v.") != std::string::npos;
    if (!kv || name.find("target") != std::string::npos) continue;
    ASSERT_EQ(shape.size(), 1u) << name;
    if (shape[0] == 4) continue;
    ASSERT_EQ(shape[0], 8) << name;
    const float* a = m.find_extra(name, 8);
    for (int h = 0; h < 8; h += 2) EXPECT_EQ(a[h], a[h + 1]) << name << " query heads " << h << ", " << h + 1;
  }
  Result g = gc("generate --model " + dir_ + "/gqa_cal --attention gaincell --hw " + dir_ +
                "/gqa_cal/hardware.toml --prompt 'Once' -n 4 --seed 1");
  EXPECT_EQ(g.rc, 0) << g.err;
  // Fine-tuning through the gain-cell backend trains the grouped-query model: its k/v scalers stay per KV head.
  r = gc("adapt --model " + dir_ + "/gqa_linear --data " + dir_ + "/data --out " + dir_ +
         "/gqa_ft --calib-batch 2 --context 32 --calib-iterations 2 --finetune-steps 2 --threads 2");
  ASSERT_EQ(r.rc, 0) << r.err;
  Model ft = Model::load(dir_ + "/gqa_ft");
  int kv_tensors = 0;
  for (const auto& [name, shape] : ft.extra_table()) {
    const bool kv = name.find(".gaincell.k.") != std::string::npos || name.find(".gaincell.v.") != std::string::npos;
    if (!kv || name.find("target") != std::string::npos) continue;
    ASSERT_EQ(shape.size(), 1u) << name;
    EXPECT_EQ(shape[0], 4) << name;  // n_kv_head
    ++kv_tensors;
  }
  EXPECT_EQ(kv_tensors, 5 * 2 * 2) << "layers x {k, v} x {scale, shift}";
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
