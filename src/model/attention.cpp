#include "model/attention.h"

#include "core/error.h"

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

void AttentionRegistry::add(const std::string& name, const std::string& help, AttentionFactory factory) {
  for (auto& e : entries_)
    if (e.name == name) {
      e.help = help;
      e.factory = std::move(factory);
      return;
    }
  entries_.push_back({name, help, std::move(factory)});
}

bool AttentionRegistry::has(const std::string& name) const {
  for (auto& e : entries_)
    if (e.name == name) return true;
  return false;
}

std::vector<std::string> AttentionRegistry::names() const {
  std::vector<std::string> n;
  for (auto& e : entries_) n.push_back(e.name);
  return n;
}

std::unique_ptr<Attention> AttentionRegistry::create(const std::string& name, const AttentionContext& ctx) const {
  for (auto& e : entries_)
    if (e.name == name) return e.factory(ctx);
  std::string known;
  for (auto& e : entries_) known += (known.empty() ? "" : "|") + e.name;
  fail_expected("attention", "one of " + known, "'" + name + "'");
}

void Attention::backward(float*, const float*, const float*, int, int, int) {
  fail("attention", "backend '" + name() + "' has no backward pass (not trainable)");
}

AttentionContext attention_context(const Gpt2Config& config) {
  AttentionContext ctx;
  ctx.n_layer = config.n_layer;
  ctx.n_head = config.n_head;
  ctx.head_dim = config.head_dim();
  ctx.n_positions = config.n_positions;
  return ctx;
}

AttentionRegistry& attention_registry() {
  static AttentionRegistry registry;
  return registry;
}

}  // namespace gaincell
