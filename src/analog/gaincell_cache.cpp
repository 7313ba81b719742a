// Streaming decoder: the KV cache is the arrays. Each (sequence, KV head) owns W columns of cells, i.e.
// ceil(W/cols) K arrays and ceil(W/cols) V arrays; token t is written once into slot t mod W; every query head
// of the KV head's group reads the written slots in slot order, grouped per physical array, with each cell's
// age = now - its write time.
#include <algorithm>

#include "analog/gaincell_attention.h"
#include "core/error.h"
#include "core/parallel.h"

namespace gaincell {
namespace {

class GainCellCache : public AttentionCache {
 public:
  GainCellCache(std::shared_ptr<const GainCellModel> model, std::shared_ptr<ActivityLog> log, int layer, int B,
                int64_t max_tokens)
      : AttentionCache(model->shape()), m_(std::move(model)), log_(std::move(log)), layer_(layer), B_(B) {
    const int Hkv = m_->n_kv_head();
    int64_t cols = m_->window();
    if (max_tokens > 0 && max_tokens < cols) cols = max_tokens;            // never wraps: fewer columns suffice
    for (int g = 0; g < Hkv; ++g) mm_.push_back(&m_->mismatch(layer, g));  // arrays are created now
    groups_.resize(size_t(B) * Hkv);
    for (int64_t task = 0; task < int64_t(B) * Hkv; ++task)
      groups_[task].init(m_->head_dim(), cols, m_->poly(), mm_[task % Hkv]->cells());
    scratch_.resize(size_t(B) * Hkv);
  }

  void step(float* out, const QkvView& rows) override {
    const int H = m_->n_head(), Hkv = m_->n_kv_head(), G = H / Hkv, D = m_->head_dim(), C = H * D;
    const int64_t t = pos_, ld = groups_[0].ld;
    if (t >= ld && ld < m_->window())
      fail_expected("gaincell", "at most " + std::to_string(ld) + " tokens (max_tokens of make_cache)",
                    std::to_string(t + 1));
    std::vector<AttentionActivity> acts(size_t(B_) * Hkv);
    parallel_for(0, int64_t(B_) * Hkv, [&](int64_t task) {
      const int b = int(task / Hkv), g = int(task % Hkv);
      const HeadMismatch* mm = mm_[g];
      HeadCells& cells = groups_[task];
      const int64_t slot = t % m_->window();
      QuantHistograms hist;
      QuantHistograms* hp = log_->histograms_on() ? &(hist = m_->new_histograms()) : nullptr;
      m_->write_token(cells, slot, t, rows.k.at(b, g), rows.v.at(b, g), layer_, g, mm, m_->c2c(layer_, b, g), hp);
      acts[task].cell_writes += 2 * D;  // once per KV head
      for (int h = g * G; h < (g + 1) * G; ++h) {
        Rng c2c = m_->c2c(layer_, b, h);
        float qp[kMaxRows], o[kMaxRows];
        m_->query(qp, rows.q.at(b, h), layer_, h, hp);
        ReadConfig rc = m_->read_config(mm, &c2c);
        rc.ring = true;  // the physical arrays
        rc.hist = hp;
        ColRange r{0, std::min<int64_t>(t + 1, ld)};
        ReadStats st = read_cells(o, qp, t, &r, 1, cells, rc, scratch_[task]);
        count_read(acts[task], st, D, m_->c2p_per_key());
        m_->output(out + size_t(b) * C + size_t(h) * D, o, layer_, h);
      }
      if (hp) log_->add(layer_, hist);
    });
    AttentionActivity total;
    for (auto& a : acts) total.add(a);
    total.tokens += B_;
    log_->add(layer_, total);
    ++pos_;
  }

  int64_t position() const override { return pos_; }

 private:
  std::shared_ptr<const GainCellModel> m_;
  std::shared_ptr<ActivityLog> log_;
  int layer_, B_;
  int64_t pos_ = 0;
  std::vector<const HeadMismatch*> mm_;  // the model's (it outlives this cache through m_)
  std::vector<HeadCells> groups_;        // [B][n_kv_head]
  std::vector<ReadScratch> scratch_;
};

}  // namespace

std::unique_ptr<AttentionCache> make_gaincell_cache(std::shared_ptr<const GainCellModel> model,
                                                    std::shared_ptr<ActivityLog> log, int layer, int B,
                                                    int64_t max_tokens) {
  if (B < 1) fail_expected("gaincell", "B >= 1", std::to_string(B));
  return std::make_unique<GainCellCache>(std::move(model), std::move(log), layer, B, max_tokens);
}

}  // namespace gaincell
