// The attention interface: everything between the q/k/v projections and the output projection. The model
// calls it without knowing which kind runs, so digital (softmax, sliding) and analog (gain-cell) backends plug
// in through the registry below without touching model code.
//
// Contract by views: a backend receives q [N, H, D] and k, v [N, H_kv, D] as strided views (QkvView), built
// by the model over its own buffers without copying (GPT-2's fused c_attn rows [3C] = q | k | v; the Llama
// family's rows [H D + 2 H_kv D]), with the rotary embedding already applied. Query head h reads KV head
// h / (H / H_kv) (grouped-query attention; H_kv = H is plain multi-head attention). out rows are [H D].
// Rows are ordered [B, T]; positions start at 0 for the first token of a sequence.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/buffer.h"
#include "model/config.h"

namespace gaincell {

// Rows of one of q, k, v: element (row r, head h, d) at data[r * row_stride + h * head_stride + d].
template <typename T>
struct HeadRowsT {
  T* data = nullptr;
  int64_t row_stride = 0;
  int64_t head_stride = 0;
  T* at(int64_t row, int64_t head) const { return data + row * row_stride + head * head_stride; }
  // The view of every `every`-th row starting at row `first` (token t of each sequence of T rows).
  HeadRowsT rows(int64_t first, int64_t every) const { return {at(first, 0), row_stride * every, head_stride}; }
};
using HeadRows = HeadRowsT<const float>;
using HeadRowsMut = HeadRowsT<float>;

// The sizes a backend works with: H query heads, H_kv key/value heads (H_kv divides H), head dimension D.
struct AttentionShape {
  int n_head = 0;
  int n_kv_head = 0;
  int head_dim = 0;
  int group() const { return n_head / n_kv_head; }              // query heads per KV head
  int kv_of(int h) const { return h / group(); }                // the KV head query head h reads
  int64_t width() const { return int64_t{n_head} * head_dim; }  // out row width
  int64_t fused_width() const { return width() + 2 * int64_t{n_kv_head} * head_dim; }
};

struct QkvView {
  HeadRows q, k, v;
  QkvView rows(int64_t first, int64_t every) const {
    return {q.rows(first, every), k.rows(first, every), v.rows(first, every)};
  }
};
struct QkvGrad {
  HeadRowsMut q, k, v;
};
// Views of fused rows [q (H D) | k (H_kv D) | v (H_kv D)], head-major (GPT-2's c_attn output when H_kv = H).
QkvView fused_qkv(const float* qkv, const AttentionShape& s);
QkvGrad fused_qkv_grad(float* dqkv, const AttentionShape& s);

// Decoding state of one layer for B sequences: the KV cache (or, for analog backends, the arrays).
class AttentionCache {
 public:
  explicit AttentionCache(const AttentionShape& shape) : shape_(shape) {}
  virtual ~AttentionCache() = default;
  // Appends the new token's k, v for each sequence and attends with its q.
  // rows: row b = sequence b's new token (B rows); out: [B, H D]. B must equal the B given to make_cache.
  virtual void step(float* out, const QkvView& rows) = 0;
  // The same over fused rows qkv [B, H D + 2 H_kv D].
  void step(float* out, const float* qkv) { step(out, fused_qkv(qkv, shape_)); }
  // Tokens appended so far (the position of the next token).
  virtual int64_t position() const = 0;
  const AttentionShape& shape() const { return shape_; }

 private:
  AttentionShape shape_;
};

// Activity of the attention core, per layer, accumulated over a run (analog backends fill all fields;
// digital ones fill macs). The cost model turns these into energy and latency.
struct AttentionActivity {
  int64_t tokens = 0;           // query tokens processed
  int64_t macs = 0;             // digital multiply-accumulates (softmax backends)
  int64_t cell_writes = 0;      // gain cells written (K and V)
  int64_t query_pulses = 0;     // query pulses driven onto K-array rows
  int64_t cell_reads = 0;       // cell read events (one cell under one pulse)
  int64_t charge_to_pulse = 0;  // charge-to-pulse conversions (one per K-array column read)
  int64_t adc_conversions = 0;  // ADC conversions (one per V-array column read)
  int64_t digital_adds = 0;     // digital additions summing per-array ADC outputs
  void add(const AttentionActivity& o);
};

// Under mpirun (core/dist.h): every rank's counters, layer by layer, summed over the ranks (every rank must
// call it with the same number of layers); nothing in one process.
void dist_sum_activity(std::vector<AttentionActivity>& per_layer);

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
  explicit Attention(const AttentionShape& shape) : shape_(shape) {}
  virtual ~Attention() = default;
  virtual std::string name() const = 0;
  const AttentionShape& shape() const { return shape_; }
  // Full-sequence causal attention of layer `layer` over B sequences of T tokens (rows b * T + t).
  // out: [B, T, H D].
  virtual void forward(float* out, const QkvView& qkv, int B, int T, int layer) = 0;
  // The same over fused rows qkv [B, T, H D + 2 H_kv D].
  void forward(float* out, const float* qkv, int B, int T, int layer) {
    forward(out, fused_qkv(qkv, shape_), B, T, layer);
  }
  // Training form: the gradient of forward(). Given the same qkv and dL/d(out) [B, T, H D], writes (not
  // accumulates) dL/dq, dL/dk, dL/dv into dqkv's views (a KV head gets the sum over the query heads that read
  // it) and accumulates the gradients of parameters(). Backends may recompute what they need from qkv.
  // Backends that cannot be trained throw Error("attention", ...).
  virtual void backward(const QkvGrad& dqkv, const float* dout, const QkvView& qkv, int B, int T, int layer);
  void backward(float* dqkv, const float* dout, const float* qkv, int B, int T, int layer) {
    backward(fused_qkv_grad(dqkv, shape_), dout, fused_qkv(qkv, shape_), B, T, layer);
  }
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

 private:
  AttentionShape shape_;
};

// What the user chooses for a backend (the CLI's --window, --hw, --seed, --retention-s).
struct AttentionOptions {
  int window = 0;       // --window: 0 = the backend's default (n_positions, or the hardware's window)
  std::string hw_path;  // --hw hardware TOML for analog backends; empty = paper defaults
  uint64_t seed = 0;    // root seed for stochastic backends
  // --retention-s: > 0 overrides the hardware's leakage with lambda = token_period_s / retention_tau_s.
  double retention_tau_s = 0;
  double token_period_s = 0;
  double read_snr_db = 0;  // --read-snr-db: > 0 sets the analog read noise of S and A to this SNR (evaluation only)
  // Hide the gain-cell tensors stored with the model (scalers, targets), so that a backend starts from its
  // defaults (the adaptation's stage 1).
  bool default_backend_tensors = false;
  // Count the converter histograms of --report (analog backends, quant_histograms.h). Off by default: the
  // counting is a seventh of a gain-cell read and only a report uses it.
  bool converter_histograms = false;
};

// What a backend factory gets: the options and the model's sizes and stored tensors. Built in one place,
// attention_context(const Model&, const AttentionOptions&) below; tests may fill it by hand.
struct AttentionContext : AttentionOptions {
  int n_layer = 0;
  int n_head = 0;
  int n_kv_head = 0;  // 0 = n_head
  int head_dim = 0;
  int n_positions = 0;
  int model_window = 0;  // the model's own sliding window (Mistral), the "sliding" default; 0 = none
  // Looks up an optional float32 tensor stored in the model file (for example per-head scalers); returns
  // nullptr when absent, throws Error when present with a size other than expected_numel.
  std::function<const float*(const std::string& name, int64_t expected_numel)> find_tensor;
  AttentionShape shape() const { return {n_head, n_kv_head > 0 ? n_kv_head : n_head, head_dim}; }
};

// The sizes of a model (n_layer, n_head, n_kv_head, head_dim, n_positions, model_window) and the options.
AttentionContext attention_context(const ModelConfig& config, const AttentionOptions& options = {});

using AttentionFactory = std::function<std::unique_ptr<Attention>(const AttentionContext&)>;

// Name -> factory. Built-in digital kinds are registered by register_digital_attention(); analog kinds by
// the analog module. Creating an unknown name throws Error("attention", "expected one of ..., got ...").
class AttentionRegistry {
 public:
  void add(const std::string& name, const std::string& help, AttentionFactory factory);
  std::unique_ptr<Attention> create(const std::string& name, const AttentionContext& ctx) const;
  std::vector<std::string> names() const;

 private:
  struct Entry {
    std::string name, help;
    AttentionFactory factory;
  };
  std::vector<Entry> entries_;
};

AttentionRegistry& attention_registry();

class Model;
// The one place a backend's context is built from a model: its sizes, the options, and find_tensor over the
// model's stored extra tensors (hidden for ".gaincell." names when options.default_backend_tensors). The
// model must outlive the backend.
AttentionContext attention_context(const Model& model, const AttentionOptions& options);
// attention_registry().create(name, attention_context(model, options)).
std::unique_ptr<Attention> create_attention(const std::string& name, const Model& model,
                                            const AttentionOptions& options);

// Decoding cache of the digital backends: a ring of min(window, max_tokens) slots of K and V per (sequence,
// KV head); token t goes to slot t mod slots. Each step appends the rows' k, v, then calls
// read(out_head, q_head, k_ring, v_ring, n, scratch) for every (sequence, query head) in parallel with the
// ring of KV head h / (H / H_kv) and the n written slots in slot order (scratch: n floats per task), then
// count(n).
class RingKvCache : public AttentionCache {
 public:
  using ReadFn =
      std::function<void(float* out, const float* q, const float* k, const float* v, int64_t n, float* scratch)>;
  RingKvCache(const AttentionShape& shape, int B, int64_t slots, ReadFn read, std::function<void(int64_t n)> count);
  void step(float* out, const QkvView& rows) override;
  int64_t position() const override { return pos_; }

 private:
  int B_;
  int64_t slots_;
  int64_t pos_ = 0;
  ReadFn read_;
  std::function<void(int64_t)> count_;
  AlignedBuffer<float> k_, v_, scratch_;
};
// Registers "softmax" (exact causal) and "sliding" (causal softmax over the last W tokens). Idempotent.
void register_digital_attention();

}  // namespace gaincell
