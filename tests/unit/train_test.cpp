// Training engine: whole-model gradients against finite differences, AdamW / schedule / clipping against
// their formulas, bit-identical results at 1 and 2 threads, bit-identical resume, and token-file validation.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <memory>

#include "core/bf16.h"
#include "core/error.h"
#include "core/file.h"
#include "core/rng.h"
#include "io/safetensors.h"
#include "io/token_file.h"
#include "kernels/threads.h"
#include "model/attention.h"
#include "test_paths.h"
#include "train/trainer.h"

namespace gaincell {
namespace GAINCELL_UNITY_ID {

Gpt2Config small_config(int C, int V, int P) {
  Gpt2Config c;
  c.n_layer = 2;
  c.n_head = 2;
  c.n_embd = C;
  c.vocab_size = V;
  c.n_positions = P;
  return c;
}

std::unique_ptr<Attention> softmax_for(const Gpt2Config& c) {
  register_digital_attention();
  AttentionContext ctx = attention_context(c);
  return attention_registry().create("softmax", ctx);
}

std::vector<int32_t> random_ids(size_t n, int V, uint64_t seed) {
  Rng r(seed);
  std::vector<int32_t> v(n);
  for (auto& x : v) x = static_cast<int32_t>(r.next_u64() % V);
  return v;
}

// Every parameter tensor, three entries each, against central differences of the double-accumulated loss.
// Steps of 2e-3: GPT-2 initialisation makes the residual stream ~0.02, so LayerNorm curves on that scale and
// larger steps give O(h^2) errors of several percent; smaller ones drown in float rounding. The loss is smooth
// (softmax attention, tanh GELU), so no point needs excluding.
void check_model_gradients(float distill) {
  const Gpt2Config c = small_config(8, 24, 8);
  Gpt2 init = Gpt2::random(c, 3);
  auto att = softmax_for(c);
  TrainModel m(init, *att);
  const int B = 2, T = 4;
  auto tokens = random_ids(B * T, c.vocab_size, 4), targets = random_ids(B * T, c.vocab_size, 5);
  std::vector<float> teacher(static_cast<size_t>(B) * T * c.vocab_size);
  Rng r(6);
  for (float& x : teacher) x = static_cast<float>(r.normal());
  auto loss = [&] {
    m.forward(tokens.data(), B, T);
    m.zero_grad();
    return m.backward(targets.data(), distill > 0 ? teacher.data() : nullptr, distill, 1.0f);
  };
  loss();
  std::vector<float> grads(m.grads(), m.grads() + m.num_params());
  for (const TensorSpan& t : m.tensors()) {
    for (int64_t k : {int64_t{0}, t.numel / 2, t.numel - 1}) {
      float* p = m.params() + t.offset + k;
      const float p0 = *p, h = 2e-3f;
      *p = p0 + h;
      const double lp = loss();
      *p = p0 - h;
      const double lm = loss();
      *p = p0;
      const double fd = (lp - lm) / (double(p0 + h) - double(p0 - h));
      EXPECT_NEAR(grads[t.offset + k], fd, 3e-4 + 2e-2 * std::fabs(fd)) << t.name << "[" << k << "]";
    }
  }
}

TEST(TrainModel, GradientsMatchFiniteDifferences) {
  check_model_gradients(0.0f);
}
TEST(TrainModel, DistillationGradientsMatchFiniteDifferences) {
  check_model_gradients(0.3f);
}

TEST(TrainModel, LossOfRandomModelIsNearLogVocab) {
  const Gpt2Config c = small_config(16, 50, 16);
  Gpt2 init = Gpt2::random(c, 1);
  auto att = softmax_for(c);
  TrainModel m(init, *att);
  auto tokens = random_ids(32, c.vocab_size, 2), targets = random_ids(32, c.vocab_size, 3);
  m.forward(tokens.data(), 2, 16);
  EXPECT_NEAR(m.loss(targets.data()), std::log(50.0), 0.05);
  EXPECT_THROW(m.forward(tokens.data(), 1, 17), Error);  // past n_positions
  tokens[3] = 50;
  EXPECT_THROW(m.forward(tokens.data(), 2, 16), Error);
}

TEST(Optimizer, AdamWStepMatchesFormula) {
  std::vector<float> p = {1.0f, -2.0f, 0.5f}, g = {0.1f, -0.3f, 0.0f};
  std::vector<ParamSpan> spans = {{"w", p.data(), g.data(), 2, true}, {"b", p.data() + 2, g.data() + 2, 1, false}};
  AdamW adam(spans, AdamWConfig{});
  adam.step(1e-2f, 1);
  // Step 1: m = 0.1 g, v = 0.05 g^2, bias-corrected m/sqrt(v) = sign(g); decayed tensor first shrinks.
  EXPECT_NEAR(p[0], 1.0 * (1 - 1e-3) - 1e-2 * 0.1 / (0.1 + 1e-8), 1e-6);
  EXPECT_NEAR(p[1], -2.0 * (1 - 1e-3) + 1e-2, 1e-6);
  EXPECT_FLOAT_EQ(p[2], 0.5f);  // zero gradient, no decay on 1-D
}

// The fused pass (AdamWFusion: zero the gradients, write the new values rounded to bf16) gives the values and
// moments of the plain pass, bit for bit, over three steps of spans that end inside and on a chunk and a vector;
// the gradients are left at zero, the bf16 copy is to_bf16 of every value inside its range and untouched outside.
TEST(Optimizer, FusedStepIsThePlainStepPlusZeroedGradsAndBf16Copy) {
  const std::vector<int64_t> sizes = {5, (1 << 14) + 3, 16, 1 << 14, 37};
  int64_t n = 0;
  for (int64_t k : sizes) n += k;
  std::vector<float> p0(n);
  Rng r(3);
  for (float& x : p0) x = static_cast<float>(r.normal());
  std::vector<float> pa = p0, pb = p0, ga(n), gb(n);
  const int64_t in_range = n - sizes.back();  // the last span lies outside the bf16 range
  std::vector<uint16_t> copy(n, 0xABCD);
  auto spans_of = [&](std::vector<float>& p, std::vector<float>& g) {
    std::vector<ParamSpan> s;
    int64_t at = 0;
    for (size_t i = 0; i < sizes.size(); ++i) {
      s.push_back({"t" + std::to_string(i), p.data() + at, g.data() + at, sizes[i], i % 2 == 0});
      at += sizes[i];
    }
    return s;
  };
  AdamW a(spans_of(pa, ga), AdamWConfig{}), b(spans_of(pb, gb), AdamWConfig{});
  for (int t = 1; t <= 3; ++t) {
    for (int64_t i = 0; i < n; ++i) ga[i] = gb[i] = static_cast<float>(r.normal()) * (i % 7 == 0 ? 0.0f : 0.3f);
    a.step(1e-2f, t, 0.75f);
    AdamWFusion fuse;
    fuse.zero_grads = true;
    fuse.bf16_base = pb.data();
    fuse.bf16 = copy.data();
    fuse.bf16_count = in_range;
    b.step(1e-2f, t, 0.75f, fuse);
    ASSERT_EQ(std::memcmp(pa.data(), pb.data(), n * 4), 0) << "step " << t;
    ASSERT_EQ(std::memcmp(a.m(), b.m(), n * 4), 0) << "step " << t;
    ASSERT_EQ(std::memcmp(a.v(), b.v(), n * 4), 0) << "step " << t;
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_EQ(gb[i], 0.0f) << i;
      ASSERT_EQ(copy[i], i < in_range ? to_bf16(pb[i]) : uint16_t{0xABCD}) << i;
    }
  }
  EXPECT_NE(std::memcmp(pa.data(), p0.data(), n * 4), 0);  // the steps moved the values
}

// grad_norm sums each chunk of 2^14 gradients in double over four lanes, in a fixed order (same bits at any thread
// count), and runs four chunks interleaved: the result is the bits of the chunk-by-chunk reference below, for
// spans that end inside a chunk, on a chunk, inside a group of four and on one, at 1 and 2 threads.
TEST(Optimizer, GradNormIsTheChunkedDoubleSumInItsFixedOrder) {
  constexpr int64_t kChunk = 1 << 14;
  const std::vector<int64_t> sizes = {1, 5, kChunk - 1, kChunk, 4 * kChunk, 4 * kChunk + 3, 9 * kChunk + 7, 3 * kChunk};
  int64_t total = 0;
  for (int64_t n : sizes) total += n;
  std::vector<float> g(static_cast<size_t>(total));
  Rng r(8);
  // Magnitudes spread over 2^-20 .. 2^20, so that another order of the additions changes the last bits.
  for (float& x : g) x = std::ldexp(r.uniform() + 0.5f, static_cast<int>(r.next_u64() % 41) - 20);
  std::vector<ParamSpan> spans;
  double want = 0.0;
  int64_t at = 0;
  for (int64_t n : sizes) {
    spans.push_back({"s", nullptr, g.data() + at, n, true});
    for (int64_t b = 0; b < n; b += kChunk) {
      const int64_t e = std::min(n, b + kChunk);
      double acc[4] = {0.0, 0.0, 0.0, 0.0};
      int64_t i = b;
      for (; i + 4 <= e; i += 4)
        for (int l = 0; l < 4; ++l) acc[l] += double(g[at + i + l]) * g[at + i + l];
      for (; i < e; ++i) acc[0] += double(g[at + i]) * g[at + i];
      want += (acc[0] + acc[1]) + (acc[2] + acc[3]);
    }
    at += n;
  }
  want = std::sqrt(want);
  for (int threads : {1, 2}) {
    set_compute_threads(threads);
    const double got = grad_norm(spans);
    EXPECT_EQ(std::memcmp(&got, &want, sizeof got), 0) << threads << " threads: " << got << " vs " << want;
    // One group of four chunks alone, sixteen times over other data: each norm is then one group's sum.
    for (int trial = 0; trial < 16; ++trial) {
      const float* h = g.data() + trial * 1000;
      double acc_want = 0.0;
      for (int64_t b = 0; b < 4 * kChunk; b += kChunk) {
        double acc[4] = {0.0, 0.0, 0.0, 0.0};
        for (int64_t i = b; i < b + kChunk; i += 4)
          for (int l = 0; l < 4; ++l) acc[l] += double(h[i + l]) * h[i + l];
        acc_want += (acc[0] + acc[1]) + (acc[2] + acc[3]);
      }
      const std::vector<ParamSpan> one = {{"s", nullptr, const_cast<float*>(h), 4 * kChunk, true}};
      const double norm = grad_norm(one), norm_want = std::sqrt(acc_want);
      ASSERT_EQ(std::memcmp(&norm, &norm_want, sizeof norm), 0) << "trial " << trial << ": " << norm;
    }
  }
  set_compute_threads(0);
}

TEST(Optimizer, ClipAndSchedule) {
  std::vector<float> g = {3.0f, 4.0f};
  std::vector<ParamSpan> spans = {{"w", nullptr, g.data(), 2, true}};
  EXPECT_DOUBLE_EQ(clip_grad_norm(spans, 10.0), 5.0);
  EXPECT_FLOAT_EQ(g[0], 3.0f);
  EXPECT_DOUBLE_EQ(clip_grad_norm(spans, 1.0), 5.0);
  EXPECT_NEAR(std::hypot(g[0], g[1]), 1.0, 1e-6);
  LrSchedule s{1.0f, 0.1f, 4, 13};
  EXPECT_FLOAT_EQ(s.at(0), 0.25f);
  EXPECT_FLOAT_EQ(s.at(3), 1.0f);
  EXPECT_NEAR(s.at(8), 0.55, 1e-6);  // half-way through the cosine
  EXPECT_FLOAT_EQ(s.at(12), 0.1f);
  EXPECT_FLOAT_EQ(s.at(100), 0.1f);
}

// Three steps of a small model with OpenBLAS-sized GEMMs; returns the parameters.
std::vector<float> train_three_steps(int threads) {
  set_compute_threads(threads);
  const Gpt2Config c = small_config(64, 300, 32);
  Gpt2 init = Gpt2::random(c, 7);
  auto att = softmax_for(c);
  TrainModel m(init, *att);
  TrainOptions o;
  o.batch = 4;
  o.context = 32;
  o.accum = 2;
  o.steps = 3;
  o.warmup = 1;
  Trainer t(m, o, nullptr);
  const size_t n = 2 * 4 * 32;
  for (int s = 0; s < 3; ++s) {
    auto in = random_ids(n, c.vocab_size, 10 + s), tg = random_ids(n, c.vocab_size, 20 + s);
    t.step_on(in.data(), tg.data());
  }
  set_compute_threads(0);
  return std::vector<float>(m.params(), m.params() + m.num_params());
}

TEST(Trainer, LogitsAndGradientsSameBitsAtOneAndTwoThreads) {
  std::vector<std::vector<float>> g(2);
  std::vector<std::vector<float>> act(2);
  const Gpt2Config c = small_config(64, 300, 32);
  Gpt2 init = Gpt2::random(c, 7);
  std::vector<TensorSpan> spans;
  for (int th = 1; th <= 2; ++th) {
    set_compute_threads(th);
    auto att = softmax_for(c);
    TrainModel m(init, *att);
    auto in = random_ids(128, c.vocab_size, 10), tg = random_ids(128, c.vocab_size, 20);
    const float* lg = m.forward(in.data(), 4, 32);
    act[th - 1].assign(lg, lg + 128 * 300);
    m.backward(tg.data(), nullptr, 0, 1);
    g[th - 1].assign(m.grads(), m.grads() + m.num_params());
    spans = m.tensors();
  }
  EXPECT_EQ(act[0], act[1]);
  for (auto& t : spans)
    EXPECT_EQ(std::memcmp(g[0].data() + t.offset, g[1].data() + t.offset, t.numel * 4), 0) << t.name;
  set_compute_threads(0);
}

TEST(Trainer, SameBitsAtOneAndTwoThreads) {
  auto a = train_three_steps(1), b = train_three_steps(2);
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);
}

struct RunResult {
  std::vector<float> params, m, v;
};

RunResult read_checkpoint(const std::string& dir) {
  Gpt2 g = Gpt2::load(dir);
  auto att = softmax_for(g.config());
  TrainModel m(g, *att);
  SafeTensorsFile st(dir + "/training_state.safetensors");
  RunResult r{std::vector<float>(m.params(), m.params() + m.num_params()), {}, {}};
  for (auto* out : {&r.m, &r.v}) {
    const TensorInfo* t = st.find(out == &r.m ? "adam.m" : "adam.v");
    out->resize(t->numel());
    st.to_f32(*t, out->data());
  }
  return r;
}

TEST(Trainer, ResumeIsBitIdentical) {
  const std::string dir = test::scratch_dir("train_resume");
  const Gpt2Config c = small_config(16, 64, 16);
  make_dirs(dir + "/data");
  write_token_file(dir + "/data/train.bin", random_ids(500, c.vocab_size, 1), c.vocab_size);
  write_token_file(dir + "/data/val.bin", random_ids(100, c.vocab_size, 2), c.vocab_size);
  TrainOptions o;
  o.data_dir = dir + "/data";
  o.batch = 2;
  o.context = 8;
  o.steps = 6;
  o.warmup = 2;
  o.eval_every = 2;
  o.seed = 9;
  auto run = [&](const std::string& out, int64_t stop_at, bool resume) {
    TrainOptions oo = o;
    oo.out_dir = out;
    make_dirs(out);
    const std::string ckpt = Trainer::latest_checkpoint(out);
    Gpt2 g = resume ? Gpt2::load(ckpt) : Gpt2::random(c, 5);
    auto att = softmax_for(c);
    TrainModel m(g, *att);
    Trainer t(m, oo, nullptr);
    if (resume) t.load_state(ckpt);
    while (t.steps_done() < stop_at) t.step();
    t.save_checkpoint();
  };
  run(dir + "/straight", 6, false);
  run(dir + "/split", 3, false);
  run(dir + "/split", 6, true);
  RunResult a = read_checkpoint(dir + "/straight/ckpt-00000006");
  RunResult b = read_checkpoint(dir + "/split/ckpt-00000006");
  EXPECT_FALSE(file_exists(dir + "/split/ckpt-00000003/model.safetensors"));  // older checkpoint removed
  EXPECT_EQ(a.params, b.params);
  EXPECT_EQ(a.m, b.m);
  EXPECT_EQ(a.v, b.v);
  // A resume with another batch size is refused.
  TrainOptions bad = o;
  bad.batch = 3;
  bad.out_dir = dir + "/split";
  Gpt2 g = Gpt2::random(c, 5);
  auto att = softmax_for(c);
  TrainModel m(g, *att);
  Trainer t(m, bad, nullptr);
  EXPECT_THROW(t.load_state(dir + "/split/ckpt-00000006"), Error);
}

// Token files: round trip and every hostile case rejected with Error("tokens").
TEST(TokenFile, RoundTripAndHostileFiles) {
  const std::string dir = test::scratch_dir("token_file");
  const std::vector<int32_t> ids = {0, 5, 65535, 17};
  write_token_file(dir + "/a.bin", ids, 65536);
  TokenFile f = TokenFile::load(dir + "/a.bin");
  ASSERT_EQ(f.size(), 4);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(f.at(i), ids[i]);
  write_token_file(dir + "/b.bin", {70000, 1}, 100000);  // 4-byte ids
  EXPECT_EQ(TokenFile::load(dir + "/b.bin").at(0), 70000);
  EXPECT_THROW(write_token_file(dir + "/c.bin", {7}, 7), Error);

  const std::string good = read_file(dir + "/a.bin");
  auto expect_rejected = [&](std::string bytes, const std::string& what, int64_t vocab = 0) {
    write_file_atomic(dir + "/h.bin", bytes);
    try {
      TokenFile::load(dir + "/h.bin", vocab);
      ADD_FAILURE() << what << " accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.component(), "tokens") << what;
    }
  };
  std::string s = good;
  s[0] = 'X';
  expect_rejected(s, "bad magic");
  s = good;
  s[8] = 2;
  expect_rejected(s, "bad version");
  s = good;
  s[12] = 3;
  expect_rejected(s, "3-byte ids");
  expect_rejected(good.substr(0, good.size() - 1), "truncated data");
  expect_rejected(good.substr(0, 20), "truncated header");
  expect_rejected(good + "xx", "trailing data");
  s = good;
  s[23] = 0x40;  // count = huge
  expect_rejected(s, "count past the file");
  s = good;
  s[24] = 10;  // vocab_size 10 < id 65535
  s[25] = 0;
  s[26] = 0;
  expect_rejected(s, "id >= header vocab");
  expect_rejected(good, "id >= model vocab", 50257);
  expect_rejected("", "empty file");
}

}  // namespace GAINCELL_UNITY_ID
}  // namespace gaincell
