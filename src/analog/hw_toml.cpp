// Hardware TOML load/save with toml++. Loading walks the field list once, then rejects any key of the file
// that no field consumed; all problems of one file are reported together.
#include "analog/hw_toml.h"

#include <toml++/toml.h>

#include <charconv>
#include <set>
#include <sstream>
#include <type_traits>

#include "core/error.h"
#include "core/file.h"

namespace gaincell {
namespace {

void collect_leaves(const toml::table& t, const std::string& prefix, std::set<std::string>& out) {
  for (auto&& [k, v] : t) {
    std::string path = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (auto* sub = v.as_table())
      collect_leaves(*sub, path, out);
    else
      out.insert(path);
  }
}

std::string type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::table:
      return "a table";
    default:
      return "a date/time";
  }
}

bool read_number(const toml::node& n, double& out) {
  if (auto v = n.value_exact<double>()) return out = *v, true;
  if (auto v = n.value_exact<int64_t>()) return out = static_cast<double>(*v), true;
  return false;
}

// Reads one field; returns an error line or "".
template <typename T>
std::string read_field(const toml::node& n, T& field) {
  if constexpr (std::is_same_v<T, bool>) {
    if (auto v = n.value_exact<bool>()) return field = *v, "";
    return "expected a boolean, got " + type_name(n);
  } else if constexpr (std::is_same_v<T, int>) {
    auto v = n.value_exact<int64_t>();
    if (!v) return "expected an integer, got " + type_name(n);
    if (*v < INT32_MIN || *v > INT32_MAX) return "expected a 32-bit integer, got " + std::to_string(*v);
    return field = static_cast<int>(*v), "";
  } else if constexpr (std::is_same_v<T, uint64_t>) {
    auto v = n.value_exact<int64_t>();
    if (!v || *v < 0) return "expected a non-negative integer, got " + (v ? std::to_string(*v) : type_name(n));
    return field = static_cast<uint64_t>(*v), "";
  } else if constexpr (std::is_same_v<T, double>) {
    if (read_number(n, field)) return "";
    return "expected a number, got " + type_name(n);
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (auto v = n.value_exact<std::string>()) return field = *v, "";
    return "expected a string, got " + type_name(n);
  } else {
    static_assert(std::is_same_v<T, std::vector<double>>);
    auto* arr = n.as_array();
    if (!arr) return "expected an array of numbers, got " + type_name(n);
    std::vector<double> vals;
    for (auto& e : *arr) {
      double d;
      if (!read_number(e, d)) return "expected an array of numbers, got an element that is " + type_name(e);
      vals.push_back(d);
    }
    field = std::move(vals);
    return "";
  }
}

std::string fmt_double(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  std::string s(buf, r.ptr);
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";  // keep it a TOML float
  if (s == "inf") s = "inf";
  return s;
}

template <typename T>
std::string fmt_value(const T& v) {
  if constexpr (std::is_same_v<T, bool>) {
    return v ? "true" : "false";
  } else if constexpr (std::is_same_v<T, int> || std::is_same_v<T, uint64_t>) {
    return std::to_string(v);
  } else if constexpr (std::is_same_v<T, double>) {
    return fmt_double(v);
  } else if constexpr (std::is_same_v<T, std::string>) {
    return "\"" + v + "\"";
  } else {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + fmt_double(v[i]);
    return s + "]";
  }
}

}  // namespace

HardwareConfig hardware_from_toml(const std::string& text, const std::string& where) {
  toml::table tbl;
  try {
    tbl = toml::parse(text, where);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << "expected valid TOML in '" << where << "', got a syntax error at line " << e.source().begin.line << ": "
        << e.description();
    fail("hw", msg.str());
  }
  std::set<std::string> leaves;
  collect_leaves(tbl, "", leaves);
  HardwareConfig c;
  std::vector<std::string> errors;
  for_each_hw_field(c, [&](const std::string& path, auto& field, const std::string&) {
    toml::node_view<toml::node> n = tbl.at_path(path);
    if (!n) {
      // A table where a value is expected also shows up as missing leaves below `path`.
      return;
    }
    leaves.erase(path);
    std::string err = read_field(*n.node(), field);
    if (!err.empty()) errors.push_back("key '" + path + "': " + err);
  });
  for (auto& k : leaves) errors.push_back("unknown key '" + k + "'");
  if (!errors.empty()) {
    std::string msg;
    for (size_t i = 0; i < errors.size(); ++i) msg += (i ? "; " : "") + errors[i];
    fail("hw", msg + " in '" + where + "'");
  }
  c.check(where);
  return c;
}

HardwareConfig load_hardware_toml(const std::string& path) {
  return hardware_from_toml(read_file(path, 1u << 20), path);
}

std::string hardware_to_toml(const HardwareConfig& c) {
  std::string out = "# gaincell hardware description (docs/hardware-toml.md). Units are in the key names.\n";
  std::string section;
  for_each_hw_field(c, [&](const std::string& path, const auto& field, const std::string& help) {
    size_t dot = path.rfind('.');
    std::string sec = path.substr(0, dot), key = path.substr(dot + 1);
    if (sec != section) {
      out += "\n[" + sec + "]\n";
      section = sec;
    }
    out += key + " = " + fmt_value(field) + "  # " + help + "\n";
  });
  return out;
}

void save_hardware_toml(const std::string& path, const HardwareConfig& c) {
  c.check(path);
  write_file_atomic(path, hardware_to_toml(c));
}

}  // namespace gaincell
