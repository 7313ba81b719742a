#include "analog/register.h"

#include "analog/gaincell_attention.h"
#include "analog/hardsigmoid_attention.h"
#include "model/attention.h"

namespace gaincell {

void register_analog_attention() {
  AttentionRegistry& r = attention_registry();
  r.add("hardsigmoid", "software clip(q.k/sqrt(d), 0, 1).v over the window (--window, default n_positions)",
        [](const AttentionContext& ctx) { return make_hardsigmoid_attention(ctx); });
  r.add("gaincell-linear", "gain-cell arrays, linear cell I(y) = g*y (paper's intermediate model; --hw, --window)",
        [](const AttentionContext& ctx) { return std::make_unique<GainCellAttention>(ctx, true); });
  r.add("gaincell", "gain-cell arrays, cubic cell I(y) (paper's hardware model; --hw, --window)",
        [](const AttentionContext& ctx) { return std::make_unique<GainCellAttention>(ctx, false); });
}

}  // namespace gaincell
