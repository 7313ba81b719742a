// gaincell: the command-line front end. Parses arguments into library option structs and reports every
// failure as one line on stderr: exit 2 for usage errors, 1 for bad input or failed work.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <new>
#include <string>

#include "cli/commands.h"
#include "cli/omp_wait.h"
#include "core/dist.h"
#include "core/error.h"
#include "io/provenance.h"

int main(int argc, char** argv) {
  // libgomp reads OMP_WAIT_POLICY / GOMP_SPINCOUNT once, before main(). Its default (spin ~300,000 times before
  // sleeping) makes 2-thread runs 2-35x slower when another process holds a core; plain passive waiting costs
  // a wake-up per parallel region (~50 per decoded token). So unless the user chose, start over once with a
  // bounded spin when the machine has a core per thread, else passive (cli/omp_wait.h; docs/performance.md,
  // "OpenMP wait policy"); if the exec fails, run on with the default.
  if (gaincell::cli::set_wait_policy_environment()) execv("/proc/self/exe", argv);
  // Under mpirun: one rank of the job (core/dist.h); alone: one process, as without MPI.
  gaincell::dist_init(&argc, &argv);
  gaincell::dist_quiet_other_ranks();
  CLI::App app{"gaincell: analog gain-cell attention simulator and native GPT-2 engine"};
  app.require_subcommand(1);
  gaincell::set_command_line(argc, argv);  // the "provenance" of every JSON the commands write
  app.set_version_flag("--version", std::string("gaincell ") + gaincell::gaincell_version() + " (commit " +
                                        gaincell::gaincell_git_commit() + ")");
  gaincell::cli::register_init(app);
  gaincell::cli::register_info(app);
  gaincell::cli::register_tokenize(app);
  gaincell::cli::register_generate(app);
  gaincell::cli::register_perplexity(app);
  gaincell::cli::register_logits(app);
  gaincell::cli::register_cost(app);
  gaincell::cli::register_eval(app);
  gaincell::cli::register_adapt(app);
  gaincell::cli::register_data(app);
  gaincell::cli::register_train(app);
  gaincell::cli::register_device(app);
  gaincell::cli::register_reproduce(app);
  gaincell::cli::register_convert(app);
  std::string known;
  bool found = false;
  for (const CLI::App* sub : app.get_subcommands({})) {
    known += (known.empty() ? "" : "|") + sub->get_name();
    found = found || (argc > 1 && sub->get_name() == argv[1]);
  }
  if (argc > 1 && argv[1][0] != '-' && !found) {
    std::fprintf(stderr, "gaincell: error: expected a subcommand (%s), got '%s' (see --help)\n", known.c_str(),
                 argv[1]);
    gaincell::dist_finalize();
    return 2;
  }
  // Usage errors are the same on every rank: rank 0 prints them. A failure in the work may be one rank's: under
  // mpirun it prints its line and ends the whole job (MPI_Abort), so that no rank waits on it forever.
  const bool root = gaincell::dist_root();
  auto failed = [](const std::string& message) -> int {
    if (gaincell::dist_size() > 1) {
      gaincell::dist_abort(message, 1);  // ends the job under mpirun; returns only without a started MPI job
      return 1;
    }
    std::fprintf(stderr, "gaincell: error: %s\n", message.c_str());
    return 1;
  };
  int rc = 0;
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    rc = root ? app.exit(e) : 0;  // --help, --version
  } catch (const CLI::ParseError& e) {
    if (root) std::fprintf(stderr, "gaincell: error: %s (see --help)\n", e.what());
    rc = 2;
  } catch (const gaincell::Error& e) {
    return failed(e.what());
  } catch (const std::bad_alloc&) {
    return failed("out of memory");
  } catch (const std::exception& e) {
    return failed(e.what());
  }
  gaincell::dist_finalize();
  return rc;
}
