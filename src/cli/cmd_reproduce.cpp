// `gaincell reproduce [--quick] [--profile NAME|all] [--out DIR]`: the paper's experiment
// (src/experiments/reproduce.h) on the bundled byte-level Shakespeare model and on stories260K; this file only
// maps the flags onto ReproduceOptions and shows progress (docs/reproduce.md).
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/error.h"
#include "experiments/reproduce.h"

namespace gaincell::cli {
namespace {

struct ReproduceCliOptions {
  ReproduceOptions run;
  ThreadOptions threads;
};

void run(const ReproduceCliOptions& o) {
  apply_thread_options(o.threads);
  std::unique_ptr<Progress> bar;  // the stage now running
  ReproduceHooks hooks;
  hooks.note = [](const std::string& line) {
    std::fprintf(stderr, "reproduce: %s\n", line.c_str());
    std::fflush(stderr);
  };
  hooks.progress = [&bar](const std::string& stage, int64_t done, int64_t total) {
    if (done < 0) {
      if (bar) bar->finish();
      bar.reset();
      return;
    }
    if (!bar) bar = std::make_unique<Progress>(stage, total, "steps");
    bar->update(done, stage);
  };
  const double start = now_seconds();
  run_reproduce_selected(o.run, hooks);
  std::printf("wrote %s/report.md, report.html, results.json (%.0f s)\n", o.run.out_dir.c_str(), now_seconds() - start);
}

}  // namespace

void register_reproduce(CLI::App& app) {
  auto o = std::make_shared<ReproduceCliOptions>();
  CLI::App* cmd = app.add_subcommand("reproduce", "Run the paper's story end to end and write a report");
  cmd->add_flag("--quick", o->run.quick, "Small step budgets (under two minutes on two cores)");
  cmd->add_option("--profile", o->run.profile,
                  "shakespeare, stories260k or all (default: all, each into OUT/<profile>/ with a side-by-side "
                  "report in OUT)");
  cmd->add_option("--out", o->run.out_dir, "Output folder (report.md, report.html, results.json)");
  cmd->add_option("--model", o->run.model_dir, "Model folder replacing the profile's model (needs a named --profile)");
  cmd->add_option("--text", o->run.text_path, "Corpus replacing the profile's (needs a named --profile)");
  cmd->add_option("--seed", o->run.seed, "Seed of data windows, sampling and hardware draws");
  add_thread_options(cmd, o->threads);
  cmd->callback([o] { run(*o); });
}

}  // namespace gaincell::cli
