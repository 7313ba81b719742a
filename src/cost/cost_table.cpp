#include "cost/cost_table.h"

#include <cmath>

#include "core/error.h"
#include "core/file.h"
#include "io/toml_fields.h"

namespace gaincell {

std::vector<std::string> CostTable::validate() const {
  std::vector<std::string> out;
  for_each_cost_field(*this, [&](const std::string& path, const double& v, const std::string&) {
    if (!std::isfinite(v) || v < 0) out.push_back(path + ": expected a finite value >= 0, got " + toml_double(v));
  });
  return out;
}

CostTable cost_table_from_toml(const std::string& text, const std::string& where) {
  TomlFieldReader r(text, where, "cost");
  CostTable c;
  for_each_cost_field(c, [&](const std::string& path, double& field, const std::string&) { r.read(path, field); });
  for (auto& p : c.validate()) r.add_error(p);
  r.finish();
  return c;
}

CostTable load_cost_table(const std::string& path) {
  return cost_table_from_toml(read_file(path, 1u << 20), path);
}

std::string cost_table_to_toml(const CostTable& c) {
  TomlFieldWriter w(
      "# gaincell per-action cost table (docs/cost-model.md). Units are in the key names; each comment gives the\n"
      "# value's source or marks it as an assumption. Cost = activity counts x this table.\n");
  for_each_cost_field(
      c, [&](const std::string& path, const double& v, const std::string& help) { w.field(path, v, help); });
  return w.text();
}

void save_cost_table(const std::string& path, const CostTable& c) {
  auto problems = c.validate();
  if (!problems.empty()) fail("cost", problems[0] + " (writing '" + path + "')");
  write_file_atomic(path, cost_table_to_toml(c));
}

}  // namespace gaincell
