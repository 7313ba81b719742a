// gaincell_attention (the training form of the gain-cell backends on q [(B,) H, T, D], k, v [(B,) H_kv, T, D]),
// its surrogate backward (Attention::backward of the same backend), the default scalers, and GainCellArray (one
// head driven token by token). Each call builds the backend from the public constructors (GainCellModel,
// GainCellAttention), sets the scalers through parameters() (whose names and sizes the backend defines), and
// runs with the GIL released. Without a batch axis q, k, v are read in place (no copy).
#include <pybind11/stl.h>

#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "analog/gaincell_attention.h"
#include "analog/head_array.h"
#include "common.h"
#include "core/error.h"

namespace gaincell::py {
namespace {

const std::string kPrefix = "h.0.attn.gaincell.";

bool parse_mode(const std::string& mode) {
  if (mode == "nonlinear") return false;
  if (mode == "linear") return true;
  fail_expected("python", "mode \"nonlinear\" or \"linear\"", "\"" + mode + "\"");
}

HardwareConfig hw_of(pyb::handle hw) {
  if (hw.is_none()) return HardwareConfig{};
  if (!pyb::isinstance<HardwareConfig>(hw))
    throw pyb::type_error("hw: expected None or a gaincell.HardwareConfig, got " +
                          std::string(pyb::str(pyb::type::handle_of(hw).attr("__name__"))));
  return hw.cast<HardwareConfig>();
}

// Sets the backend's scalers from {"q.scale": array [n], ...}; names and sizes are the backend's parameters().
void set_scalers(std::vector<ParamView> params, pyb::handle scalers) {
  if (scalers.is_none()) return;
  if (!pyb::isinstance<pyb::dict>(scalers))
    throw pyb::type_error("scalers: expected None or a dict such as {\"q.scale\": array, ...}");
  std::string names;
  for (auto& p : params) names += (names.empty() ? "" : ", ") + p.name.substr(kPrefix.size());
  for (auto [key, value] : pyb::reinterpret_borrow<pyb::dict>(scalers)) {
    std::string k = pyb::str(key);
    ParamView* target = nullptr;
    for (auto& p : params)
      if (p.name == kPrefix + k) target = &p;
    if (!target) throw pyb::value_error("scalers: expected keys among " + names + ", got '" + k + "'");
    pyb::array a = f32_array(value, "scalers['" + k + "']", 1, 1);
    int64_t n = 1;
    for (int64_t s : target->shape) n *= s;
    if (a.size() != n)
      throw pyb::value_error("scalers['" + k + "']: expected " + std::to_string(n) + " values, got " +
                             std::to_string(a.size()));
    require_finite(static_cast<const float*>(a.data()), n, "scalers['" + k + "']");
    std::memcpy(target->value, a.data(), sizeof(float) * size_t(n));
  }
}

pyb::dict param_dict(const std::vector<ParamView>& params, bool grads) {
  pyb::dict d;
  for (auto& p : params) {
    int64_t n = 1;
    for (int64_t s : p.shape) n *= s;
    pyb::array_t<float> a = new_f32({n});
    std::memcpy(a.mutable_data(), grads ? p.grad : p.value, sizeof(float) * size_t(n));
    d[pyb::str(p.name.substr(kPrefix.size()))] = a;
  }
  return d;
}

// The shapes of one call, checked: q [(B,) H, T, D], k and v [(B,) H_kv, T, D].
struct Shape {
  bool batched = false;
  int B = 1, H = 0, Hkv = 0, T = 0, D = 0;
  int64_t q_numel() const { return int64_t(B) * H * T * D; }
  int64_t kv_numel() const { return int64_t(B) * Hkv * T * D; }
  std::vector<int64_t> q_shape() const {
    return batched ? std::vector<int64_t>{B, H, T, D} : std::vector<int64_t>{H, T, D};
  }
  std::vector<int64_t> kv_shape() const {
    return batched ? std::vector<int64_t>{B, Hkv, T, D} : std::vector<int64_t>{Hkv, T, D};
  }
};

Shape check_shapes(const pyb::array& q, const pyb::array& k, const pyb::array& v) {
  Shape s;
  s.batched = q.ndim() == 4;
  if (k.ndim() != q.ndim() || v.ndim() != q.ndim())
    throw pyb::value_error("q, k, v: expected the same number of dimensions, got shapes " + shape_text(q) + ", " +
                           shape_text(k) + ", " + shape_text(v));
  const int o = s.batched ? 1 : 0;
  s.B = s.batched ? int(q.shape(0)) : 1;
  s.H = int(q.shape(o)), s.T = int(q.shape(o + 1)), s.D = int(q.shape(o + 2));
  s.Hkv = int(k.shape(o));
  for (const pyb::array* a : {&k, &v})
    if ((s.batched && a->shape(0) != s.B) || a->shape(o + 1) != s.T || a->shape(o + 2) != s.D || a->shape(o) != s.Hkv)
      throw pyb::value_error("k, v: expected shape [" + std::string(s.batched ? "B, " : "") +
                             "H_kv, T, D] matching q " + shape_text(q) + ", got " + shape_text(k) + " and " +
                             shape_text(v));
  if (s.B < 1 || s.H < 1 || s.T < 1 || s.D < 1 || s.Hkv < 1)
    throw pyb::value_error("q: expected no empty axis, got shape " + shape_text(q));
  if (s.H % s.Hkv != 0)
    throw pyb::value_error("k, v: expected H_kv dividing H = " + std::to_string(s.H) +
                           ", got H_kv = " + std::to_string(s.Hkv));
  return s;
}

// q, k, v in the backend's layout: in place without a batch axis (rows t, heads T D apart), else copied into
// fused rows [B T, H D + 2 H_kv D] (every view then shares one row stride, as backward requires).
struct Staged {
  std::vector<float> fused;
  QkvView view;
};

void stage(Staged& st, const Shape& s, const float* q, const float* k, const float* v) {
  const int64_t T = s.T, D = s.D;
  if (!s.batched) {
    st.view = {{q, D, T * D}, {k, D, T * D}, {v, D, T * D}};
    return;
  }
  const int64_t W = int64_t(s.H + 2 * s.Hkv) * D;
  st.fused.assign(size_t(s.B) * T * W, 0.0f);
  float* f = st.fused.data();
  for (int64_t b = 0; b < s.B; ++b)
    for (int64_t t = 0; t < T; ++t) {
      float* row = f + (b * T + t) * W;
      for (int64_t h = 0; h < s.H; ++h) std::memcpy(row + h * D, q + ((b * s.H + h) * T + t) * D, sizeof(float) * D);
      for (int64_t g = 0; g < s.Hkv; ++g) {
        std::memcpy(row + (s.H + g) * D, k + ((b * s.Hkv + g) * T + t) * D, sizeof(float) * D);
        std::memcpy(row + (s.H + s.Hkv + g) * D, v + ((b * s.Hkv + g) * T + t) * D, sizeof(float) * D);
      }
    }
  st.view = {{f, W, D}, {f + s.H * D, W, D}, {f + (s.H + s.Hkv) * D, W, D}};
}

// rows [B, T, n_head D] (row stride ld, head h at column offset h D) -> heads [B, n_head, T, D].
void rows_to_heads(float* dst, const float* rows, int64_t ld, int B, int n_head, int T, int D) {
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < n_head; ++h)
      for (int64_t t = 0; t < T; ++t)
        std::memcpy(dst + ((b * n_head + h) * T + t) * D, rows + (b * T + t) * ld + h * D, sizeof(float) * D);
}

struct Backend {
  std::shared_ptr<GainCellModel> model;
  std::unique_ptr<GainCellAttention> attn;
};

Backend make_backend(const HardwareConfig& hw, const Shape& s, std::optional<int> window, bool linear, uint64_t seed,
                     pyb::handle scalers) {
  if (window && *window < 1) fail_expected("python", "window >= 1 or None", std::to_string(*window));
  Backend b;
  b.model =
      std::make_shared<GainCellModel>(hw, 1, s.H, s.D, window.value_or(hw.array.window_tokens), linear, seed, s.Hkv);
  b.attn = std::make_unique<GainCellAttention>(b.model, linear);
  set_scalers(b.attn->parameters(), scalers);
  return b;
}

pyb::array_t<float> forward(pyb::handle qh, pyb::handle kh, pyb::handle vh, pyb::handle hw, const std::string& mode,
                            std::optional<int> window, pyb::handle scalers, uint64_t seed) {
  pyb::array q = f32_array(qh, "q", 3, 4), k = f32_array(kh, "k", 3, 4), v = f32_array(vh, "v", 3, 4);
  const Shape s = check_shapes(q, k, v);
  const float *qp = static_cast<const float*>(q.data()), *kp = static_cast<const float*>(k.data()),
              *vp = static_cast<const float*>(v.data());
  require_finite(qp, s.q_numel(), "q");
  require_finite(kp, s.kv_numel(), "k");
  require_finite(vp, s.kv_numel(), "v");
  Backend be = make_backend(hw_of(hw), s, window, parse_mode(mode), seed, scalers);
  pyb::array_t<float> out = new_f32(s.q_shape());
  float* dst = out.mutable_data();
  {
    pyb::gil_scoped_release nogil;
    Staged st;
    stage(st, s, qp, kp, vp);
    std::vector<float> rows(size_t(s.B) * s.T * s.H * s.D);
    be.attn->forward(rows.data(), st.view, s.B, s.T, 0);
    rows_to_heads(dst, rows.data(), int64_t(s.H) * s.D, s.B, s.H, s.T, s.D);
  }
  return out;
}

pyb::tuple backward(pyb::handle qh, pyb::handle kh, pyb::handle vh, pyb::handle douth, pyb::handle hw,
                    const std::string& mode, std::optional<int> window, pyb::handle scalers) {
  pyb::array q = f32_array(qh, "q", 3, 4), k = f32_array(kh, "k", 3, 4), v = f32_array(vh, "v", 3, 4);
  pyb::array dout = f32_array(douth, "dout", 3, 4);
  const Shape s = check_shapes(q, k, v);
  if (dout.ndim() != q.ndim() || shape_text(dout) != shape_text(q))
    throw pyb::value_error("dout: expected the shape of q " + shape_text(q) + ", got " + shape_text(dout));
  const float *qp = static_cast<const float*>(q.data()), *kp = static_cast<const float*>(k.data()),
              *vp = static_cast<const float*>(v.data()), *gp = static_cast<const float*>(dout.data());
  require_finite(qp, s.q_numel(), "q");
  require_finite(kp, s.kv_numel(), "k");
  require_finite(vp, s.kv_numel(), "v");
  require_finite(gp, s.q_numel(), "dout");
  Backend be = make_backend(hw_of(hw), s, window, parse_mode(mode), 0, scalers);
  pyb::array_t<float> dq = new_f32(s.q_shape()), dk = new_f32(s.kv_shape()), dv = new_f32(s.kv_shape());
  float *dqp = dq.mutable_data(), *dkp = dk.mutable_data(), *dvp = dv.mutable_data();
  {
    pyb::gil_scoped_release nogil;
    const int64_t T = s.T, D = s.D, C = int64_t(s.H) * D;
    Staged st;
    stage(st, s, qp, kp, vp);
    std::vector<float> drows(size_t(s.B) * T * C);  // dout as rows [B, T, H D]
    for (int64_t b = 0; b < s.B; ++b)
      for (int64_t h = 0; h < s.H; ++h)
        for (int64_t t = 0; t < T; ++t)
          std::memcpy(drows.data() + (b * T + t) * C + h * D, gp + ((b * s.H + h) * T + t) * D, sizeof(float) * D);
    if (!s.batched) {  // gradients written in place, in the inputs' layout
      QkvGrad g{{dqp, D, T * D}, {dkp, D, T * D}, {dvp, D, T * D}};
      be.attn->backward(g, drows.data(), st.view, 1, s.T, 0);
    } else {
      const int64_t W = int64_t(s.H + 2 * s.Hkv) * D;
      std::vector<float> f(size_t(s.B) * T * W);
      QkvGrad g{{f.data(), W, D}, {f.data() + C, W, D}, {f.data() + C + s.Hkv * D, W, D}};
      be.attn->backward(g, drows.data(), st.view, s.B, s.T, 0);
      rows_to_heads(dqp, f.data(), W, s.B, s.H, s.T, s.D);
      rows_to_heads(dkp, f.data() + C, W, s.B, s.Hkv, s.T, s.D);
      rows_to_heads(dvp, f.data() + C + s.Hkv * D, W, s.B, s.Hkv, s.T, s.D);
    }
  }
  return pyb::make_tuple(dq, dk, dv, param_dict(be.attn->parameters(), true));
}

pyb::dict default_scalers(int n_head, std::optional<int> n_kv_head, int head_dim, pyb::handle hw) {
  Shape s;
  s.H = n_head, s.Hkv = n_kv_head.value_or(n_head), s.D = head_dim, s.T = 1;
  Backend be = make_backend(hw_of(hw), s, std::nullopt, true, 0, pyb::none());
  return param_dict(be.attn->parameters(), false);
}

class PyArray {
 public:
  PyArray(int head_dim, pyb::handle hw, const std::string& mode, std::optional<int> window, uint64_t seed,
          pyb::handle scalers)
      : a_(hw_of(hw), head_dim, parse_mode(mode), window.value_or(0), seed) {
    if (window && *window < 1) fail_expected("python", "window >= 1 or None", std::to_string(*window));
    if (scalers.is_none()) return;
    // One head: the parameter views of layer 0, head 0.
    LayerScalers& sc = a_.scalers();
    std::vector<ParamView> params;
    for (int kind = 0; kind < kNumScalers; ++kind) {
      params.push_back({kPrefix + scaler_name(kind) + ".scale", {1}, scaler_scale(sc, kind), nullptr});
      params.push_back({kPrefix + scaler_name(kind) + ".shift", {1}, scaler_shift(sc, kind), nullptr});
    }
    set_scalers(params, scalers);
  }
  void write(pyb::handle kh, pyb::handle vh) {
    const float* k = vec(kh, "k");
    const float* v = vec(vh, "v");
    pyb::gil_scoped_release nogil;
    a_.write(k, v);
  }
  pyb::array_t<float> read(pyb::handle qh) {
    const float* q = vec(qh, "q");
    pyb::array_t<float> out = new_f32({a_.head_dim()});
    float* dst = out.mutable_data();
    pyb::gil_scoped_release nogil;
    a_.read(dst, q);
    return out;
  }
  pyb::array_t<int64_t> age() const {
    std::vector<int64_t> a = a_.ages();
    pyb::array_t<int64_t> out(pyb::ssize_t(a.size()));
    std::memcpy(out.mutable_data(), a.data(), sizeof(int64_t) * a.size());
    return out;
  }
  int64_t position() const { return a_.position(); }
  int head_dim() const { return a_.head_dim(); }
  int window() const { return a_.window(); }
  pyb::dict activity() const {
    const AttentionActivity& a = a_.activity();
    pyb::dict d;
    d["tokens"] = a.tokens, d["cell_writes"] = a.cell_writes, d["query_pulses"] = a.query_pulses;
    d["cell_reads"] = a.cell_reads, d["charge_to_pulse"] = a.charge_to_pulse;
    d["adc_conversions"] = a.adc_conversions, d["digital_adds"] = a.digital_adds;
    return d;
  }

 private:
  const float* vec(pyb::handle h, const std::string& what) {
    pyb::array x = f32_array(h, what, 1, 1);
    if (x.shape(0) != a_.head_dim())
      throw pyb::value_error(what + ": expected shape [" + std::to_string(a_.head_dim()) + "], got " + shape_text(x));
    const float* p = static_cast<const float*>(x.data());
    require_finite(p, x.size(), what);
    return p;
  }
  GainCellHeadArray a_;
};

}  // namespace

void bind_attention(pyb::module_& m) {
  m.def("gaincell_attention", &forward, pyb::arg("q"), pyb::arg("k"), pyb::arg("v"), pyb::arg("hw") = pyb::none(),
        pyb::arg("mode") = "nonlinear", pyb::arg("window") = pyb::none(), pyb::arg("scalers") = pyb::none(),
        pyb::arg("seed") = 0);
  m.def("gaincell_attention_backward", &backward, pyb::arg("q"), pyb::arg("k"), pyb::arg("v"), pyb::arg("dout"),
        pyb::arg("hw") = pyb::none(), pyb::arg("mode") = "nonlinear", pyb::arg("window") = pyb::none(),
        pyb::arg("scalers") = pyb::none());
  m.def("default_scalers", &default_scalers, pyb::arg("n_head"), pyb::arg("n_kv_head") = pyb::none(),
        pyb::arg("head_dim") = 64, pyb::arg("hw") = pyb::none());
  pyb::class_<PyArray>(m, "_GainCellArray", "The C++ single-head arrays; use gaincell.GainCellArray.")
      .def(pyb::init<int, pyb::handle, const std::string&, std::optional<int>, uint64_t, pyb::handle>(),
           pyb::arg("head_dim") = 64, pyb::arg("hw") = pyb::none(), pyb::arg("mode") = "nonlinear",
           pyb::arg("window") = pyb::none(), pyb::arg("seed") = 0, pyb::arg("scalers") = pyb::none())
      .def("write", &PyArray::write, pyb::arg("k"), pyb::arg("v"))
      .def("read", &PyArray::read, pyb::arg("q"))
      .def_property_readonly("age", &PyArray::age)
      .def_property_readonly("position", &PyArray::position)
      .def_property_readonly("head_dim", &PyArray::head_dim)
      .def_property_readonly("window", &PyArray::window)
      .def("activity", &PyArray::activity);
}

}  // namespace gaincell::py
