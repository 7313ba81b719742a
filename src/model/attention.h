// The attention interface: everything between c_attn (which produces q, k, v) and c_proj. The model calls
// it without knowing which kind runs, so digital (softmax, sliding) and analog (gain-cell) backends plug in
// through the registry below without touching model code.
//
// Layout: qkv rows are [3*C] = q | k | v, each [H, D] head-major (GPT-2's c_attn output); out rows are [C].
// Positions start at 0 for the first token of a sequence.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "model/config.h"

namespace gaincell {

// Decoding state of one layer for B sequences: the KV cache (or, for analog backends, the arrays).
class AttentionCache {
 public:
  virtual ~AttentionCache() = default;
  // Appends the new token's k, v for each sequence and attends with its q.
  // qkv: [B, 3*C] (one new token per sequence); out: [B, C]. B must equal the B given to make_cache.
  virtual void step(float* out, const float* qkv) = 0;
  // Tokens appended so far (the position of the next token).
  virtual int64_t position() const = 0;
  virtual void reset() = 0;
};

// Activity of the attention core, per layer, accumulated over a run (analog backends fill all fields;
// digital ones fill macs). The cost model turns these into energy and latency.
struct AttentionActivity {
  int64_t tokens = 0;            // query tokens processed
  int64_t macs = 0;              // digital multiply-accumulates (softmax backends)
  int64_t cell_writes = 0;       // gain cells written (K and V)
  int64_t query_pulses = 0;      // query pulses driven onto K-array rows
  int64_t cell_reads = 0;        // cell read events (one cell under one pulse)
  int64_t charge_to_pulse = 0;   // charge-to-pulse conversions (one per K-array column read)
  int64_t adc_conversions = 0;   // ADC conversions (one per V-array column read)
  int64_t digital_adds = 0;      // digital additions summing per-array ADC outputs
  void add(const AttentionActivity& o);
};

// A trainable tensor owned by a backend (for example per-head scalers), named as stored in the model file.
struct ParamView {
  std::string name;
  std::vector<int64_t> shape;
  float* value = nullptr;
  float* grad = nullptr;      // accumulated by backward()
  bool weight_decay = false;  // AdamW decays only tensors with >= 2 dimensions
};

class Attention {
 public:
  virtual ~Attention() = default;
  virtual std::string name() const = 0;
  // Full-sequence causal attention of layer `layer` over B sequences of T tokens.
  // qkv: [B, T, 3*C]; out: [B, T, C].
  virtual void forward(float* out, const float* qkv, int B, int T, int layer) = 0;
  // Training form: the gradient of forward(). Given the same qkv and dL/d(out) [B, T, C], writes (not
  // accumulates) dL/d(qkv) [B, T, 3*C] and accumulates the gradients of parameters(). Backends may recompute
  // what they need from qkv. Backends that cannot be trained throw Error("attention", ...).
  virtual void backward(float* dqkv, const float* dout, const float* qkv, int B, int T, int layer);
  // Trainable backend parameters of all layers (empty for softmax and sliding).
  virtual std::vector<ParamView> parameters() { return {}; }
  // Persistent non-trainable tensors saved with the model (grad = nullptr), e.g. the gain-cell target
  // statistics h.{L}.attn.gaincell.{q,k,v,out}.target_{mean,std}; empty for most backends.
  virtual std::vector<ParamView> buffers() { return {}; }
  // A decoding cache for layer `layer`, B sequences, at most max_tokens tokens (windowed backends hold at
  // most their window and slide).
  virtual std::unique_ptr<AttentionCache> make_cache(int layer, int B, int64_t max_tokens) = 0;
  // Activity counters per layer (size n_layer); backends without counters return an empty vector.
  virtual std::vector<AttentionActivity> activity() const { return {}; }
};

// What a backend factory gets from the model.
struct AttentionContext {
  int n_layer = 0;
  int n_head = 0;
  int head_dim = 0;
  int n_positions = 0;
  int window = 0;          // --window: 0 = the backend's default (n_positions, or the hardware's window)
  std::string hw_path;     // --hw hardware TOML for analog backends; empty = paper defaults
  uint64_t seed = 0;       // root seed for stochastic backends
  // --retention-s: > 0 overrides the hardware's leakage with lambda = token_period_s / retention_tau_s.
  double retention_tau_s = 0;
  double token_period_s = 0;
  double read_snr_db = 0;  // --read-snr-db: > 0 sets the analog read noise of S and A to this SNR (evaluation only)
  // Looks up an optional float32 tensor stored in the model file (for example per-head scalers); returns
  // nullptr when absent, throws Error when present with a size other than expected_numel.
  std::function<const float*(const std::string& name, int64_t expected_numel)> find_tensor;
};

// The sizes of a model (n_layer, n_head, head_dim, n_positions); the other fields keep their defaults.
AttentionContext attention_context(const Gpt2Config& config);

using AttentionFactory = std::function<std::unique_ptr<Attention>(const AttentionContext&)>;

// Name -> factory. Built-in digital kinds are registered by register_digital_attention(); analog kinds by
// the analog module. Creating an unknown name throws Error("attention", "expected one of ..., got ...").
class AttentionRegistry {
 public:
  void add(const std::string& name, const std::string& help, AttentionFactory factory);
  std::unique_ptr<Attention> create(const std::string& name, const AttentionContext& ctx) const;
  std::vector<std::string> names() const;
  bool has(const std::string& name) const;

 private:
  struct Entry {
    std::string name, help;
    AttentionFactory factory;
  };
  std::vector<Entry> entries_;
};

AttentionRegistry& attention_registry();
// Registers "softmax" (exact causal) and "sliding" (causal softmax over the last W tokens). Idempotent.
void register_digital_attention();

}  // namespace gaincell
