#include "cost/cost_table.h"

#include <toml++/toml.h>

#include <charconv>
#include <cmath>
#include <set>
#include <sstream>

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

std::string fmt_double(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  std::string s(buf, r.ptr);
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

}  // namespace

std::vector<std::string> CostTable::validate() const {
  std::vector<std::string> out;
  for_each_cost_field(*this, [&](const std::string& path, const double& v, const std::string&) {
    if (!std::isfinite(v) || v < 0) out.push_back(path + ": expected a finite value >= 0, got " + fmt_double(v));
  });
  return out;
}

CostTable cost_table_from_toml(const std::string& text, const std::string& where) {
  toml::table tbl;
  try {
    tbl = toml::parse(text, where);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << "expected valid TOML in '" << where << "', got a syntax error at line " << e.source().begin.line << ": "
        << e.description();
    fail("cost", msg.str());
  }
  std::set<std::string> leaves;
  collect_leaves(tbl, "", leaves);
  CostTable c;
  std::vector<std::string> errors;
  for_each_cost_field(c, [&](const std::string& path, double& field, const std::string&) {
    toml::node_view<toml::node> n = tbl.at_path(path);
    if (!n) return;
    leaves.erase(path);
    if (auto d = n.value_exact<double>())
      field = *d;
    else if (auto i = n.value_exact<int64_t>())
      field = static_cast<double>(*i);
    else
      errors.push_back("key '" + path + "': expected a number");
  });
  for (auto& k : leaves) errors.push_back("unknown key '" + k + "'");
  for (auto& p : c.validate()) errors.push_back(p);
  if (!errors.empty()) {
    std::string msg;
    for (size_t i = 0; i < errors.size(); ++i) msg += (i ? "; " : "") + errors[i];
    fail("cost", msg + " in '" + where + "'");
  }
  return c;
}

CostTable load_cost_table(const std::string& path) {
  return cost_table_from_toml(read_file(path, 1u << 20), path);
}

std::string cost_table_to_toml(const CostTable& c) {
  std::string out =
      "# gaincell per-action cost table (docs/cost-model.md). Units are in the key names; each comment gives the\n"
      "# value's source or marks it as an assumption. Cost = activity counts x this table.\n";
  std::string section;
  for_each_cost_field(c, [&](const std::string& path, const double& v, const std::string& help) {
    size_t dot = path.rfind('.');
    std::string sec = path.substr(0, dot), key = path.substr(dot + 1);
    if (sec != section) {
      out += "\n[" + sec + "]\n";
      section = sec;
    }
    out += key + " = " + fmt_double(v) + "  # " + help + "\n";
  });
  return out;
}

void save_cost_table(const std::string& path, const CostTable& c) {
  auto problems = c.validate();
  if (!problems.empty()) fail("cost", problems[0] + " (writing '" + path + "')");
  write_file_atomic(path, cost_table_to_toml(c));
}

}  // namespace gaincell
