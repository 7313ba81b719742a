// The whole-model training goldens of tools/train_reference/make_train_goldens.py (softmax),
// make_train_gaincell_goldens.py (gaincell-linear) and their Llama counterparts: a model folder, batches.json
// ([step][micro-batch][B][T + 1] windows: inputs are the first T ids, targets the last T) and expected.safetensors
// (float32 tensors).
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "expect_close.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "model/gpt2.h"
#include "test_paths.h"
#include "train/trainer.h"

namespace gaincell::test {

struct TrainGoldens {
  Gpt2 model;
  SafeTensorsFile expected;
  std::vector<int32_t> inputs, targets;  // [step][accum][B][T]

  // run: a subfolder of dir holding batches.json and expected.safetensors (several runs of one model).
  TrainGoldens(const std::string& dir, int T, const std::string& run = "")
      : model(Gpt2::load(data_path(dir))), expected(data_path(run_dir(dir, run) + "/expected.safetensors")) {
    auto j = load_json_file(data_path(run_dir(dir, run) + "/batches.json"), "test");
    for (const auto& step : j)
      for (const auto& micro : step)
        for (const auto& row : micro)
          for (int t = 0; t < T; ++t) {
            inputs.push_back(row[t].get<int32_t>());
            targets.push_back(row[t + 1].get<int32_t>());
          }
  }
  static std::string run_dir(const std::string& dir, const std::string& run) {
    return run.empty() ? dir : dir + "/" + run;
  }
  std::vector<float> tensor(const std::string& name) const {
    const TensorInfo* t = expected.find(name);
    EXPECT_NE(t, nullptr) << name;
    std::vector<float> v(t ? t->numel() : 0);
    if (t) expected.to_f32(*t, v.data());
    return v;
  }
};

// Largest |got - want| (where: worst) and largest |want| over want.size() values; err is NaN when any value is
// (tests/expect_close.h), so `EXPECT_LE(d.err, bound)` fails on a NaN.
struct Deviation {
  double err = 0, scale = 0;
  Worst worst;
};

inline Deviation deviation(const float* got, const std::vector<float>& want) {
  Deviation d;
  d.worst = worst_abs_diff(got, want.data(), int64_t(want.size()));
  d.err = d.worst.err;
  d.scale = max_abs(want);
  return d;
}

// The gradient of step 0 of the goldens: zero_grad, then forward and backward of each of the first `accum`
// micro-batches of B x T tokens, each scaled by 1 / accum (the generators' mean over micro-batches).
inline void step0_gradients(TrainModel& m, const TrainGoldens& g, int B, int T, int accum) {
  const int64_t per = int64_t{B} * T;
  m.zero_grad();
  for (int a = 0; a < accum; ++a) {
    m.forward(g.inputs.data() + a * per, B, T);
    m.backward(g.targets.data() + a * per, nullptr, 0.0f, 1.0f / accum);
  }
}

// Compares every "final.<name>" tensor of the goldens (values after the training steps) with the model's weight
// tensor or attention parameter <name>: largest |got - want| <= tol. Returns how many tensors were compared.
inline int expect_final_values(TrainModel& m, const TrainGoldens& g, double tol) {
  int checked = 0;
  for (const TensorInfo& e : g.expected.tensors()) {
    if (e.name.rfind("final.", 0) != 0) continue;
    const std::string name = e.name.substr(6);
    const float* got = nullptr;
    for (const TensorSpan& s : m.tensors())
      if (s.name == name) got = m.params() + s.offset;
    for (const ParamView& p : m.attention_params())
      if (p.name == name) got = p.value;
    EXPECT_NE(got, nullptr) << name;
    if (!got) continue;
    Deviation d = deviation(got, g.tensor(e.name));
    EXPECT_LE(d.err, tol) << name << " max |value| " << d.scale << ", " << d.worst.describe();
    ++checked;
  }
  return checked;
}

// The training run of both generators (make_train_goldens.py: LR, MIN_LR, WARMUP, CLIP, WD).
inline TrainOptions parity_train_options(int B, int T, int accum, int steps) {
  TrainOptions o;
  o.batch = B;
  o.context = T;
  o.accum = accum;
  o.steps = steps;
  o.lr = 1e-2f;
  o.min_lr = 1e-3f;
  o.warmup = 3;
  o.grad_clip = 1.0f;
  o.weight_decay = 0.1f;
  return o;
}

}  // namespace gaincell::test
