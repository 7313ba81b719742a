#include "train/trainer.h"

#include <chrono>
#include <cstring>
#include <filesystem>

#include "core/dist.h"
#include "core/error.h"
#include "core/file.h"
#include "io/safetensors.h"
#include "kernels/bf16.h"
#include "kernels/gemm_bf16.h"

namespace gaincell {
namespace fs = std::filesystem;

namespace {

constexpr int kStateVersion = 1;
constexpr uint64_t kDataStream = 1, kEvalStream = 2;

double seconds_now() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

std::string ckpt_name(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "ckpt-%08lld", static_cast<long long>(step));
  return buf;
}

}  // namespace

Trainer::Trainer(TrainModel& model, const TrainOptions& options, TrainModel* teacher)
    : model_(model), options_(options), teacher_(teacher), data_rng_(Rng(options.seed).split(kDataStream)) {
  const TrainOptions& o = options_;
  if (o.steps < 1 || o.batch < 1 || o.context < 1 || o.accum < 1)
    fail_expected("train", "steps, batch, context and accum >= 1",
                  std::to_string(o.steps) + ", " + std::to_string(o.batch) + ", " + std::to_string(o.context) + ", " +
                      std::to_string(o.accum));
  if (o.context > model.config().n_positions)
    fail_expected("train", "--context <= n_positions = " + std::to_string(model.config().n_positions),
                  std::to_string(o.context));
  if (!(o.lr > 0.0f) || o.min_lr < 0.0f || o.min_lr > o.lr)
    fail_expected("train", "0 <= min_lr <= lr and lr > 0", std::to_string(o.min_lr) + ", " + std::to_string(o.lr));
  if (o.distill < 0.0f || o.distill > 1.0f) fail_expected("train", "--distill in [0, 1]", std::to_string(o.distill));
  if (o.distill > 0.0f && !teacher_) fail("train", "--distill > 0 needs a teacher model (--teacher)");
  if (teacher_ && teacher_->config().vocab_size != model.config().vocab_size)
    fail_expected("train", "a teacher with vocab_size " + std::to_string(model.config().vocab_size),
                  std::to_string(teacher_->config().vocab_size));
  if (!o.data_dir.empty()) {
    const int64_t V = model.config().vocab_size;
    train_ = std::make_unique<TokenFile>(TokenFile::load(o.data_dir + "/train.bin", V));
    val_ = std::make_unique<TokenFile>(TokenFile::load(o.data_dir + "/val.bin", V));
    for (const TokenFile* f : {train_.get(), val_.get()})
      if (f->size() < o.context + 1)
        fail_expected("train", "at least context + 1 = " + std::to_string(o.context + 1) + " tokens",
                      std::to_string(f->size()), "in '" + f->path() + "'");
  }
  schedule_ = LrSchedule{o.lr, o.min_lr, o.warmup, o.decay_steps > 0 ? o.decay_steps : o.steps};
  adam_ = std::make_unique<AdamW>(spans(), AdamWConfig{0.9f, 0.95f, 1e-8f, o.weight_decay});
  const size_t n = static_cast<size_t>(o.accum) * o.batch * o.context;
  inputs_.resize(n);
  targets_.resize(n);
}

std::vector<ParamSpan> Trainer::spans() {
  std::vector<ParamSpan> s;
  for (const TensorSpan& t : model_.tensors())
    s.push_back({t.name, model_.params() + t.offset, model_.grads() + t.offset, t.numel, t.shape.size() >= 2});
  for (ParamView& p : model_.attention_params()) {
    int64_t n = 1;
    for (int64_t d : p.shape) n *= d;
    s.push_back({p.name, p.value, p.grad, n, p.weight_decay});
  }
  return s;
}

void Trainer::sample(int32_t* inputs, int32_t* targets, const TokenFile& file, Rng& rng) const {
  const int T = options_.context;
  const uint64_t starts = static_cast<uint64_t>(file.size() - T);  // windows of T + 1 tokens
  for (int b = 0; b < options_.batch; ++b) {
    const int64_t s = static_cast<int64_t>(rng.next_u64() % starts);
    file.copy(inputs + int64_t{b} * T, s, T);
    file.copy(targets + int64_t{b} * T, s + 1, T);
  }
}

StepRecord Trainer::step() {
  if (!train_) fail("train", "no training data (data_dir is empty)");
  const int64_t per = int64_t{options_.batch} * options_.context;
  for (int a = 0; a < options_.accum; ++a)
    sample(inputs_.data() + a * per, targets_.data() + a * per, *train_, data_rng_);
  return step_on(inputs_.data(), targets_.data());
}

StepRecord Trainer::step_on(const int32_t* inputs, const int32_t* targets) {
  const double t0 = seconds_now();
  const int B = options_.batch, T = options_.context;
  const int64_t per = int64_t{B} * T;
  // Data parallel under mpirun (core/dist.h): rank r of N takes sequences [B r / N, B (r + 1) / N) of every
  // micro-batch; its gradient is scaled by its share of the global batch, so the all-reduced sum is the gradient
  // of the global batch's mean loss, as one process computes it (up to float rounding).
  const int ranks = dist_size(), rank = dist_rank();
  const int b0 = int(int64_t{B} * rank / ranks), b1 = int(int64_t{B} * (rank + 1) / ranks), Bm = b1 - b0;
  const float scale = ranks == 1 ? 1.0f / static_cast<float>(options_.accum)
                                 : static_cast<float>(Bm) / static_cast<float>(int64_t{B} * options_.accum);
  StepRecord r;
  // The previous step's AdamW pass left the gradients at zero (AdamWFusion), and wrote the bf16 copy when this
  // step uses one: neither needs its own sweep over the parameters then.
  if (!grads_zero_) model_.zero_grad();
  grads_zero_ = false;
  // Under --precision bf16 with oneDNN's bf16 panels, the weights are rounded once per step for every projection
  // of the step's forward and backward passes (kernels/bf16.h set_bf16_shadow): the same bits as rounding per call.
  const bool shadow = matmul_precision() == MatmulPrecision::kBf16 && bf16_kernel() == Bf16Kernel::kDnnl;
  if (shadow && !shadow_current_) {
    const int64_t n = model_.num_params(), cols = 4096;
    if (weights_bf16_.size() != static_cast<size_t>(n)) weights_bf16_.resize(static_cast<size_t>(n));
    to_bf16_matrix(weights_bf16_.data(), model_.params(), n / cols, cols, cols);
    to_bf16_matrix(weights_bf16_.data() + n / cols * cols, model_.params() + n / cols * cols, 1, n % cols, cols);
  }
  shadow_current_ = false;
  Bf16ShadowScope shadow_scope(shadow ? model_.params() : nullptr, shadow ? weights_bf16_.data() : nullptr,
                               shadow ? model_.num_params() : 0);
  double loss = 0.0;
  for (int a = 0; a < options_.accum && Bm > 0; ++a) {
    const int64_t at = a * per + int64_t{b0} * T;
    model_.forward(inputs + at, Bm, T);
    const float* teacher = nullptr;
    if (options_.distill > 0.0f) teacher = teacher_->forward(inputs + at, Bm, T);
    const double l = model_.backward(targets + at, teacher, options_.distill, scale);
    loss += ranks == 1 ? l : l * Bm / B;
  }
  clear_bf16_shadow();  // the optimizer changes the weights next
  if (ranks > 1) {
    dist_allreduce_sum(&loss, 1);
    float* run = nullptr;  // contiguous gradient spans (the model's tensors) go in one reduction
    size_t len = 0;
    for (const ParamSpan& p : adam_->spans()) {
      if (run && run + len == p.grad) {
        len += size_t(p.numel);
        continue;
      }
      if (run) dist_allreduce_sum(run, len);
      run = p.grad, len = size_t(p.numel);
    }
    if (run) dist_allreduce_sum(run, len);
    // The backend's persistent statistics (the gain-cell target EMAs that adaptation records) saw this rank's
    // sequences only: every rank continues from their mean over the ranks.
    for (ParamView& b : model_.attention().buffers()) {
      int64_t n = 1;
      for (int64_t d : b.shape) n *= d;
      dist_allreduce_sum(b.value, size_t(n));
      for (int64_t i = 0; i < n; ++i) b.value[i] /= static_cast<float>(ranks);
    }
  }
  r.loss = loss / options_.accum;
  r.grad_norm = grad_norm(adam_->spans());
  r.lr = schedule_.at(step_);
  ++step_;
  // Clipping fused into the update, and the next step's gradient zeroing and (bf16) weight rounding too.
  AdamWFusion fuse;
  fuse.zero_grads = true;
  if (shadow) fuse.bf16_base = model_.params(), fuse.bf16 = weights_bf16_.data(), fuse.bf16_count = model_.num_params();
  adam_->step(r.lr, step_, clip_factor(r.grad_norm, options_.grad_clip), fuse);
  grads_zero_ = true;
  shadow_current_ = shadow;
  r.step = step_;
  r.seconds = seconds_now() - t0;
  return r;
}

double Trainer::evaluate() {
  if (!val_) fail("train", "no validation data (data_dir is empty)");
  Rng rng = Rng(options_.seed).split(kEvalStream);  // the same windows at every evaluation
  const int B = options_.batch, T = options_.context;
  std::vector<int32_t> in(static_cast<size_t>(B) * T), tg(in.size());
  double sum = 0.0;
  for (int i = 0; i < options_.eval_batches; ++i) {
    sample(in.data(), tg.data(), *val_, rng);
    model_.forward(in.data(), B, T);
    sum += model_.loss(tg.data());
  }
  return options_.eval_batches > 0 ? sum / options_.eval_batches : 0.0;
}

void Trainer::run(const std::function<void(const StepRecord&)>& on_step) {
  while (step_ < options_.steps) {
    StepRecord r = step();
    const bool last = step_ == options_.steps;
    if (options_.eval_batches > 0 && (last || (options_.eval_every > 0 && step_ % options_.eval_every == 0))) {
      r.has_eval = true;
      r.val_loss = evaluate();
    }
    if (last || (options_.checkpoint_every > 0 && step_ % options_.checkpoint_every == 0)) save_checkpoint();
    if (on_step) on_step(r);
  }
}

void Trainer::save_checkpoint() {
  // Under mpirun every rank holds the same parameters and state: rank 0 writes, the others wait until the
  // checkpoint is complete (a rank that fails aborts the job; the files are atomic, the pointer moves last).
  if (!dist_root()) return dist_barrier();
  save_checkpoint_files();
  dist_barrier();
}

void Trainer::save_checkpoint_files() {
  const std::string name = ckpt_name(step_);
  const std::string dir = options_.out_dir + "/" + name;
  make_dirs(dir);
  model_.snapshot().save(dir);
  SafeTensorsWriter w;
  const int64_t n = adam_->size();
  w.add_f32_borrowed("adam.m", {n}, adam_->m());
  w.add_f32_borrowed("adam.v", {n}, adam_->v());
  w.set_metadata("format", "gaincell-training-state");
  w.set_metadata("version", std::to_string(kStateVersion));
  w.set_metadata("step", std::to_string(step_));
  w.set_metadata("rng_key", std::to_string(data_rng_.key()));
  w.set_metadata("rng_counter", std::to_string(data_rng_.counter()));
  w.set_metadata("seed", std::to_string(options_.seed));
  w.set_metadata("batch", std::to_string(options_.batch));
  w.set_metadata("context", std::to_string(options_.context));
  w.set_metadata("accum", std::to_string(options_.accum));
  w.set_metadata("attention", model_.attention().name());
  w.write(dir + "/training_state.safetensors");
  write_file_atomic(options_.out_dir + "/latest", name + "\n");
  for (const auto& e : fs::directory_iterator(options_.out_dir)) {  // older checkpoints are now redundant
    const std::string f = e.path().filename().string();
    if (e.is_directory() && f.rfind("ckpt-", 0) == 0 && f != name) fs::remove_all(e.path());
  }
}

std::string Trainer::latest_checkpoint(const std::string& out_dir) {
  const std::string pointer = out_dir + "/latest";
  if (!file_exists(pointer)) return "";
  std::string name = read_file(pointer, 256);
  while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) name.pop_back();
  if (name.rfind("ckpt-", 0) != 0 || name.find('/') != std::string::npos)
    fail_expected("train", "a checkpoint name 'ckpt-<step>'", "'" + name + "'", "in '" + pointer + "'");
  return out_dir + "/" + name;
}

void Trainer::load_state(const std::string& checkpoint_dir) {
  const std::string path = checkpoint_dir + "/training_state.safetensors";
  if (!file_exists(path)) fail("train", "missing training_state.safetensors in '" + checkpoint_dir + "'");
  SafeTensorsFile f(path);
  const auto& md = f.metadata();
  auto meta = [&](const std::string& key) -> std::string {
    auto it = md.find(key);
    if (it == md.end()) fail("train", "missing metadata '" + key + "' in '" + path + "'");
    return it->second;
  };
  auto number = [&](const std::string& key) -> uint64_t {
    const std::string s = meta(key);
    char* end = nullptr;
    errno = 0;
    const unsigned long long v = std::strtoull(s.c_str(), &end, 10);
    if (s.empty() || *end != '\0' || errno != 0)
      fail_expected("train", "an unsigned integer for metadata '" + key + "'", "'" + s + "'", "in '" + path + "'");
    return v;
  };
  if (meta("format") != "gaincell-training-state" || number("version") != kStateVersion)
    fail_expected("train", "a gaincell training state, version " + std::to_string(kStateVersion),
                  "'" + meta("format") + "' version '" + meta("version") + "'", "in '" + path + "'");
  auto same = [&](const std::string& key, uint64_t want) {
    if (number(key) != want)
      fail_expected("train", key + " " + std::to_string(want) + " (as given now)", std::to_string(number(key)),
                    "in the checkpoint '" + path + "'; resume needs the same value");
  };
  same("seed", options_.seed);
  same("batch", static_cast<uint64_t>(options_.batch));
  same("context", static_cast<uint64_t>(options_.context));
  same("accum", static_cast<uint64_t>(options_.accum));
  if (meta("attention") != model_.attention().name())
    fail_expected("train", "attention '" + model_.attention().name() + "'", "'" + meta("attention") + "'",
                  "in the checkpoint '" + path + "'");
  const int64_t n = adam_->size();
  for (const char* name : {"adam.m", "adam.v"}) {
    const TensorInfo* t = f.find(name);
    if (!t || t->dtype != DType::kF32 || t->numel() != n)
      fail_expected("train", "F32 tensor '" + std::string(name) + "' of " + std::to_string(n) + " values",
                    t ? std::to_string(t->numel()) + " values" : "none", "in '" + path + "'");
    f.to_f32(*t, std::string(name) == "adam.m" ? adam_->m() : adam_->v());
  }
  step_ = static_cast<int64_t>(number("step"));
  data_rng_.restore(number("rng_key"), number("rng_counter"));
}

}  // namespace gaincell
