// Whole-model training parity with PyTorch autograd (goldens: tools/train_reference/make_train_goldens.py,
// float64 reference, tests/data/train_parity/). The C++ engine runs in float32, so every tolerance below is a
// float32 rounding budget: activations O(1) carry ~1e-7 relative error per op, a few hundred ops deep.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "model/attention.h"
#include "train_goldens.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {

constexpr int kB = 2, kT = 8, kAccum = 2, kSteps = 10;

struct Goldens : test::TrainGoldens {
  Goldens() : TrainGoldens("train_parity", kT) {}
};

std::unique_ptr<Attention> softmax_for(const Gpt2Config& c) {
  register_digital_attention();
  AttentionContext ctx = attention_context(c);
  return attention_registry().create("softmax", ctx);
}

TEST(TrainParity, LogitsLossAndEveryGradientAtStepZero) {
  Goldens g;
  auto att = softmax_for(g.model.config());
  TrainModel m(g.model, *att);
  const int64_t per = kB * kT, V = g.model.config().vocab_size;
  const float* logits = m.forward(g.inputs.data(), kB, kT);
  auto want = g.tensor("logits");
  ASSERT_EQ(want.size(), static_cast<size_t>(per * V));
  // logits are O(3); float32 through 2 blocks: ~1e-6, with margin
  EXPECT_TRUE(test::all_within(logits, want.data(), int64_t(want.size()), 2e-5));
  EXPECT_NEAR(m.loss(g.targets.data()), g.tensor("loss0")[0], 1e-5);

  test::step0_gradients(m, g, kB, kT, kAccum);
  for (const TensorSpan& t : m.tensors()) {
    auto ref = g.tensor("grad." + t.name);
    ASSERT_EQ(ref.size(), static_cast<size_t>(t.numel)) << t.name;
    test::Deviation d = test::deviation(m.grads() + t.offset, ref);
    // Gradients are sums of many float32 products: 1e-4 of the tensor's largest entry (+1e-7 absolute for
    // tensors whose gradient is tiny, e.g. unused wpe rows are exactly zero in both).
    EXPECT_LE(d.err, 1e-4 * d.scale + 1e-7) << t.name << " max |grad| " << d.scale << ", " << d.worst.describe();
  }
}

TEST(TrainParity, TenAdamWStepsWithWarmupCosineAndClipping) {
  Goldens g;
  auto att = softmax_for(g.model.config());
  TrainModel m(g.model, *att);
  TrainOptions o = test::parity_train_options(kB, kT, kAccum, kSteps);
  Trainer t(m, o, nullptr);
  auto want = g.tensor("step_loss");
  const int64_t per_step = int64_t{kAccum} * kB * kT;
  for (int s = 0; s < kSteps; ++s) {
    StepRecord r = t.step_on(g.inputs.data() + s * per_step, g.targets.data() + s * per_step);
    // Adam normalises each update to ~lr per entry, so float32 gradient noise on near-zero entries moves
    // parameters by up to ~lr; the loss stays within ~1e-4 relative over 10 steps.
    EXPECT_NEAR(r.loss, want[s], 5e-4 * want[s]) << "step " << s;
    EXPECT_LE(r.lr, o.lr);
  }
  m.forward(g.inputs.data(), kB, kT);
  const double final_loss = m.loss(g.targets.data());
  EXPECT_NEAR(final_loss, g.tensor("final_loss")[0], 5e-4 * final_loss);
  EXPECT_LT(final_loss, g.tensor("loss0")[0] - 0.2);  // the steps really trained
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
