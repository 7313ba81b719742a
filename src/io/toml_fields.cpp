#include "io/toml_fields.h"

#include <toml++/toml.h>

#include <charconv>
#include <set>
#include <sstream>

#include "core/error.h"

namespace gaincell {

struct TomlFieldReader::Impl {
  toml::table tbl;
  std::set<std::string> leaves;  // keys of the file not consumed yet
  std::vector<std::string> errors;
  std::string where, component;

  // The node at `path`, consumed; null when the file does not have it.
  const toml::node* take(const std::string& path) {
    toml::node_view<toml::node> n = tbl.at_path(path);
    if (!n) return nullptr;  // a table where a value is expected shows up as unknown leaves below `path`
    leaves.erase(path);
    return n.node();
  }
  void bad(const std::string& path, const std::string& what) { errors.push_back("key '" + path + "': " + what); }
};

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

}  // namespace

TomlFieldReader::TomlFieldReader(const std::string& text, const std::string& where, const std::string& component)
    : impl_(std::make_unique<Impl>()) {
  impl_->where = where;
  impl_->component = component;
  try {
    impl_->tbl = toml::parse(text, where);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << "expected valid TOML in '" << where << "', got a syntax error at line " << e.source().begin.line << ": "
        << e.description();
    fail(component, msg.str());
  }
  collect_leaves(impl_->tbl, "", impl_->leaves);
}

TomlFieldReader::~TomlFieldReader() = default;

void TomlFieldReader::read(const std::string& path, bool& field) {
  const toml::node* n = impl_->take(path);
  if (!n) return;
  if (auto v = n->value_exact<bool>())
    field = *v;
  else
    impl_->bad(path, "expected a boolean, got " + type_name(*n));
}

void TomlFieldReader::read(const std::string& path, int& field) {
  const toml::node* n = impl_->take(path);
  if (!n) return;
  auto v = n->value_exact<int64_t>();
  if (!v)
    impl_->bad(path, "expected an integer, got " + type_name(*n));
  else if (*v < INT32_MIN || *v > INT32_MAX)
    impl_->bad(path, "expected a 32-bit integer, got " + std::to_string(*v));
  else
    field = static_cast<int>(*v);
}

void TomlFieldReader::read(const std::string& path, uint64_t& field) {
  const toml::node* n = impl_->take(path);
  if (!n) return;
  auto v = n->value_exact<int64_t>();
  if (!v || *v < 0)
    impl_->bad(path, "expected a non-negative integer, got " + (v ? std::to_string(*v) : type_name(*n)));
  else
    field = static_cast<uint64_t>(*v);
}

void TomlFieldReader::read(const std::string& path, double& field) {
  const toml::node* n = impl_->take(path);
  if (n && !read_number(*n, field)) impl_->bad(path, "expected a number, got " + type_name(*n));
}

void TomlFieldReader::read(const std::string& path, std::string& field) {
  const toml::node* n = impl_->take(path);
  if (!n) return;
  if (auto v = n->value_exact<std::string>())
    field = *v;
  else
    impl_->bad(path, "expected a string, got " + type_name(*n));
}

void TomlFieldReader::read(const std::string& path, std::vector<double>& field) {
  const toml::node* n = impl_->take(path);
  if (!n) return;
  auto* arr = n->as_array();
  if (!arr) return impl_->bad(path, "expected an array of numbers, got " + type_name(*n));
  std::vector<double> vals;
  for (auto& e : *arr) {
    double d;
    if (!read_number(e, d))
      return impl_->bad(path, "expected an array of numbers, got an element that is " + type_name(e));
    vals.push_back(d);
  }
  field = std::move(vals);
}

void TomlFieldReader::add_error(const std::string& line) {
  impl_->errors.push_back(line);
}

void TomlFieldReader::finish() {
  std::vector<std::string> all = impl_->errors;
  for (auto& k : impl_->leaves) all.push_back("unknown key '" + k + "'");
  if (all.empty()) return;
  std::string msg;
  for (size_t i = 0; i < all.size(); ++i) msg += (i ? "; " : "") + all[i];
  fail(impl_->component, msg + " in '" + impl_->where + "'");
}

std::string toml_double(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  std::string s(buf, r.ptr);
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";  // keep it a TOML float ("inf", "nan" stay)
  return s;
}

void TomlFieldWriter::field(const std::string& path, const std::string& v, const std::string& help) {
  line(path, "\"" + v + "\"", help);
}

void TomlFieldWriter::field(const std::string& path, const std::vector<double>& v, const std::string& help) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + toml_double(v[i]);
  line(path, s + "]", help);
}

void TomlFieldWriter::line(const std::string& path, const std::string& value, const std::string& help) {
  size_t dot = path.rfind('.');
  std::string sec = path.substr(0, dot), key = path.substr(dot + 1);
  if (sec != section_) {
    out_ += "\n[" + sec + "]\n";
    section_ = sec;
  }
  out_ += key + " = " + value + "  # " + help + "\n";
}

}  // namespace gaincell
