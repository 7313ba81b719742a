// gaincell.HardwareConfig: the C++ HardwareConfig, every field reachable by its TOML path ("array.window_tokens")
// through the field list of analog/hw_toml.h; each assignment is validated by HardwareConfig::check and rolled
// back when invalid (gaincell.Error, a ValueError, with the library's message).
#include <pybind11/stl.h>

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "analog/hw_toml.h"
#include "common.h"
#include "core/error.h"

namespace gaincell::py {
namespace {

std::string type_name(pyb::handle v) {
  return std::string(pyb::str(pyb::type::handle_of(v).attr("__name__")));
}

// Converts a Python value into a field of type T, raising TypeError naming the path.
template <typename T>
T field_value(const std::string& path, pyb::handle v) {
  auto bad = [&](const char* want) {
    throw pyb::type_error("HardwareConfig." + path + ": expected " + want + ", got " + type_name(v));
  };
  if constexpr (std::is_same_v<T, bool>) {
    if (!pyb::isinstance<pyb::bool_>(v)) bad("bool");
    return v.cast<bool>();
  } else if constexpr (std::is_same_v<T, int> || std::is_same_v<T, uint64_t>) {
    if (!pyb::isinstance<pyb::int_>(v) || pyb::isinstance<pyb::bool_>(v)) bad("int");
    long long x = 0;
    try {
      if constexpr (std::is_same_v<T, int>) {
        x = v.cast<long long>();
        if (x < INT32_MIN || x > INT32_MAX) throw pyb::cast_error("");
        return static_cast<int>(x);
      } else {
        return v.cast<uint64_t>();
      }
    } catch (const pyb::cast_error&) {
      throw pyb::value_error("HardwareConfig." + path + ": expected an int in range, got " + std::string(pyb::str(v)));
    }
  } else if constexpr (std::is_same_v<T, double>) {
    if (pyb::isinstance<pyb::bool_>(v) || !(pyb::isinstance<pyb::float_>(v) || pyb::isinstance<pyb::int_>(v)))
      bad("float");
    return v.cast<double>();
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!pyb::isinstance<pyb::str>(v)) bad("str");
    return v.cast<std::string>();
  } else {
    if (pyb::isinstance<pyb::str>(v) || !pyb::isinstance<pyb::sequence>(v)) bad("a list of floats");
    std::vector<double> out;
    for (pyb::handle e : pyb::reinterpret_borrow<pyb::sequence>(v)) out.push_back(field_value<double>(path, e));
    return out;
  }
}

bool has_field(const HardwareConfig& c, const std::string& path) {
  bool found = false;
  for_each_hw_field(c, [&](const std::string& p, const auto&, const std::string&) { found |= p == path; });
  return found;
}

[[noreturn]] void unknown_field(const std::string& path) {
  throw pyb::attribute_error("HardwareConfig has no field '" + path +
                             "' (HardwareConfig.fields() lists them; docs/hardware-toml.md)");
}

pyb::object get_field(const HardwareConfig& c, const std::string& path) {
  pyb::object out;
  for_each_hw_field(c, [&](const std::string& p, const auto& f, const std::string&) {
    if (p == path) out = pyb::cast(f);
  });
  if (!out) unknown_field(path);
  return out;
}

void set_field(HardwareConfig& c, const std::string& path, pyb::handle v) {
  if (!has_field(c, path)) unknown_field(path);
  for_each_hw_field(c, [&](const std::string& p, auto& f, const std::string&) {
    if (p == path) f = field_value<std::decay_t<decltype(f)>>(path, v);
  });
}

// Sets several fields, then validates once; on any error the config is left unchanged.
void update_fields(HardwareConfig& c, const pyb::dict& values) {
  HardwareConfig next = c;
  for (auto [k, v] : values) {
    if (!pyb::isinstance<pyb::str>(k)) throw pyb::type_error("HardwareConfig.update: expected str field paths");
    set_field(next, k.cast<std::string>(), v);
  }
  next.check("HardwareConfig");
  c = next;
}

pyb::dict to_dict(const HardwareConfig& c) {
  pyb::dict root;
  for_each_hw_field(c, [&](const std::string& path, const auto& f, const std::string&) {
    pyb::dict d = root;
    size_t start = 0, dot;
    while ((dot = path.find('.', start)) != std::string::npos) {
      pyb::str key(path.substr(start, dot - start));
      if (!d.contains(key)) d[key] = pyb::dict();
      d = d[key].cast<pyb::dict>();
      start = dot + 1;
    }
    d[pyb::str(path.substr(start))] = pyb::cast(f);
  });
  return root;
}

}  // namespace

void bind_hardware(pyb::module_& m) {
  pyb::class_<HardwareConfig>(m, "_HardwareConfig", "The C++ hardware description; use gaincell.HardwareConfig.")
      .def(pyb::init<>())
      .def_static("paper", [] { return HardwareConfig{}; })
      .def_static("from_toml", &load_hardware_toml, pyb::arg("path"))
      .def_static("from_toml_string", &hardware_from_toml, pyb::arg("text"), pyb::arg("where") = "<string>")
      .def(
          "to_toml", [](const HardwareConfig& c, const std::string& path) { save_hardware_toml(path, c); },
          pyb::arg("path"))
      .def("toml", &hardware_to_toml)
      .def("get", &get_field, pyb::arg("path"))
      .def(
          "set",
          [](HardwareConfig& c, const std::string& path, pyb::handle v) {
            HardwareConfig next = c;
            set_field(next, path, v);
            next.check("HardwareConfig." + path);
            c = next;
          },
          pyb::arg("path"), pyb::arg("value"))
      .def("update", &update_fields, pyb::arg("values"))
      .def("to_dict", &to_dict)
      .def("validate", &HardwareConfig::validate)
      .def("lambda_per_token", &HardwareConfig::lambda_per_token)
      .def("_assign", [](HardwareConfig& a, const HardwareConfig& b) { a = b; })
      .def("__eq__",
           [](const HardwareConfig& a, const HardwareConfig& b) { return hardware_to_toml(a) == hardware_to_toml(b); })
      .def_static("fields", [] {
        std::vector<std::pair<std::string, std::string>> out;
        const HardwareConfig defaults;
        for_each_hw_field(
            defaults, [&](const std::string& p, const auto&, const std::string& help) { out.emplace_back(p, help); });
        return out;
      });
}

}  // namespace gaincell::py
