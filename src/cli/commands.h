// One registration function per subcommand (each defined in cmd_<name>.cpp).
#pragma once
#include <CLI/CLI.hpp>

namespace gaincell::cli {

void register_init(CLI::App& app);
void register_info(CLI::App& app);
void register_tokenize(CLI::App& app);
void register_generate(CLI::App& app);
void register_perplexity(CLI::App& app);
void register_logits(CLI::App& app);
void register_cost(CLI::App& app);  // cost and sweep
void register_eval(CLI::App& app);
void register_adapt(CLI::App& app);
void register_data(CLI::App& app);
void register_train(CLI::App& app);
void register_device(CLI::App& app);
void register_reproduce(CLI::App& app);
void register_convert(CLI::App& app);

}  // namespace gaincell::cli
