#include "model/weights.h"

#include <cstring>

namespace gaincell {
namespace {

bool ends_with(const std::string& s, const char* suf) {
  const size_t n = std::strlen(suf);
  return s.size() >= n && s.compare(s.size() - n, n, suf) == 0;
}

// GPT-2: HF GPT2LMHeadModel names without "transformer.", Conv1D weights [in, out].
std::vector<WeightSpec> gpt2_table(const ModelConfig& c) {
  const int64_t C = c.n_embd, V = c.vocab_size, P = c.n_positions, I = c.ffn_dim();
  using R = WeightRole;
  using Init = WeightInit;
  std::vector<WeightSpec> t;
  t.push_back({"wte.weight", {V, C}, R::kTokenEmbed, -1, Init::kNormal});
  t.push_back({"wpe.weight", {P, C}, R::kPositionEmbed, -1, Init::kNormal});
  for (int l = 0; l < c.n_layer; ++l) {
    const std::string h = "h." + std::to_string(l) + ".";
    t.push_back({h + "ln_1.weight", {C}, R::kNorm1, l, Init::kOne});
    t.push_back({h + "ln_1.bias", {C}, R::kNorm1Bias, l, Init::kZero});
    t.push_back({h + "attn.c_attn.weight", {C, 3 * C}, R::kQkv, l, Init::kNormal});
    t.push_back({h + "attn.c_attn.bias", {3 * C}, R::kQkvBias, l, Init::kZero});
    t.push_back({h + "attn.c_proj.weight", {C, C}, R::kO, l, Init::kResidualNormal});
    t.push_back({h + "attn.c_proj.bias", {C}, R::kOBias, l, Init::kZero});
    t.push_back({h + "ln_2.weight", {C}, R::kNorm2, l, Init::kOne});
    t.push_back({h + "ln_2.bias", {C}, R::kNorm2Bias, l, Init::kZero});
    t.push_back({h + "mlp.c_fc.weight", {C, I}, R::kUp, l, Init::kNormal});
    t.push_back({h + "mlp.c_fc.bias", {I}, R::kUpBias, l, Init::kZero});
    t.push_back({h + "mlp.c_proj.weight", {I, C}, R::kDown, l, Init::kResidualNormal});
    t.push_back({h + "mlp.c_proj.bias", {C}, R::kDownBias, l, Init::kZero});
  }
  t.push_back({"ln_f.weight", {C}, R::kFinalNorm, -1, Init::kOne});
  t.push_back({"ln_f.bias", {C}, R::kFinalNormBias, -1, Init::kZero});
  return t;
}

// Llama, Mistral, Qwen2: HF LlamaForCausalLM names, nn.Linear weights [out, in]; everything N(0, 0.02)
// (HF initializer_range), norms 1, biases 0.
std::vector<WeightSpec> llama_table(const ModelConfig& c) {
  const int64_t C = c.n_embd, V = c.vocab_size, I = c.ffn_dim(), Q = c.q_dim(), KV = c.kv_dim();
  using R = WeightRole;
  using Init = WeightInit;
  std::vector<WeightSpec> t;
  auto linear = [&](const std::string& name, int64_t out, int64_t in, R role, int l) {
    t.push_back({name + ".weight", {out, in}, role, l, Init::kNormal, true});
  };
  auto vec = [&](const std::string& name, int64_t n, R role, int l, Init init) {
    t.push_back({name, {n}, role, l, init});
  };
  t.push_back({"model.embed_tokens.weight", {V, C}, R::kTokenEmbed, -1, Init::kNormal});
  for (int l = 0; l < c.n_layer; ++l) {
    const std::string h = "model.layers." + std::to_string(l) + ".";
    vec(h + "input_layernorm.weight", C, R::kNorm1, l, Init::kOne);
    linear(h + "self_attn.q_proj", Q, C, R::kQ, l);
    if (c.qkv_bias) vec(h + "self_attn.q_proj.bias", Q, R::kQBias, l, Init::kZero);
    linear(h + "self_attn.k_proj", KV, C, R::kK, l);
    if (c.qkv_bias) vec(h + "self_attn.k_proj.bias", KV, R::kKBias, l, Init::kZero);
    linear(h + "self_attn.v_proj", KV, C, R::kV, l);
    if (c.qkv_bias) vec(h + "self_attn.v_proj.bias", KV, R::kVBias, l, Init::kZero);
    linear(h + "self_attn.o_proj", C, Q, R::kO, l);
    if (c.o_bias) vec(h + "self_attn.o_proj.bias", C, R::kOBias, l, Init::kZero);
    vec(h + "post_attention_layernorm.weight", C, R::kNorm2, l, Init::kOne);
    linear(h + "mlp.gate_proj", I, C, R::kGate, l);
    if (c.mlp_bias) vec(h + "mlp.gate_proj.bias", I, R::kGateBias, l, Init::kZero);
    linear(h + "mlp.up_proj", I, C, R::kUp, l);
    if (c.mlp_bias) vec(h + "mlp.up_proj.bias", I, R::kUpBias, l, Init::kZero);
    linear(h + "mlp.down_proj", C, I, R::kDown, l);
    if (c.mlp_bias) vec(h + "mlp.down_proj.bias", C, R::kDownBias, l, Init::kZero);
  }
  vec("model.norm.weight", C, R::kFinalNorm, -1, Init::kOne);
  if (!c.tie_word_embeddings) linear("lm_head", V, C, R::kLmHead, -1);
  return t;
}

}  // namespace

int64_t WeightSpec::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::vector<WeightSpec> weight_table(const ModelConfig& c) {
  return c.is_gpt2() ? gpt2_table(c) : llama_table(c);
}

std::vector<std::pair<std::string, std::vector<int64_t>>> tensor_table(const ModelConfig& c) {
  std::vector<std::pair<std::string, std::vector<int64_t>>> t;
  for (const WeightSpec& s : weight_table(c)) t.push_back({s.name, s.shape});
  return t;
}

bool is_projection(WeightRole r) {
  using R = WeightRole;
  switch (r) {
    case R::kQkv:
    case R::kQ:
    case R::kK:
    case R::kV:
    case R::kO:
    case R::kUp:
    case R::kGate:
    case R::kDown:
    case R::kLmHead:
      return true;
    default:
      return false;
  }
}

std::string lm_head_name(const ModelConfig&) {
  return "lm_head.weight";
}

std::string stripped_prefix(const ModelConfig& c) {
  return c.is_gpt2() ? "transformer." : "";
}

bool is_ignored_buffer(const ModelConfig& c, const std::string& name) {
  if (c.is_gpt2()) return ends_with(name, ".attn.bias") || ends_with(name, ".attn.masked_bias");
  return ends_with(name, ".rotary_emb.inv_freq");
}

bool is_backend_tensor(const std::string& name) {
  return name.find(".gaincell.") != std::string::npos;
}

}  // namespace gaincell
