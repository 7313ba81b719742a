#include "io/json.h"

#include <set>
#include <vector>

#include "core/error.h"
#include "core/file.h"

namespace gaincell {
namespace {

using Json = nlohmann::json;

// Parsing throws parse_error for syntax and out_of_range (406) for a number too large for a double
// ("1e999"): both are bad input.
[[noreturn]] void fail_parse(const Json::exception& e, const std::string& component, const std::string& where) {
  // nlohmann's message is "[json.exception.parse_error.101] parse error at line 1, column 5: ..."; keep the tail.
  std::string what = e.what();
  size_t at = what.find("parse error");
  if (at == std::string::npos) at = what.find("number overflow");
  if (at != std::string::npos) what = what.substr(at);
  fail_expected(component, "valid JSON", "a " + what, "in '" + where + "'");
}

}  // namespace

nlohmann::json parse_json(const std::string& text, const std::string& component, const std::string& where) {
  try {
    return Json::parse(text);
  } catch (const Json::exception& e) {
    fail_parse(e, component, where);
  }
}

nlohmann::json parse_json_strict(std::string_view text, const std::string& component, const std::string& where,
                                 int max_depth) {
  // One key set per open container (arrays too, so every *_end event pops exactly its own entry).
  std::vector<std::set<std::string>> keys;
  auto check = [&](int depth, Json::parse_event_t event, Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start:
      case Json::parse_event_t::array_start:
        if (depth + 1 > max_depth)
          fail_expected(component, "JSON nested at most " + std::to_string(max_depth) + " levels deep",
                        "deeper nesting", "in '" + where + "'");
        keys.emplace_back();
        break;
      case Json::parse_event_t::object_end:
      case Json::parse_event_t::array_end:
        if (!keys.empty()) keys.pop_back();
        break;
      case Json::parse_event_t::key:
        if (!keys.empty() && !keys.back().insert(parsed.get<std::string>()).second)
          fail_expected(component, "unique keys", "duplicate key '" + parsed.get<std::string>() + "'",
                        "in '" + where + "'");
        break;
      case Json::parse_event_t::value:
        break;
    }
    return true;
  };
  try {
    return Json::parse(text.begin(), text.end(), check);
  } catch (const Json::exception& e) {
    fail_parse(e, component, where);
  }
}

nlohmann::json load_json_file(const std::string& path, const std::string& component, size_t max_bytes) {
  if (!file_exists(path)) fail(component, "missing file '" + path + "'");
  return parse_json(read_file(path, max_bytes), component, path);
}

}  // namespace gaincell
