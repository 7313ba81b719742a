// JSON file loading with one clear error line on failure (nlohmann-json underneath).
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace gaincell {

// Reads and parses a JSON file; throws Error(component, ...) naming the file and the parse position.
nlohmann::json load_json_file(const std::string& path, const std::string& component, size_t max_bytes = 64u << 20);
nlohmann::json parse_json(const std::string& text, const std::string& component, const std::string& where);

}  // namespace gaincell
