// Subcommands that run the model: generate, perplexity, logits.
#include <cmath>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/error.h"
#include "core/file.h"
#include "eval/perplexity.h"
#include "io/npy.h"
#include "model/engine.h"
#include "model/sampler.h"
#include "tokenizer/tokenizer.h"

namespace gaincell::cli {
namespace {

void check_context(int64_t tokens, int n_positions, const std::string& what) {
  if (tokens > n_positions)
    fail_expected("cli", what + " of at most n_positions = " + std::to_string(n_positions) + " tokens",
                  std::to_string(tokens) + " tokens");
}

}  // namespace

void register_generate(CLI::App& app) {
  struct Opts {
    ModelOptions model;
    std::string prompt;
    int n = 64;
    SamplerConfig sampler;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand("generate", "Generate text from a prompt, streamed as it is produced");
  add_model_options(cmd, o->model);
  cmd->add_option("--prompt", o->prompt, "Prompt text")->required();
  cmd->add_option("-n,--tokens", o->n, "Number of tokens to generate")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--temperature", o->sampler.temperature, "Sampling temperature (0 = greedy)");
  cmd->add_option("--top-k", o->sampler.top_k, "Keep the k most likely tokens (0 = off)");
  cmd->add_option("--top-p", o->sampler.top_p, "Nucleus sampling mass in (0, 1] (1 = off)");
  cmd->callback([o] {
    auto problems = o->sampler.validate();
    if (!problems.empty()) fail("cli", problems[0]);
    LoadedModel lm = load_model(o->model);
    const Gpt2Config& c = lm.model->config();
    Tokenizer tok = Tokenizer::from_dir(o->model.model_dir);
    // BOS in front where the tokenizer's configuration says so (Llama family); GPT-2 adds nothing.
    std::vector<int32_t> ids = tok.encode(o->prompt, {tok.add_bos(), false});
    if (ids.empty()) ids.push_back(tok.start_id());
    check_context(static_cast<int64_t>(ids.size()) + o->n, c.n_positions, "prompt + generated tokens");
    Gpt2Engine engine(*lm.model, *lm.attention);
    engine.decode_begin(1, static_cast<int64_t>(ids.size()) + o->n);
    Sampler sampler(o->sampler, o->model.seed);
    std::fwrite(o->prompt.data(), 1, o->prompt.size(), stdout);
    std::fflush(stdout);
    double t0 = now_seconds();
    const float* logits = engine.decode_prefill(ids.data(), static_cast<int>(ids.size()));
    double t1 = now_seconds();
    for (int i = 0; i < o->n; ++i) {
      int32_t next = sampler.sample(logits, c.vocab_size);
      std::string piece = tok.decode_one(next);
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
      if (i + 1 < o->n) logits = engine.decode_step(&next);
    }
    double t2 = now_seconds();
    std::printf("\n");
    std::fprintf(stderr, "prompt: %zu tokens in %.1f ms; generated %d tokens, %.2f ms/token (%s attention)\n",
                 ids.size(), 1e3 * (t1 - t0), o->n, o->n > 1 ? 1e3 * (t2 - t1) / (o->n - 1) : 0.0,
                 lm.attention->name().c_str());
    write_report_if_requested(o->model, lm);
  });
}

void register_perplexity(CLI::App& app) {
  struct Opts {
    ModelOptions model;
    std::string text_path;
    int context = 0;
    int stride = 0;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand("perplexity", "Strided sliding-window perplexity of a text file");
  add_model_options(cmd, o->model, /*with_seed=*/true);
  cmd->add_option("--text", o->text_path, "Text file")->required();
  cmd->add_option("--context", o->context, "Window length in tokens (default n_positions)")
      ->check(CLI::Range(2, 1 << 20));
  cmd->add_option("--stride", o->stride, "Tokens advanced per window (default context / 2)")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_flag("--json", o->json, "Print the result as JSON");
  cmd->callback([o] {
    LoadedModel lm = load_model(o->model);
    const Gpt2Config& c = lm.model->config();
    const int L = o->context ? o->context : c.n_positions;
    check_context(L, c.n_positions, "--context");
    const int S = o->stride ? o->stride : std::max(1, L / 2);
    if (S > L) fail_expected("cli", "--stride <= --context (" + std::to_string(L) + ")", std::to_string(S));
    Tokenizer tok = Tokenizer::from_dir(o->model.model_dir);
    std::string text = read_file(o->text_path);
    std::vector<int32_t> ids = tok.encode(text, {tok.add_bos(), false});  // BOS where the tokenizer says so
    Gpt2Engine engine(*lm.model, *lm.attention);
    Progress progress("perplexity", static_cast<int64_t>(ids.size()), "tok");
    PerplexityResult r = strided_perplexity(engine, ids, {L, S}, [&](int64_t done, double mean_nll) {
      progress.update(done, "nll " + std::to_string(mean_nll));
    });
    progress.finish();
    const int64_t N = r.tokens, scored = r.scored_tokens;
    const double mean = r.mean_nll, ppl = r.perplexity;
    const double bpb = bits_per_byte(r.nll_sum, static_cast<int64_t>(text.size()));
    if (o->json) {
      nlohmann::ordered_json j;
      j["model"] = o->model.model_dir;
      j["text"] = o->text_path;
      j["attention"] = lm.attention->name();
      j["context"] = L;
      j["stride"] = S;
      j["tokens"] = N;
      j["scored_tokens"] = scored;
      j["bytes"] = text.size();
      j["mean_nll"] = mean;
      j["perplexity"] = ppl;
      j["bits_per_byte"] = bpb;
      j["provenance"] = model_provenance(o->model, c);
      std::printf("%s\n", j.dump(2).c_str());
    } else {
      std::printf("tokens:        %lld (scored %lld)\nmean NLL:      %.6f\nperplexity:    %.4f\nbits per byte: %.6f\n",
                  static_cast<long long>(N), static_cast<long long>(scored), mean, ppl, bpb);
    }
    write_report_if_requested(o->model, lm);
  });
}

void register_logits(CLI::App& app) {
  struct Opts {
    ModelOptions model;
    std::string prompt, tokens, out;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand("logits", "Write the float32 logits [T, vocab] of every position as .npy");
  add_model_options(cmd, o->model);
  auto* prompt = cmd->add_option("--prompt", o->prompt, "Prompt text (tokenized with the model's tokenizer)");
  auto* tokens = cmd->add_option("--tokens", o->tokens, "Token ids, e.g. \"1,2,3\"");
  prompt->excludes(tokens);
  cmd->add_option("--out", o->out, "Output .npy file")->required();
  cmd->callback([o, prompt, tokens] {
    if (prompt->count() == 0 && tokens->count() == 0) fail_expected("cli", "--prompt TEXT or --tokens IDS", "neither");
    LoadedModel lm = load_model(o->model);
    const Gpt2Config& c = lm.model->config();
    std::vector<int32_t> ids =
        tokens->count() ? parse_token_list(o->tokens) : Tokenizer::from_dir(o->model.model_dir).encode(o->prompt);
    if (ids.empty()) fail_expected("cli", "a prompt of at least one token", "an empty prompt");
    check_context(static_cast<int64_t>(ids.size()), c.n_positions, "a prompt");
    Gpt2Engine engine(*lm.model, *lm.attention);
    const int T = static_cast<int>(ids.size());
    const float* logits = engine.forward(ids.data(), 1, T);
    write_npy_f32(o->out, {T, c.vocab_size}, logits);
    std::fprintf(stderr, "wrote %s: [%d, %d] float32 (%s attention)\n", o->out.c_str(), T, c.vocab_size,
                 lm.attention->name().c_str());
    write_report_if_requested(o->model, lm);
  });
}

}  // namespace gaincell::cli
