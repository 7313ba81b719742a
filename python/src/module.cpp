// The extension module gaincell._gaincell: registers gaincell.Error and the bindings of each part. The public
// package (python/gaincell/__init__.py) re-exports these names with the docs of docs/python.md.
#include <pybind11/stl.h>

#include <cmath>
#include <string>

#include "analog/register.h"
#include "common.h"
#include "core/error.h"
#include "kernels/threads.h"
#include "model/attention.h"

namespace gaincell::py {

pyb::array f32_array(pyb::handle h, const std::string& what, int min_ndim, int max_ndim) {
  if (!pyb::isinstance<pyb::array>(h))
    throw pyb::type_error(what + ": expected a numpy.ndarray of float32, got " +
                          std::string(pyb::str(pyb::type::handle_of(h).attr("__name__"))));
  pyb::array a = pyb::reinterpret_borrow<pyb::array>(h);
  if (!a.dtype().is(pyb::dtype::of<float>()))
    throw pyb::type_error(what + ": expected dtype float32, got " + std::string(pyb::str(a.dtype())) +
                          " (convert with .astype(numpy.float32))");
  if (a.ndim() < min_ndim || a.ndim() > max_ndim) {
    std::string want =
        min_ndim == max_ndim ? std::to_string(min_ndim) : std::to_string(min_ndim) + " or " + std::to_string(max_ndim);
    throw pyb::value_error(what + ": expected " + want + " dimensions, got " + std::to_string(a.ndim()) + " (shape " +
                           shape_text(a) + ")");
  }
  if (!(a.flags() & pyb::array::c_style))
    throw pyb::value_error(what +
                           ": expected a C-contiguous array, got strides that are not (use "
                           "numpy.ascontiguousarray)");
  return a;
}

void require_finite(const float* x, int64_t n, const std::string& what) {
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(x[i]))
      throw pyb::value_error(what + ": expected finite values, got " + (std::isnan(x[i]) ? "NaN" : "an infinity") +
                             " at flat index " + std::to_string(i));
}

std::string shape_text(const pyb::array& a) {
  std::string s = "[";
  for (pyb::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
  return s + "]";
}

std::vector<int32_t> token_list(pyb::handle h, const std::string& what) {
  std::vector<int32_t> ids;
  auto push = [&](long long v) {
    if (v < INT32_MIN || v > INT32_MAX)
      throw pyb::value_error(what + ": expected token ids that fit in int32, got " + std::to_string(v));
    ids.push_back(static_cast<int32_t>(v));
  };
  if (pyb::isinstance<pyb::array>(h)) {
    pyb::array a = pyb::reinterpret_borrow<pyb::array>(h);
    if (a.dtype().kind() != 'i' && a.dtype().kind() != 'u')
      throw pyb::type_error(what + ": expected an integer array, got dtype " + std::string(pyb::str(a.dtype())));
    if (a.ndim() != 1) throw pyb::value_error(what + ": expected a 1-D array, got shape " + shape_text(a));
    pyb::array_t<long long, pyb::array::c_style | pyb::array::forcecast> c(a);
    for (pyb::ssize_t i = 0; i < c.size(); ++i) push(c.data()[i]);
    return ids;
  }
  if (pyb::isinstance<pyb::str>(h) || pyb::isinstance<pyb::bytes>(h) || !pyb::isinstance<pyb::sequence>(h))
    throw pyb::type_error(what + ": expected a list of int token ids, got " +
                          std::string(pyb::str(pyb::type::handle_of(h).attr("__name__"))));
  for (pyb::handle e : pyb::reinterpret_borrow<pyb::sequence>(h)) {
    if (!pyb::isinstance<pyb::int_>(e) || pyb::isinstance<pyb::bool_>(e))
      throw pyb::type_error(what + ": expected int token ids, got an element of type " +
                            std::string(pyb::str(pyb::type::handle_of(e).attr("__name__"))));
    push(e.cast<long long>());
  }
  return ids;
}

pyb::object json_loads(const std::string& text) {
  return pyb::module_::import("json").attr("loads")(text);
}

pyb::array_t<float> new_f32(const std::vector<int64_t>& shape) {
  std::vector<pyb::ssize_t> s(shape.begin(), shape.end());
  return pyb::array_t<float>(s);
}

}  // namespace gaincell::py

PYBIND11_MODULE(_gaincell, m) {
  namespace py = gaincell::py;
  m.doc() = "Native part of the gaincell package (C++ engine and gain-cell simulator); use `import gaincell`.";
  // gaincell::Error (bad input, bad file, invalid configuration) -> gaincell.Error, a ValueError whose text is
  // the library's one line "[component] expected X, got Y".
  auto error = pybind11::register_exception<gaincell::Error>(m, "Error", PyExc_ValueError);
  error.attr("__module__") = "gaincell";
  error.attr("__doc__") =
      "An error of the gaincell library (bad input, bad file, invalid configuration): a ValueError whose text "
      "is gaincell's one line, \"[component] expected X, got Y\".";
  gaincell::register_digital_attention();
  gaincell::register_analog_attention();
  m.def(
      "attention_names", [] { return gaincell::attention_registry().names(); },
      "Names of the attention backends (softmax, sliding, hardsigmoid, gaincell-linear, gaincell).");
  m.def("set_threads", &gaincell::set_compute_threads, pybind11::arg("n"),
        "Worker threads of every following computation (OpenMP and OpenBLAS; 0 = all cores); a Model sets its own "
        "count at each call. Results are the same bits at any count.");
  m.def("gemm_backend", &gaincell::gemm_backend_name, "The GEMM in use, e.g. 'OpenBLAS 0.3.21 (Haswell core)'.");
  m.attr("__version__") = GAINCELL_VERSION;
  py::bind_hardware(m);
  py::bind_model(m);
  py::bind_attention(m);
  py::bind_cost(m);
}
