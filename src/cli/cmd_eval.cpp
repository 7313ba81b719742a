// `gaincell eval`: perplexity, LAMBADA and multiple-choice evaluation (src/eval) with a progress bar, as text
// or JSON. Conventions: docs/evaluation.md.
#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/error.h"
#include "core/file.h"
#include "eval/perplexity.h"
#include "eval/tasks.h"
#include "model/engine.h"
#include "tokenizer/tokenizer.h"

namespace gaincell::cli {
namespace {

using OrderedJson = nlohmann::ordered_json;

struct EvalOptions {
  ModelOptions model;
  std::string task, data_path;
  int64_t limit = 0;
  PerplexityOptions perplexity;
  bool json = false;
};

OrderedJson run_perplexity(const EvalOptions& o, Gpt2Engine& engine, const Tokenizer& tok) {
  const std::string text = read_file(o.data_path);
  const bool bos = tok.add_bos();  // BOS in front where the tokenizer's configuration says so (GPT-2: no)
  std::vector<int32_t> ids = tok.encode(text, {bos, false});
  int64_t bytes = static_cast<int64_t>(text.size());
  if (o.limit > 0 && static_cast<int64_t>(ids.size()) > o.limit) {
    ids.resize(static_cast<size_t>(o.limit));
    bytes = static_cast<int64_t>(tok.decode(std::vector<int32_t>(ids.begin() + (bos ? 1 : 0), ids.end())).size());
  }
  Progress progress("eval perplexity", static_cast<int64_t>(ids.size()), "tok");
  PerplexityResult r = strided_perplexity(engine, ids, o.perplexity, [&](int64_t done, double mean_nll) {
    progress.update(done, "nll " + std::to_string(mean_nll));
  });
  progress.finish();
  OrderedJson j;
  j["context"] = r.context;
  j["stride"] = r.stride;
  j["tokens"] = r.tokens;
  j["scored_tokens"] = r.scored_tokens;
  j["bytes"] = bytes;
  j["mean_nll"] = r.mean_nll;
  j["perplexity"] = r.perplexity;
  j["bits_per_byte"] = bits_per_byte(r.nll_sum, bytes);
  return j;
}

EvalProgress progress_fn(Progress& p) {
  return [&p](int64_t done, int64_t) { p.update(done); };
}

int64_t count_requests(const std::vector<TaskItem>& items) {
  int64_t n = 0;
  for (const TaskItem& item : items) n += static_cast<int64_t>(item.pairs.size());
  return n;
}

OrderedJson run_lambada(const EvalOptions& o, Gpt2Engine& engine, const Tokenizer& tok) {
  const std::vector<TaskItem> items = read_task_file(o.data_path, o.limit);
  Progress progress("eval lambada", count_requests(items), "req");
  LambadaResult r = evaluate_lambada(engine, tok, items, o.data_path, {}, progress_fn(progress));
  progress.finish();
  OrderedJson j;
  j["items"] = r.items;
  j["correct"] = r.correct;
  j["accuracy"] = r.accuracy;
  j["target_tokens"] = r.target_tokens;
  j["mean_nll"] = r.nll_sum / double(r.target_tokens);
  j["perplexity"] = r.perplexity_token;
  j["perplexity_word"] = r.perplexity_word;
  j["truncated"] = r.truncated;
  return j;
}

OrderedJson run_mc(const EvalOptions& o, Gpt2Engine& engine, const Tokenizer& tok) {
  const std::vector<TaskItem> items = read_task_file(o.data_path, o.limit);
  Progress progress("eval mc", count_requests(items), "req");
  McResult r = evaluate_multiple_choice(engine, tok, items, o.data_path, {}, progress_fn(progress));
  progress.finish();
  std::map<std::string, int64_t> schemas;
  for (const TaskItem& item : items) ++schemas[task_schema_name(item.schema)];
  OrderedJson j;
  j["items"] = r.items;
  j["requests"] = r.requests;
  j["correct"] = r.correct;
  j["correct_norm"] = r.correct_norm;
  j["acc"] = r.acc;
  j["acc_stderr"] = r.acc_stderr;
  j["acc_norm"] = r.acc_norm;
  j["acc_norm_stderr"] = r.acc_norm_stderr;
  j["chance"] = r.chance;
  j["schemas"] = schemas;
  j["truncated"] = r.truncated;
  return j;
}

void print_text(const OrderedJson& j) {
  for (const auto& [key, value] : j.items()) {
    std::string v = value.is_number_float() ? std::to_string(value.get<double>())
                    : value.is_string()     ? value.get<std::string>()
                                            : value.dump();
    std::printf("%-16s %s\n", (key + ":").c_str(), v.c_str());
  }
}

}  // namespace

void register_eval(CLI::App& app) {
  auto o = std::make_shared<EvalOptions>();
  CLI::App* cmd = app.add_subcommand("eval", "Evaluate a model: perplexity, LAMBADA or multiple choice");
  add_model_options(cmd, o->model, /*with_seed=*/true);
  cmd->add_option("--task", o->task, "perplexity|lambada|mc")
      ->required()
      ->check(CLI::IsMember({"perplexity", "lambada", "mc"}));
  cmd->add_option("--data", o->data_path, "Text file (perplexity) or JSON Lines task file")->required();
  cmd->add_option("--limit", o->limit, "Evaluate the first N items (perplexity: the first N tokens)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  cmd->add_option("--context", o->perplexity.context, "perplexity: window length in tokens (default n_positions)")
      ->check(CLI::Range(2, 1 << 20));
  cmd->add_option("--stride", o->perplexity.stride, "perplexity: tokens advanced per window (default context / 2)")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_flag("--json", o->json, "Print the result as JSON");
  cmd->callback([o] {
    LoadedModel lm = load_model(o->model);
    Tokenizer tok = Tokenizer::from_dir(o->model.model_dir);
    Gpt2Engine engine(*lm.model, *lm.attention);
    OrderedJson j;
    j["task"] = o->task;
    j["model"] = o->model.model_dir;
    j["data"] = o->data_path;
    j["attention"] = lm.attention->name();
    OrderedJson r = o->task == "perplexity" ? run_perplexity(*o, engine, tok)
                    : o->task == "lambada"  ? run_lambada(*o, engine, tok)
                                            : run_mc(*o, engine, tok);
    j.update(r);
    write_report_if_requested(o->model, lm, j);
    if (o->json) {
      j["provenance"] = model_provenance(o->model, lm.model->config());
      std::printf("%s\n", j.dump(2).c_str());
    } else {
      print_text(j);
    }
  });
}

}  // namespace gaincell::cli
