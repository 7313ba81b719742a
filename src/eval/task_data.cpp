#include "eval/task_data.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/json.h"

namespace gaincell {
namespace {

using Json = nlohmann::json;

[[noreturn]] void bad(const std::string& expected, const std::string& got, const std::string& where) {
  fail_expected("eval", expected, got, "in '" + where + "'");
}

std::string type_of(const Json& v) {
  return std::string(v.type_name());
}

const Json& need(const Json& j, const char* key, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end()) bad(std::string("key '") + key + "'", "an item without it", where);
  return *it;
}

std::string need_string(const Json& j, const char* key, const std::string& where, bool allow_empty = false) {
  const Json& v = need(j, key, where);
  if (!v.is_string()) bad(std::string("'") + key + "' to be a string", type_of(v), where);
  std::string s = v.get<std::string>();
  if (s.empty() && !allow_empty) bad(std::string("'") + key + "' to be non-empty", "an empty string", where);
  return s;
}

std::vector<std::string> need_strings(const Json& j, const char* key, const std::string& where) {
  const Json& v = need(j, key, where);
  if (!v.is_array()) bad(std::string("'") + key + "' to be an array of strings", type_of(v), where);
  if (v.size() < 2) bad(std::string("'") + key + "' with at least 2 entries", std::to_string(v.size()), where);
  std::vector<std::string> out;
  for (const Json& e : v) {
    if (!e.is_string() || e.get_ref<const std::string&>().empty())
      bad(std::string("'") + key + "' entries to be non-empty strings", e.is_string() ? "an empty string" : type_of(e),
          where);
    out.push_back(e.get<std::string>());
  }
  return out;
}

// An integer index in [0, n); HellaSwag's label may also be a string of digits ("3"), as on the HF hub.
int need_index(const Json& j, const char* key, size_t n, const std::string& where, bool allow_digits = false) {
  const Json& v = need(j, key, where);
  int64_t g = -1;
  if (v.is_number_integer()) {
    g = v.get<int64_t>();
  } else if (allow_digits && v.is_string() && !v.get_ref<const std::string&>().empty() &&
             v.get_ref<const std::string&>().size() < 10 &&
             v.get_ref<const std::string&>().find_first_not_of("0123456789") == std::string::npos) {
    g = std::stoll(v.get<std::string>());
  } else {
    bad(std::string("'") + key + "' to be an integer", type_of(v), where);
  }
  if (g < 0 || g >= static_cast<int64_t>(n))
    bad(std::string("'") + key + "' in [0, " + std::to_string(n) + ")", std::to_string(g), where);
  return static_cast<int>(g);
}

Json parse_object(std::string_view line, const std::string& where) {
  Json j = parse_json_strict(line, "eval", where, 4);
  if (!j.is_object()) bad("a JSON object per line", type_of(j), where);
  return j;
}

TaskSchema detect(const Json& j, const std::string& where) {
  if (j.contains("context_options")) return TaskSchema::kContextOptions;
  if (j.contains("choices")) return TaskSchema::kQueryChoices;
  if (j.contains("endings")) return TaskSchema::kHellaSwag;
  if (j.contains("context") && j.contains("continuation")) return TaskSchema::kLambada;
  std::string keys;
  for (auto it = j.begin(); it != j.end() && keys.size() < 80; ++it) keys += (keys.empty() ? "" : ",") + it.key();
  bad("a known schema ({context,continuation}, {query,choices,gold}, {context_options,continuation,gold} or "
      "HellaSwag {activity_label,ctx_a,ctx_b,endings,label})",
      "keys {" + keys + "}", where);
}

ScoredPair pair(std::string context, const std::string& choice) {
  return ScoredPair{std::move(context), " " + choice, utf8_length(choice)};
}

}  // namespace

const char* task_schema_name(TaskSchema s) {
  switch (s) {
    case TaskSchema::kLambada:
      return "context/continuation";
    case TaskSchema::kQueryChoices:
      return "query/choices";
    case TaskSchema::kContextOptions:
      return "context_options/continuation";
    case TaskSchema::kHellaSwag:
      return "hellaswag";
  }
  return "?";
}

TaskSchema detect_task_schema(std::string_view json_line, const std::string& where) {
  return detect(parse_object(json_line, where), where);
}

TaskItem parse_task_line(std::string_view json_line, const std::string& where) {
  const Json j = parse_object(json_line, where);
  TaskItem item;
  item.schema = detect(j, where);
  switch (item.schema) {
    case TaskSchema::kLambada:
      item.pairs.push_back(pair(need_string(j, "context", where), need_string(j, "continuation", where)));
      break;
    case TaskSchema::kQueryChoices: {
      const std::string query = need_string(j, "query", where);
      const auto choices = need_strings(j, "choices", where);
      for (const std::string& c : choices) item.pairs.push_back(pair(query, c));
      item.gold = need_index(j, "gold", choices.size(), where);
      break;
    }
    case TaskSchema::kContextOptions: {
      const auto options = need_strings(j, "context_options", where);
      const std::string cont = need_string(j, "continuation", where);
      for (const std::string& o : options) item.pairs.push_back(pair(o, cont));
      item.gold = need_index(j, "gold", options.size(), where);
      break;
    }
    case TaskSchema::kHellaSwag: {
      const std::string ctx = need_string(j, "activity_label", where, true) + ": " +
                              need_string(j, "ctx_a", where, true) + " " +
                              capitalize_ascii(need_string(j, "ctx_b", where, true));
      const auto endings = need_strings(j, "endings", where);
      for (const std::string& e : endings)
        item.pairs.push_back(pair(hellaswag_preprocess(ctx), hellaswag_preprocess(e)));
      item.gold = need_index(j, "label", endings.size(), where, /*allow_digits=*/true);
      break;
    }
  }
  return item;
}

std::vector<TaskItem> read_task_file(const std::string& path, int64_t limit) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("eval", "cannot open task file '" + path + "'");
  std::vector<TaskItem> items;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (limit > 0 && static_cast<int64_t>(items.size()) >= limit) break;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    items.push_back(parse_task_line(line, path + ":" + std::to_string(n)));
    items.back().line = n;
  }
  if (in.bad()) fail("eval", "read error in task file '" + path + "'");
  if (items.empty()) fail_expected("eval", "at least one item", "none", "in '" + path + "'");
  return items;
}

std::string hellaswag_preprocess(std::string_view text) {
  const size_t b = text.find_first_not_of(" \t\n\r\v\f");
  if (b == std::string_view::npos) return "";
  text = text.substr(b, text.find_last_not_of(" \t\n\r\v\f") - b + 1);
  std::string titled;
  for (size_t i = 0; i < text.size();) {
    if (text.compare(i, 8, " [title]") == 0) {
      titled += ". ";
      i += 8;
    } else {
      titled += text[i++];
    }
  }
  std::string unbracketed;
  for (size_t i = 0; i < titled.size(); ++i) {
    const size_t close = titled[i] == '[' ? titled.find(']', i + 1) : std::string::npos;
    if (close != std::string::npos && titled.find('\n', i + 1) > close) {  // '.' in the regex skips newlines
      i = close;  // drop "[...]" (non-greedy: up to the first ']')
    } else {
      unbracketed += titled[i];
    }
  }
  std::string out;
  for (size_t i = 0; i < unbracketed.size(); ++i) {
    out += unbracketed[i];
    if (unbracketed[i] == ' ' && i + 1 < unbracketed.size() && unbracketed[i + 1] == ' ') ++i;  // "  " -> " "
  }
  return out;
}

std::string capitalize_ascii(std::string_view text) {
  std::string out(text);
  for (size_t i = 0; i < out.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(out[i]);
    if (c >= 0x80) continue;
    out[i] = static_cast<char>(i == 0 ? std::toupper(c) : std::tolower(c));
  }
  return out;
}

int64_t utf8_length(std::string_view text) {
  int64_t n = 0;
  for (char c : text) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

}  // namespace gaincell
