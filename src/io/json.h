// JSON parsing with one clear error line on failure (nlohmann-json underneath). parse_json_strict adds what
// file formats need beyond plain parsing: duplicate keys are rejected (nlohmann keeps the last one silently)
// and nesting depth is capped, so hostile headers fail fast with a message instead of surprising the caller.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace gaincell {

// Reads and parses a JSON file; throws Error(component, ...) naming the file and the parse position.
nlohmann::json load_json_file(const std::string& path, const std::string& component, size_t max_bytes = 64u << 20);
nlohmann::json parse_json(const std::string& text, const std::string& component, const std::string& where);

// Parses text like parse_json, but throws Error(component, ...) on a duplicate key in any object (naming the
// key) and on nesting deeper than max_depth containers (the top-level value counts as depth 1).
nlohmann::json parse_json_strict(std::string_view text, const std::string& component, const std::string& where,
                                 int max_depth);

}  // namespace gaincell
