#include "analog/gaincell_model.h"

#include <algorithm>

#include "analog/hw_toml.h"
#include "core/error.h"

namespace gaincell {
namespace {

// n: heads of this scaler (n_head for q and out, n_kv_head for k and v).
void load_scaler(const AttentionContext& ctx, int layer, const char* which, int n, std::vector<float>& scale,
                 std::vector<float>& shift) {
  if (!ctx.find_tensor) return;
  std::string base = "h." + std::to_string(layer) + ".attn.gaincell." + which + ".";
  if (const float* a = ctx.find_tensor(base + "scale", n)) scale.assign(a, a + n);
  if (const float* b = ctx.find_tensor(base + "shift", n)) shift.assign(b, b + n);
}

HardwareConfig load_hw(const AttentionContext& ctx) {
  HardwareConfig hw = ctx.hw_path.empty() ? HardwareConfig{} : load_hardware_toml(ctx.hw_path);
  if (ctx.retention_tau_s > 0) hw.set_retention(ctx.retention_tau_s, ctx.token_period_s);      // --retention-s
  if (ctx.read_snr_db > 0) hw.noise.read_snr_s_db = hw.noise.read_snr_a_db = ctx.read_snr_db;  // --read-snr-db
  return hw;
}

}  // namespace

GainCellModel::GainCellModel(const AttentionContext& ctx, bool linear)
    : hw_(load_hw(ctx)),
      n_layer_(ctx.n_layer),
      n_head_(ctx.n_head),
      dim_(ctx.head_dim),
      window_(ctx.window > 0 ? ctx.window : hw_.array.window_tokens),
      n_kv_head_(ctx.shape().n_kv_head),
      seed_(ctx.seed) {
  init(linear);
  for (int l = 0; l < n_layer_; ++l) {
    LayerScalers& s = scalers_[l];
    load_scaler(ctx, l, "q", n_head_, s.q_scale, s.q_shift);
    load_scaler(ctx, l, "k", n_kv_head_, s.k_scale, s.k_shift);
    load_scaler(ctx, l, "v", n_kv_head_, s.v_scale, s.v_shift);
    load_scaler(ctx, l, "out", n_head_, s.out_scale, s.out_shift);
  }
}

GainCellModel::GainCellModel(const HardwareConfig& hw, int n_layer, int n_head, int head_dim, int window, bool linear,
                             uint64_t seed, int n_kv_head)
    : hw_(hw),
      n_layer_(n_layer),
      n_head_(n_head),
      dim_(head_dim),
      window_(window),
      n_kv_head_(n_kv_head > 0 ? n_kv_head : n_head),
      seed_(seed) {
  init(linear);
}

void GainCellModel::init(bool linear) {
  hw_.array.window_tokens = window_;
  mismatch_cache_ = std::make_shared<MismatchCache>(size_t(std::max(n_layer_, 0)) * std::max(n_kv_head_, 0));
  hw_.check("gain-cell attention");
  if (n_layer_ < 1 || n_head_ < 1 || dim_ < 1)
    fail_expected("gaincell", "positive n_layer, n_head, head_dim",
                  std::to_string(n_layer_) + ", " + std::to_string(n_head_) + ", " + std::to_string(dim_));
  if (n_kv_head_ < 1 || n_head_ % n_kv_head_ != 0)
    fail_expected("gaincell", "n_kv_head dividing n_head (" + std::to_string(n_head_) + ")",
                  std::to_string(n_kv_head_));
  if (dim_ > kMaxRows) fail_expected("gaincell", "head_dim <= " + std::to_string(kMaxRows), std::to_string(dim_));
  if (hw_.array.digital_row_sum(dim_) && hw_.noise.read_snr_s_db > 0)
    fail_expected("gaincell",
                  "array.row_sum = \"shared_line\" with noise.read_snr_s_db (the SNR read noise of S is "
                  "defined on one charge per key)",
                  "array.row_sum = \"digital\" with a head of " + std::to_string(dim_) + " > array.rows " +
                      std::to_string(hw_.array.rows));
  poly_ = make_cell_poly(hw_, linear);
  if (!linear && hw_.device.characteristic != "poly") {  // sigmoid / exp ablation: the expansion must be close
    const double err = cell_expansion_error_ua(hw_);
    if (!(err <= 0.01 * hw_.device.swing_ua))
      fail_expected("hw",
                    "a device.characteristic whose order-7 expansion is within 1 % of device.swing_ua (lower "
                    "device.stiffness_per_v)",
                    "a largest error of " + std::to_string(err) + " uA for a swing of " +
                        std::to_string(hw_.device.swing_ua) + " uA");
  }
  cv_ = Converters(hw_);
  decay_ = make_decay_table(hw_.lambda_per_token(), poly_.n, window_);
  decay_reversed_.resize(decay_.size());
  for (int p = 0; p < poly_.n; ++p)
    std::reverse_copy(decay_.begin() + size_t(p) * window_, decay_.begin() + size_t(p + 1) * window_,
                      decay_reversed_.begin() + size_t(p) * window_);
  scalers_.assign(n_layer_, default_scalers(n_head_, cv_.v_offset, n_kv_head_));
}

bool GainCellModel::has_mismatch() const {
  const NoiseConfig& n = hw_.noise;
  return n.cell_gain_sigma > 0 || n.cell_offset_sigma_ua > 0 || n.adc_gain_sigma > 0 || n.adc_offset_sigma > 0 ||
         n.c2p_sat_sigma > 0;
}

bool GainCellModel::has_read_noise() const {
  const NoiseConfig& n = hw_.noise;
  return n.read_noise_s_ua_tmax > 0 || n.read_noise_a_ua_tmax > 0 || n.read_snr_s_db > 0 || n.read_snr_a_db > 0;
}

struct GainCellModel::MismatchCache {
  struct Slot {
    std::once_flag drawn;
    HeadMismatch value;
  };
  explicit MismatchCache(size_t n) : slots(n) {}
  std::vector<Slot> slots;
};

const HeadMismatch& GainCellModel::mismatch(int layer, int kv_head) const {
  static const HeadMismatch kNone;
  if (!has_mismatch()) return kNone;
  if (layer < 0 || layer >= n_layer_ || kv_head < 0 || kv_head >= n_kv_head_)
    fail_expected("gaincell",
                  "a layer below " + std::to_string(n_layer_) + " and a KV head below " + std::to_string(n_kv_head_),
                  std::to_string(layer) + ", " + std::to_string(kv_head));
  MismatchCache::Slot& slot = mismatch_cache_->slots[size_t(layer) * n_kv_head_ + kv_head];
  std::call_once(slot.drawn, [&] {
    slot.value = draw_head_mismatch(hw_, window_, hw_.array.cols, dim_, layer, kv_head, c2p_per_key());
  });
  return slot.value;
}

void GainCellModel::query(float* qp, const float* q, int layer, int head, QuantHistograms* hist) const {
  const LayerScalers& s = scalers_[layer];
  float code[kMaxRows];
  query_pulses(qp, q, dim_, s.q_scale[head], s.q_shift[head], cv_, hist ? code : nullptr);
  if (hist) hist->query.add_codes(code, dim_);
}

QuantHistograms GainCellModel::new_histograms() const {
  QuantHistograms h;
  h.init(cv_.query, cv_.store, cv_.adc);
  return h;
}

void GainCellModel::write_token(HeadCells& cells, int64_t col, int64_t t, const float* k, const float* v, int layer,
                                int kv_head, const HeadMismatch* mm, const Rng& c2c, QuantHistograms* hist) const {
  const LayerScalers& s = scalers_[layer];
  const int head = kv_head;
  float yk[kMaxRows], yv[kMaxRows];
  float code_k[kMaxRows], code_v[kMaxRows];  // the stored levels' codes, counted before write noise
  stored_voltages(yk, k, dim_, s.k_scale[head], s.k_shift[head], cv_, hist ? code_k : nullptr);
  stored_voltages(yv, v, dim_, s.v_scale[head], s.v_shift[head], cv_, hist ? code_v : nullptr);
  if (hist) {
    hist->store_k.add_codes(code_k, dim_);
    hist->store_v.add_codes(code_v, dim_);
  }
  double sw = hw_.noise.write_noise_sigma_v;
  if (sw > 0) {
    double nk[kMaxRows], nv[kMaxRows];
    c2c_normals(nk, c2c, NoiseTag::kWriteK, uint64_t(t), nullptr, 0, dim_);
    c2c_normals(nv, c2c, NoiseTag::kWriteV, uint64_t(t), nullptr, 0, dim_);
    for (int d = 0; d < dim_; ++d) {
      yk[d] = cv_.store.clip(yk[d] + float(sw * nk[d]));
      yv[d] = cv_.store.clip(yv[d] + float(sw * nv[d]));
    }
  }
  for (int d = 0; d < dim_; ++d) {  // step 4: offset
    yk[d] -= cv_.v_offset;
    yv[d] -= cv_.v_offset;
  }
  cells.write(col, t, yk, yv, poly_, mm && mm->cells() ? mm : nullptr, t % window_);
}

ReadConfig GainCellModel::read_config(const HeadMismatch* mm, const Rng* c2c) const {
  ReadConfig rc;
  rc.poly = &poly_;
  rc.cv = &cv_;
  rc.decay = decay_.data();
  rc.decay_reversed = decay_reversed_.data();
  rc.n_ages = window_;
  rc.window = window_;
  rc.cols = hw_.array.cols;
  rc.rows = hw_.array.rows;
  rc.digital_row_sum = hw_.array.digital_row_sum(dim_);
  rc.ring = ring_tiles();
  rc.refresh = hw_.leakage.refresh_every_tokens;
  rc.mm = mm;
  rc.c2c = has_read_noise() ? c2c : nullptr;
  rc.sigma_s = hw_.noise.read_noise_s_ua_tmax;
  rc.sigma_a = hw_.noise.read_noise_a_ua_tmax;
  rc.snr_s_db = hw_.noise.read_snr_s_db;
  rc.snr_a_db = hw_.noise.read_snr_a_db;
  return rc;
}

void GainCellModel::output(float* out, const float* o, int layer, int head) const {
  const LayerScalers& s = scalers_[layer];
  float a = scale_of(s.out_scale[head]), b = s.out_shift[head];
  for (int d = 0; d < dim_; ++d) out[d] = a * o[d] + b;
}

void ActivityLog::add(int layer, const AttentionActivity& a) {
  std::lock_guard<std::mutex> lock(mu_);
  per_layer_[layer].add(a);
}

void ActivityLog::add(int layer, const QuantHistograms& h) {
  std::lock_guard<std::mutex> lock(mu_);
  hist_[layer].merge(h);
}

std::vector<QuantHistograms> ActivityLog::histograms() const {
  std::lock_guard<std::mutex> lock(mu_);
  return hist_;
}

std::vector<AttentionActivity> ActivityLog::snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return per_layer_;
}

void count_read(AttentionActivity& a, const ReadStats& st, int D, int c2p_per_key) {
  a.query_pulses += st.arrays * D;
  a.cell_reads += 2 * st.keys * D;
  a.charge_to_pulse += st.keys * c2p_per_key;
  a.adc_conversions += st.arrays * D;
  a.digital_adds += std::max<int64_t>(st.arrays - 1, 0) * D + st.keys * (c2p_per_key - 1);
}

int GainCellModel::c2p_per_key() const {
  return hw_.array.digital_row_sum(dim_) ? hw_.array.row_blocks(dim_) : 1;
}

}  // namespace gaincell
