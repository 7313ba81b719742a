#include "io/json.h"

#include "core/error.h"
#include "core/file.h"

namespace gaincell {

nlohmann::json parse_json(const std::string& text, const std::string& component, const std::string& where) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) fail_expected(component, "valid JSON", "a parse error", "in '" + where + "'");
  return j;
}

nlohmann::json load_json_file(const std::string& path, const std::string& component, size_t max_bytes) {
  if (!file_exists(path)) fail(component, "missing file '" + path + "'");
  return parse_json(read_file(path, max_bytes), component, path);
}

}  // namespace gaincell
