#include "analog/gaincell_attention.h"

#include <algorithm>

#include "core/error.h"
#include "core/parallel.h"

namespace gaincell {
namespace {

constexpr int kQueryBlock = 4;  // queries whose first-product sums are computed in one pass
constexpr int kAhead = 4;       // rows prefetched ahead of the one converted

// The rows of one head are a row stride apart (the fused q | k | v rows): each is on another page, where the
// hardware prefetchers do not follow, so the converters' loops would wait on every row.
void prefetch_row(const float* p, int D) {
  for (int i = 0; i < D; i += 16) __builtin_prefetch(p + i);
}

}  // namespace

GainCellAttention::GainCellAttention(const AttentionContext& ctx, bool linear)
    : GainCellAttention(std::make_shared<GainCellModel>(ctx, linear), linear) {
  train_->load_targets(ctx);
  log_->set_histograms(ctx.converter_histograms);
}

GainCellAttention::GainCellAttention(std::shared_ptr<GainCellModel> model, bool linear)
    : Attention(model->shape()),
      model_(std::move(model)),
      log_(std::make_shared<ActivityLog>(model_->n_layer())),
      train_(std::make_shared<GainCellTrainState>(model_->n_layer(), model_->n_head(), model_->n_kv_head())),
      linear_(linear) {}

// One (sequence, KV head): writes all T tokens of the KV head once into its arrays, then every query head of
// its group reads them once per query token i over the window [max(0, i - W + 1), i]. With ring tiles the
// window is read in physical slot order (two column ranges).
void GainCellAttention::forward_group(float* out, const QkvView& qkv, int T, int b, int g, int layer,
                                      AttentionActivity& act) const {
  const GainCellModel& m = *model_;
  const int D = m.head_dim(), C = m.n_head() * D, W = m.window(), G = m.shape().group();
  const HeadMismatch& mm = m.mismatch(layer, g);
  HeadCells cells;
  cells.init(D, T, m.poly(), mm.cells());
  QuantHistograms hist;
  QuantHistograms* hp = log_->histograms_on() ? &(hist = m.new_histograms()) : nullptr;
  {
    Rng c2c = m.c2c(layer, b, g);  // write noise: the KV head's
    for (int t = 0; t < T; ++t) {
      const int64_t r = int64_t(b) * T + t;
      if (t + kAhead < T) prefetch_row(qkv.k.at(r + kAhead, g), D), prefetch_row(qkv.v.at(r + kAhead, g), D);
      m.write_token(cells, t, t, qkv.k.at(r, g), qkv.v.at(r, g), layer, g, &mm, c2c, hp);
    }
  }
  act.cell_writes += int64_t(2) * T * D;
  std::vector<float> qp(size_t(T) * D), o(D), dots;
  ReadScratch scr;
  const int slots = query_dot_slots(cells, m.poly());
  for (int h = g * G; h < (g + 1) * G; ++h) {
    Rng c2c = m.c2c(layer, b, h);  // read noise: the query head's
    for (int t = 0; t < T; ++t) {
      const int64_t r = int64_t(b) * T + t;
      if (t + kAhead < T) prefetch_row(qkv.q.at(r + kAhead, h), D);
      m.query(&qp[size_t(t) * D], qkv.q.at(r, h), layer, h, hp);
    }
    ReadConfig rc = m.read_config(&mm, &c2c);
    rc.hist = hp;
    // Queries in blocks of kQueryBlock: when each reads one column range (always, unless ring tiles split the
    // window) and the K arrays are not summed digitally, their step-5 sums come from one pass over the union of
    // the ranges (query_block_dots), each query reading its slice.
    const bool blockable = !rc.digital_row_sum;
    for (int i0 = 0; i0 < T; i0 += kQueryBlock) {
      const int i1 = std::min(T, i0 + kQueryBlock), lo0 = std::max(0, i0 - W + 1);
      bool block = blockable;
      for (int i = i0; i < i1 && block; ++i) block = !(rc.ring && std::max(0, i - W + 1) < (i / W) * W);
      const int64_t width = i1 - lo0;
      if (block) {
        dots.resize(size_t(i1 - i0) * slots * width);
        query_block_dots(dots.data(), &qp[size_t(i0) * D], i1 - i0, lo0, i1, cells, m.poly());
      }
      for (int i = i0; i < i1; ++i) {
        int lo = std::max(0, i - W + 1);
        ColRange r[2];
        int nr = 1;
        r[0] = {lo, i + 1};
        int base = (i / W) * W;
        if (rc.ring && lo < base) {
          r[0] = {base, i + 1};
          r[1] = {lo, base};
          nr = 2;
        }
        const float* given[kMaxPowers + 1] = {};
        for (int p = 0; p < slots && block; ++p)
          given[p] = dots.data() + (size_t(i - i0) * slots + p) * width + (lo - lo0);
        ReadStats st = read_cells(o.data(), &qp[size_t(i) * D], i, r, nr, cells, rc, scr, block ? given : nullptr);
        count_read(act, st, D, m.c2p_per_key());
        m.output(out + (size_t(b) * T + i) * C + size_t(h) * D, o.data(), layer, h);
      }
    }
  }
  if (hp) log_->add(layer, hist);
}

void GainCellAttention::forward(float* out, const QkvView& qkv, int B, int T, int layer) {
  if (layer < 0 || layer >= model_->n_layer())
    fail_expected("gaincell", "layer in [0, " + std::to_string(model_->n_layer()) + ")", std::to_string(layer));
  const int Hkv = model_->n_kv_head();
  std::vector<AttentionActivity> acts(size_t(B) * Hkv);
  parallel_for(0, int64_t(B) * Hkv,
               [&](int64_t task) { forward_group(out, qkv, T, int(task / Hkv), int(task % Hkv), layer, acts[task]); });
  AttentionActivity total;
  for (auto& a : acts) total.add(a);
  total.tokens += int64_t(B) * T;
  log_->add(layer, total);
  train_->observe(model_->scalers(layer), layer, qkv, model_->shape(), out, B, T);
}

std::vector<QuantHistograms> quant_histograms(const Attention& a) {
  auto* g = dynamic_cast<const GainCellAttention*>(&a);
  return g ? g->histograms() : std::vector<QuantHistograms>{};
}

std::unique_ptr<AttentionCache> GainCellAttention::make_cache(int layer, int B, int64_t max_tokens) {
  return make_gaincell_cache(model_, log_, layer, B, max_tokens);
}

}  // namespace gaincell
