#include "model/attention.h"

#include <algorithm>
#include <cstring>

#include "core/dist.h"
#include "core/error.h"
#include "core/parallel.h"
#include "model/model.h"

namespace gaincell {

void AttentionActivity::add(const AttentionActivity& o) {
  tokens += o.tokens;
  macs += o.macs;
  cell_writes += o.cell_writes;
  query_pulses += o.query_pulses;
  cell_reads += o.cell_reads;
  charge_to_pulse += o.charge_to_pulse;
  adc_conversions += o.adc_conversions;
  digital_adds += o.digital_adds;
}

void dist_sum_activity(std::vector<AttentionActivity>& per_layer) {
  if (dist_size() == 1) return;
  constexpr int kFields = 8;
  std::vector<double> v;  // counts below 2^53 add exactly in double
  for (const AttentionActivity& a : per_layer)
    v.insert(v.end(),
             {double(a.tokens), double(a.macs), double(a.cell_writes), double(a.query_pulses), double(a.cell_reads),
              double(a.charge_to_pulse), double(a.adc_conversions), double(a.digital_adds)});
  dist_allreduce_sum(v.data(), v.size());
  for (size_t l = 0; l < per_layer.size(); ++l) {
    const double* x = &v[l * kFields];
    per_layer[l] = AttentionActivity{int64_t(x[0]), int64_t(x[1]), int64_t(x[2]), int64_t(x[3]),
                                     int64_t(x[4]), int64_t(x[5]), int64_t(x[6]), int64_t(x[7])};
  }
}

void AttentionRegistry::add(const std::string& name, const std::string& help, AttentionFactory factory) {
  for (auto& e : entries_)
    if (e.name == name) {
      e.help = help;
      e.factory = std::move(factory);
      return;
    }
  entries_.push_back({name, help, std::move(factory)});
}

std::vector<std::string> AttentionRegistry::names() const {
  std::vector<std::string> n;
  for (auto& e : entries_) n.push_back(e.name);
  return n;
}

std::unique_ptr<Attention> AttentionRegistry::create(const std::string& name, const AttentionContext& ctx) const {
  const AttentionShape s = ctx.shape();
  if (s.n_kv_head < 1 || s.n_head % s.n_kv_head != 0)
    fail_expected("attention", "n_kv_head dividing n_head (" + std::to_string(s.n_head) + ")",
                  std::to_string(s.n_kv_head));
  for (auto& e : entries_)
    if (e.name == name) return e.factory(ctx);
  std::string known;
  for (auto& e : entries_) known += (known.empty() ? "" : "|") + e.name;
  fail_expected("attention", "one of " + known, "'" + name + "'");
}

void Attention::backward(const QkvGrad&, const float*, const QkvView&, int, int, int) {
  fail("attention", "backend '" + name() + "' has no backward pass (not trainable)");
}

QkvView fused_qkv(const float* qkv, const AttentionShape& s) {
  const int64_t W = s.fused_width(), Q = s.width(), KV = int64_t{s.n_kv_head} * s.head_dim;
  return {{qkv, W, s.head_dim}, {qkv + Q, W, s.head_dim}, {qkv + Q + KV, W, s.head_dim}};
}

QkvGrad fused_qkv_grad(float* dqkv, const AttentionShape& s) {
  const int64_t W = s.fused_width(), Q = s.width(), KV = int64_t{s.n_kv_head} * s.head_dim;
  return {{dqkv, W, s.head_dim}, {dqkv + Q, W, s.head_dim}, {dqkv + Q + KV, W, s.head_dim}};
}

AttentionContext attention_context(const ModelConfig& config, const AttentionOptions& options) {
  AttentionContext ctx;
  static_cast<AttentionOptions&>(ctx) = options;
  ctx.n_layer = config.n_layer;
  ctx.n_head = config.n_head;
  ctx.n_kv_head = config.kv_heads();
  ctx.head_dim = config.head_dim();
  ctx.n_positions = config.n_positions;
  ctx.model_window = config.sliding_window;
  return ctx;
}

AttentionRegistry& attention_registry() {
  static AttentionRegistry registry;
  return registry;
}

}  // namespace gaincell

namespace gaincell {

AttentionContext attention_context(const Model& model, const AttentionOptions& options) {
  AttentionContext ctx = attention_context(model.config(), options);
  const bool hide = options.default_backend_tensors;
  const Model* m = &model;
  ctx.find_tensor = [m, hide](const std::string& name, int64_t n) -> const float* {
    if (hide && is_backend_tensor(name)) return nullptr;
    return m->find_extra(name, n);
  };
  return ctx;
}

std::unique_ptr<Attention> create_attention(const std::string& name, const Model& model,
                                            const AttentionOptions& options) {
  return attention_registry().create(name, attention_context(model, options));
}

RingKvCache::RingKvCache(const AttentionShape& shape, int B, int64_t slots, ReadFn read,
                         std::function<void(int64_t)> count)
    : AttentionCache(shape), B_(B), slots_(slots), read_(std::move(read)), count_(std::move(count)) {
  const size_t n = size_t(B) * shape.n_kv_head * slots * shape.head_dim;
  k_.resize(n);
  v_.resize(n);
  scratch_.resize(size_t(B) * shape.n_head * slots);
}

void RingKvCache::step(float* out, const QkvView& rows) {
  const AttentionShape& s = shape();
  const int H = s.n_head, Hkv = s.n_kv_head, D = s.head_dim;
  const int64_t slot = pos_ % slots_, n = std::min<int64_t>(pos_ + 1, slots_);
  parallel_for(0, int64_t{B_} * Hkv, [&](int64_t bg) {
    const int64_t b = bg / Hkv, g = bg % Hkv;
    std::memcpy(k_.data() + (bg * slots_ + slot) * D, rows.k.at(b, g), D * sizeof(float));
    std::memcpy(v_.data() + (bg * slots_ + slot) * D, rows.v.at(b, g), D * sizeof(float));
  });
  parallel_for(
      0, int64_t{B_} * H,
      [&](int64_t bh) {
        const int64_t b = bh / H, h = bh % H, bg = b * Hkv + s.kv_of(int(h));
        read_(out + b * s.width() + h * D, rows.q.at(b, h), k_.data() + bg * slots_ * D, v_.data() + bg * slots_ * D, n,
              scratch_.data() + bh * slots_);
      },
      int64_t{B_} * H * n * D * 4);
  count_(n);
  ++pos_;
}

}  // namespace gaincell
