// Adds the analog backends to attention_registry(): "hardsigmoid", "gaincell-linear", "gaincell".
// Idempotent. The CLI passes --hw (AttentionContext::hw_path), --window and the seed through the context.
#pragma once

namespace gaincell {

void register_analog_attention();

}  // namespace gaincell
