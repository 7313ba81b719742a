// Subcommands that do not run the model: init, info, tokenize.
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/omp_wait.h"
#include "core/error.h"
#include "core/file.h"
#include "kernels/bf16.h"
#include "kernels/threads.h"
#include "model/gpt2.h"
#include "tokenizer/tokenizer.h"

namespace gaincell::cli {

void register_init(CLI::App& app) {
  struct Opts {
    std::string preset, out, tokenizer = "gpt2";
    uint64_t seed = 0;
    int n_layer = 0, n_head = 0, n_kv_head = 0, n_embd = 0, n_positions = 0, vocab_size = 0;  // 0 = the preset's
    ThreadOptions threads;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand("init", "Write a random-weight model folder (GPT-2 or Llama family)");
  cmd->add_option("--preset", o->preset, "tiny|gpt2|gpt2-medium|gpt2-large|gpt2-xl|llama-tiny|smollm-135m")
      ->required()
      ->check(CLI::IsMember(config_preset_names()));
  cmd->add_option("--seed", o->seed, "Random seed");
  cmd->add_option("--out", o->out, "Output folder")->required();
  cmd->add_option("--n-layer", o->n_layer, "Override the preset's blocks")->check(CLI::Range(1, 1 << 10));
  cmd->add_option("--n-head", o->n_head, "Override the preset's heads per block")->check(CLI::Range(1, 1 << 10));
  cmd->add_option("--n-kv-head", o->n_kv_head, "Override the preset's key/value heads (Llama presets)")
      ->check(CLI::Range(1, 1 << 10));
  cmd->add_option("--n-embd", o->n_embd, "Override the preset's width")->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--n-positions", o->n_positions, "Override the preset's context")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--vocab-size", o->vocab_size, "Override the preset's vocabulary")->check(CLI::Range(1, 1 << 24));
  cmd->add_option("--tokenizer", o->tokenizer, "gpt2 (BPE files) or bytes (256 ids; sets --vocab-size 256)")
      ->check(CLI::IsMember({"gpt2", "bytes"}));
  add_thread_options(cmd, o->threads);
  cmd->callback([o] {
    apply_thread_options(o->threads);
    Gpt2Config cfg = config_preset(o->preset);
    if (o->n_layer) cfg.n_layer = o->n_layer;
    if (o->n_head) cfg.n_head = o->n_head;
    if (o->n_embd) cfg.n_embd = o->n_embd;
    if (o->n_kv_head) cfg.n_kv_head = o->n_kv_head;
    if (o->n_head || o->n_embd) cfg.head_size = 0;  // head_dim follows n_embd / n_head
    if (o->n_positions) cfg.n_positions = o->n_positions;
    if (o->tokenizer == "bytes") {
      if (o->vocab_size && o->vocab_size != 256)
        fail_expected("cli", "--vocab-size 256 with --tokenizer bytes", std::to_string(o->vocab_size));
      cfg.vocab_size = 256;
    } else if (o->vocab_size) {
      cfg.vocab_size = o->vocab_size;
    }
    std::vector<std::string> problems = cfg.validate();
    if (!problems.empty()) fail("cli", "invalid model size: " + problems.front());
    Gpt2 m = Gpt2::random(cfg, o->seed);
    m.save(o->out);
    if (o->tokenizer == "bytes") Tokenizer::write_bytes_tokenizer(o->out);
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
    std::printf("family:      %s\n", c.family.c_str());
    std::printf("n_layer:     %d\nn_head:      %d\nn_kv_head:   %d\nn_embd:      %d\nhead_dim:    %d\n", c.n_layer,
                c.n_head, c.kv_heads(), c.n_embd, c.head_dim());
    std::printf("vocab_size:  %d\nn_positions: %d\n", c.vocab_size, c.n_positions);
    std::printf("norm:        %s (eps %g)\nposition:    %s\n", norm_name(c.norm).c_str(), c.layer_norm_epsilon,
                position_name(c).c_str());
    std::printf("mlp:         %s (%d)\nactivation:  %s\n", mlp_name(c.mlp).c_str(), c.ffn_dim(),
                c.activation_function.c_str());
    std::printf("biases:      qkv %s, o %s, mlp %s\n", c.qkv_bias ? "yes" : "no", c.o_bias ? "yes" : "no",
                c.mlp_bias ? "yes" : "no");
    if (c.sliding_window > 0) std::printf("window:      %d (sliding backend default)\n", c.sliding_window);
    std::printf("parameters:  %lld\n", static_cast<long long>(c.num_parameters()));
    std::printf("lm_head:     %s\n", m.lm_head() == m.wte() ? "tied to the token embedding" : "separate tensor");
    std::printf("gemm:        %s\n", gemm_backend_name().c_str());
    std::printf("bf16 gemm:   %s\n", bf16_projection_label(256).c_str());
    std::printf("omp wait:    %s\n", wait_policy_description().c_str());
  });
}

void register_tokenize(CLI::App& app) {
  struct Opts {
    std::string model_dir, text_path, prompt;
    bool add_special = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand("tokenize", "Print the token ids of a text as one JSON array");
  cmd->add_option("--model", o->model_dir, "Model folder (its tokenizer files)")->required();
  auto* text = cmd->add_option("--text", o->text_path, "Text file");
  auto* prompt = cmd->add_option("--prompt", o->prompt, "Text given inline");
  text->excludes(prompt);
  cmd->add_flag("--add-special", o->add_special,
                "Add BOS/EOS as the tokenizer's configuration does for the model (default: the text's ids alone)");
  cmd->callback([o, text, prompt] {
    if (text->count() == 0 && prompt->count() == 0) fail_expected("cli", "--text FILE or --prompt TEXT", "neither");
    Tokenizer tok = Tokenizer::from_dir(o->model_dir);
    std::string s = text->count() ? read_file(o->text_path) : o->prompt;
    std::vector<int32_t> ids = o->add_special ? tok.encode(s, tok.specials()) : tok.encode(s);
    std::string out = "[";
    for (size_t i = 0; i < ids.size(); ++i) out += (i ? "," : "") + std::to_string(ids[i]);
    out += "]\n";
    std::fwrite(out.data(), 1, out.size(), stdout);
  });
}

}  // namespace gaincell::cli
