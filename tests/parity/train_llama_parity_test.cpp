// Whole-model training parity of Llama-family models with PyTorch autograd (goldens:
// tools/train_reference/make_llama_train_goldens.py, float64 reference, tests/data/train_llama_parity/<case>/):
// logits, loss and the gradient of every parameter at step 0, then 10 AdamW steps with warm-up, cosine decay,
// clipping and 2 micro-batches, as train_parity_test.cpp does for GPT-2, with the same float32 tolerances.
// Cases: "gqa" (2 layers, 4 heads / 2 KV heads, tied, no biases, HF half-split rotary pairs) and "untied"
// (1 layer, 4 heads / 1 KV head, q/k/v/o and MLP biases, untied lm_head, Meta's interleaved rotary pairs, set
// on the config here because config.json has no key for it).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "model/attention.h"
#include "model/weights.h"
#include "train_goldens.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {

constexpr int kB = 2, kT = 8, kAccum = 2, kSteps = 10;

struct Case {
  const char* name;
  RopePairs pairs;
};

// The golden model with its rotary pair order set, as a view over a copy of its parameters in table order.
struct CaseModel {
  test::TrainGoldens g;
  std::vector<float> store;
  Model model;

  explicit CaseModel(const Case& c) : g("train_llama_parity/" + std::string(c.name), kT), model(view(c)) {}

  Model view(const Case& c) {
    ModelConfig cfg = g.model.config();
    cfg.rope_pairs = c.pairs;
    for (const WeightSpec& s : weight_table(cfg)) {
      const float* d = g.model.tensor_data(s.name);
      store.insert(store.end(), d, d + s.numel());
    }
    return Model::view(cfg, store.data(), g.model.source_dir());
  }
};

std::unique_ptr<Attention> softmax_for(const ModelConfig& c) {
  register_digital_attention();
  return attention_registry().create("softmax", attention_context(c));
}

class TrainLlamaParity : public ::testing::TestWithParam<Case> {};

TEST_P(TrainLlamaParity, LogitsLossAndEveryGradientAtStepZero) {
  CaseModel cm(GetParam());
  test::TrainGoldens& g = cm.g;
  ASSERT_FALSE(cm.model.config().is_gpt2());
  ASSERT_LT(cm.model.config().kv_heads(), cm.model.config().n_head);  // grouped-query attention
  auto att = softmax_for(cm.model.config());
  TrainModel m(cm.model, *att);
  const int64_t per = kB * kT, V = cm.model.config().vocab_size;
  const float* logits = m.forward(g.inputs.data(), kB, kT);
  auto want = g.tensor("logits");
  ASSERT_EQ(want.size(), static_cast<size_t>(per * V));
  EXPECT_TRUE(test::all_within(logits, want.data(), int64_t(want.size()), 2e-5));
  const double loss0 = m.loss(g.targets.data());
  EXPECT_TRUE(std::fabs(loss0 - g.tensor("loss0")[0]) <= 1e-5) << loss0;

  test::step0_gradients(m, g, kB, kT, kAccum);
  size_t checked = 0;
  for (const TensorSpan& t : m.tensors()) {
    auto ref = g.tensor("grad." + t.name);
    ASSERT_EQ(ref.size(), static_cast<size_t>(t.numel)) << t.name;
    test::Deviation d = test::deviation(m.grads() + t.offset, ref);
    EXPECT_GT(d.scale, 0.0) << t.name << ": every parameter of these models gets a gradient";
    EXPECT_LE(d.err, 1e-4 * d.scale + 1e-7) << t.name << " max |grad| " << d.scale << ", " << d.worst.describe();
    ++checked;
  }
  EXPECT_EQ(checked, weight_table(cm.model.config()).size());
}

TEST_P(TrainLlamaParity, TenAdamWStepsWithWarmupCosineAndClipping) {
  CaseModel cm(GetParam());
  test::TrainGoldens& g = cm.g;
  auto att = softmax_for(cm.model.config());
  TrainModel m(cm.model, *att);
  TrainOptions o = test::parity_train_options(kB, kT, kAccum, kSteps);
  Trainer t(m, o, nullptr);
  auto want = g.tensor("step_loss");
  const int64_t per_step = int64_t{kAccum} * kB * kT;
  for (int s = 0; s < kSteps; ++s) {
    StepRecord r = t.step_on(g.inputs.data() + s * per_step, g.targets.data() + s * per_step);
    EXPECT_TRUE(std::fabs(r.loss - want[s]) <= 5e-4 * want[s]) << "step " << s << ": " << r.loss << " vs " << want[s];
  }
  m.forward(g.inputs.data(), kB, kT);
  const double final_loss = m.loss(g.targets.data());
  EXPECT_TRUE(std::fabs(final_loss - g.tensor("final_loss")[0]) <= 5e-4 * final_loss) << final_loss;
  EXPECT_LT(final_loss, g.tensor("loss0")[0] - 0.2);  // the steps really trained
}

INSTANTIATE_TEST_SUITE_P(Cases, TrainLlamaParity,
                         ::testing::Values(Case{"gqa", RopePairs::kHalfSplit}, Case{"untied", RopePairs::kInterleaved}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
