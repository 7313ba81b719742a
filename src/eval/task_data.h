// Evaluation task files (JSON Lines) read into scoring items. The schema is detected per line from its keys:
//   LAMBADA         {"context", "continuation"}             target " " + continuation
//   query/choices   {"query", "choices", "gold"}            context query, continuations " " + choice
//   partial scoring {"context_options", "continuation", "gold"}  contexts the options, continuation " " + it
//   HellaSwag       {"activity_label", "ctx_a", "ctx_b", "endings", "label"} (original rowanz format), with
//                   lm-eval's preprocessing (hellaswag_preprocess).
// Every malformed line (bad JSON, unknown schema, missing key, wrong type, gold out of range, empty or single
// choices, empty strings) throws one Error("eval", ...) naming the file and the 1-based line number.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gaincell {

enum class TaskSchema { kLambada, kQueryChoices, kContextOptions, kHellaSwag };
const char* task_schema_name(TaskSchema s);

// One context/continuation pair to score; norm_length is the length lm-eval divides by for acc_norm: the
// choice text without the leading delimiter, in Unicode code points (Python's len()).
struct ScoredPair {
  std::string context, continuation;
  int64_t norm_length = 0;
};

// A LAMBADA item has one pair and gold 0; a multiple-choice item has one pair per choice.
struct TaskItem {
  TaskSchema schema = TaskSchema::kLambada;
  std::vector<ScoredPair> pairs;
  int gold = 0;
  int line = 0;  // 1-based line in the file
};

// Detects the schema of one parsed line from its keys; throws naming `where` when it matches none.
// (Takes the JSON as text so that this header stays free of the JSON library.)
TaskSchema detect_task_schema(std::string_view json_line, const std::string& where);

// Parses one line; `where` names it in errors ("file:line").
TaskItem parse_task_line(std::string_view json_line, const std::string& where);

// Reads up to `limit` items (0 = all) of a JSONL file; blank lines are skipped (but counted for line numbers).
std::vector<TaskItem> read_task_file(const std::string& path, int64_t limit = 0);

// lm-eval's hellaswag `preprocess`: strip, " [title]" -> ". ", drop any "[...]", then "  " -> " " (one pass).
std::string hellaswag_preprocess(std::string_view text);
// Python's str.capitalize() for ASCII letters: first character upper case, the rest lower case; other bytes
// (including UTF-8 sequences) are kept as they are.
std::string capitalize_ascii(std::string_view text);
// Number of Unicode code points of UTF-8 text (bytes that are not continuation bytes).
int64_t utf8_length(std::string_view text);

}  // namespace gaincell
