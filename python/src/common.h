// Shared pieces of the Python bindings: numpy argument checks (float32, C-contiguous, shape, finite) that raise
// TypeError / ValueError with one clear line, and JSON text -> Python objects.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

namespace gaincell::py {

namespace pyb = pybind11;

// A float32 C-contiguous numpy array, used in place (no copy). Anything else raises: a non-array or another
// dtype TypeError, another layout or a rank outside [min_ndim, max_ndim] ValueError; the message names `what`.
pyb::array f32_array(pyb::handle h, const std::string& what, int min_ndim, int max_ndim);
// Raises ValueError naming `what` and the first index when x holds a NaN or an infinity.
void require_finite(const float* x, int64_t n, const std::string& what);
// The shape of an array as text, "[2, 3, 4]".
std::string shape_text(const pyb::array& a);
// Token ids from a list / tuple of ints or an integer numpy array (copied into int32, range-checked).
std::vector<int32_t> token_list(pyb::handle h, const std::string& what);
// json.loads(text).
pyb::object json_loads(const std::string& text);
// A new float32 numpy array of the given shape (owned by Python).
pyb::array_t<float> new_f32(const std::vector<int64_t>& shape);

void bind_hardware(pyb::module_& m);
void bind_model(pyb::module_& m);
void bind_attention(pyb::module_& m);
void bind_cost(pyb::module_& m);

}  // namespace gaincell::py
