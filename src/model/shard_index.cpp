#include "model/shard_index.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/json.h"

namespace gaincell {

std::map<std::string, std::string> parse_shard_index(const std::string& text, const std::string& where) {
  nlohmann::json j = parse_json(text, "model", where);
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
    fail_expected("model", "a JSON object with a \"weight_map\" object",
                  j.is_object() ? "no weight_map" : j.type_name(), "in '" + where + "'");
  std::map<std::string, std::string> map;
  for (const auto& [name, file] : j["weight_map"].items()) {
    if (!file.is_string())
      fail_expected("model", "a shard file name for tensor '" + name + "'", file.dump(), "in '" + where + "'");
    const std::string f = file.get<std::string>();
    if (f.empty() || f.find('/') != std::string::npos || f.find('\\') != std::string::npos || f == "." || f == "..")
      fail_expected("model", "a plain shard file name for tensor '" + name + "'", "'" + f + "'", "in '" + where + "'");
    map[name] = f;
  }
  if (map.empty()) fail_expected("model", "at least one tensor in weight_map", "none", "in '" + where + "'");
  return map;
}

}  // namespace gaincell
