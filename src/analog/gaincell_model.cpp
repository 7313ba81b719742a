#include "analog/gaincell_model.h"

#include <algorithm>

#include "analog/hw_toml.h"
#include "core/error.h"

namespace gaincell {
namespace {

void load_scaler(const AttentionContext& ctx, int layer, const char* which, std::vector<float>& scale,
                 std::vector<float>& shift) {
  if (!ctx.find_tensor) return;
  std::string base = "h." + std::to_string(layer) + ".attn.gaincell." + which + ".";
  if (const float* a = ctx.find_tensor(base + "scale", ctx.n_head)) scale.assign(a, a + ctx.n_head);
  if (const float* b = ctx.find_tensor(base + "shift", ctx.n_head)) shift.assign(b, b + ctx.n_head);
}

HardwareConfig load_hw(const AttentionContext& ctx) {
  HardwareConfig hw = ctx.hw_path.empty() ? HardwareConfig{} : load_hardware_toml(ctx.hw_path);
  if (ctx.retention_tau_s > 0) {  // --retention-s: leakage from the clock
    hw.leakage.retention_tau_s = ctx.retention_tau_s;
    hw.leakage.token_period_s = ctx.token_period_s;
  }
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
    load_scaler(ctx, l, "q", s.q_scale, s.q_shift);
    load_scaler(ctx, l, "k", s.k_scale, s.k_shift);
    load_scaler(ctx, l, "v", s.v_scale, s.v_shift);
    load_scaler(ctx, l, "out", s.out_scale, s.out_shift);
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
  hw_.check("gain-cell attention");
  if (n_layer_ < 1 || n_head_ < 1 || dim_ < 1)
    fail_expected("gaincell", "positive n_layer, n_head, head_dim",
                  std::to_string(n_layer_) + ", " + std::to_string(n_head_) + ", " + std::to_string(dim_));
  if (n_kv_head_ < 1 || n_head_ % n_kv_head_ != 0)
    fail_expected("gaincell", "n_kv_head dividing n_head (" + std::to_string(n_head_) + ")",
                  std::to_string(n_kv_head_));
  if (dim_ > hw_.array.rows)
    fail_expected("gaincell", "head_dim <= array.rows (" + std::to_string(hw_.array.rows) + ")", std::to_string(dim_));
  poly_ = make_cell_poly(hw_.device, linear);
  cv_ = Converters(hw_);
  decay_ = make_decay_table(hw_.lambda_per_token(), poly_.n, window_);
  scalers_.assign(n_layer_, default_scalers(n_head_));
}

bool GainCellModel::has_mismatch() const {
  const NoiseConfig& n = hw_.noise;
  return n.cell_gain_sigma > 0 || n.cell_offset_sigma_ua > 0 || n.adc_gain_sigma > 0 || n.adc_offset_sigma > 0 ||
         n.c2p_sat_sigma > 0;
}

bool GainCellModel::has_read_noise() const {
  return hw_.noise.read_noise_s_ua_tmax > 0 || hw_.noise.read_noise_a_ua_tmax > 0;
}

HeadMismatch GainCellModel::mismatch(int layer, int head) const {
  if (!has_mismatch()) return {};
  return draw_head_mismatch(hw_, window_, hw_.array.cols, dim_, layer, head);
}

void GainCellModel::query(float* qp, const float* q, int layer, int head) const {
  const LayerScalers& s = scalers_[layer];
  query_pulses(qp, q, dim_, s.q_scale[head], s.q_shift[head], cv_);
}

void GainCellModel::write_token(HeadCells& cells, int64_t col, int64_t t, const float* k, const float* v, int layer,
                                int head, const HeadMismatch* mm, const Rng& c2c) const {
  const LayerScalers& s = scalers_[layer];
  float yk[kMaxRows], yv[kMaxRows];
  stored_voltages(yk, k, dim_, s.k_scale[head], s.k_shift[head], cv_);
  stored_voltages(yv, v, dim_, s.v_scale[head], s.v_shift[head], cv_);
  double sw = hw_.noise.write_noise_sigma_v;
  if (sw > 0)
    for (int d = 0; d < dim_; ++d) {
      yk[d] = cv_.store.clip(yk[d] + float(sw * c2c_normal(c2c, NoiseTag::kWriteK, t, d)));
      yv[d] = cv_.store.clip(yv[d] + float(sw * c2c_normal(c2c, NoiseTag::kWriteV, t, d)));
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
  rc.n_ages = window_;
  rc.window = window_;
  rc.cols = hw_.array.cols;
  rc.ring = ring_tiles();
  rc.refresh = hw_.leakage.refresh_every_tokens;
  rc.mm = mm;
  rc.c2c = has_read_noise() ? c2c : nullptr;
  rc.sigma_s = hw_.noise.read_noise_s_ua_tmax;
  rc.sigma_a = hw_.noise.read_noise_a_ua_tmax;
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

std::vector<AttentionActivity> ActivityLog::snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return per_layer_;
}

void count_read(AttentionActivity& a, const ReadStats& st, int D) {
  a.query_pulses += st.arrays * D;
  a.cell_reads += 2 * st.keys * D;
  a.charge_to_pulse += st.keys;
  a.adc_conversions += st.arrays * D;
  a.digital_adds += std::max<int64_t>(st.arrays - 1, 0) * D;
}

}  // namespace gaincell
