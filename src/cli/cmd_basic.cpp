// Subcommands that do not run the model: init, info, tokenize.
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/error.h"
#include "core/file.h"
#include "kernels/threads.h"
#include "model/gpt2.h"
#include "tokenizer/tokenizer.h"

namespace gaincell::cli {

void register_init(CLI::App& app) {
  struct Opts {
    std::string preset, out;
    uint64_t seed = 0;
    ThreadOptions threads;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand("init", "Write a random-weight GPT-2 model folder (GPT-2 initialisation)");
  cmd->add_option("--preset", o->preset, "tiny|gpt2|gpt2-medium|gpt2-large|gpt2-xl")
      ->required()
      ->check(CLI::IsMember(config_preset_names()));
  cmd->add_option("--seed", o->seed, "Random seed");
  cmd->add_option("--out", o->out, "Output folder")->required();
  add_thread_options(cmd, o->threads);
  cmd->callback([o] {
    apply_thread_options(o->threads);
    Gpt2 m = Gpt2::random(config_preset(o->preset), o->seed);
    m.save(o->out);
    std::printf("wrote %s: preset %s, %lld parameters, seed %llu\n", o->out.c_str(), o->preset.c_str(),
                static_cast<long long>(m.config().num_parameters()), static_cast<unsigned long long>(o->seed));
  });
}

void register_info(CLI::App& app) {
  struct Opts {
    std::string model_dir;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand("info", "Print a model's configuration and parameter count");
  cmd->add_option("--model", o->model_dir, "Model folder")->required();
  cmd->callback([o] {
    Gpt2 m = Gpt2::load(o->model_dir);
    const Gpt2Config& c = m.config();
    std::printf("model:       %s\n", o->model_dir.c_str());
    std::printf("n_layer:     %d\nn_head:      %d\nn_embd:      %d\nhead_dim:    %d\n", c.n_layer, c.n_head, c.n_embd,
                c.head_dim());
    std::printf("vocab_size:  %d\nn_positions: %d\nln_eps:      %g\nactivation:  %s\n", c.vocab_size,
                c.n_positions, c.layer_norm_epsilon, c.activation_function.c_str());
    std::printf("parameters:  %lld\n", static_cast<long long>(c.num_parameters()));
    std::printf("lm_head:     %s\n", m.lm_head() == m.wte() ? "tied to wte" : "separate tensor");
    std::printf("gemm:        %s\n", gemm_backend_name().c_str());
  });
}

void register_tokenize(CLI::App& app) {
  struct Opts {
    std::string model_dir, text_path, prompt;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand("tokenize", "Print the GPT-2 token ids of a text as one JSON array");
  cmd->add_option("--model", o->model_dir, "Model folder (its tokenizer files)")->required();
  auto* text = cmd->add_option("--text", o->text_path, "Text file");
  auto* prompt = cmd->add_option("--prompt", o->prompt, "Text given inline");
  text->excludes(prompt);
  cmd->callback([o, text, prompt] {
    if (text->count() == 0 && prompt->count() == 0)
      fail_expected("cli", "--text FILE or --prompt TEXT", "neither");
    Tokenizer tok = Tokenizer::from_dir(o->model_dir);
    std::string s = text->count() ? read_file(o->text_path) : o->prompt;
    std::vector<int32_t> ids = tok.encode(s);
    std::string out = "[";
    for (size_t i = 0; i < ids.size(); ++i) out += (i ? "," : "") + std::to_string(ids[i]);
    out += "]\n";
    std::fwrite(out.data(), 1, out.size(), stdout);
  });
}

}  // namespace gaincell::cli
