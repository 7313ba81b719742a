// The paper's experiment end to end (`gaincell reproduce`, docs/reproduce.md): data split, softmax baseline,
// direct mapping onto gain-cell arrays, the adaptation pipeline, a from-scratch gain-cell control with the same
// step budget, generated text, cost against GPUs and robustness sweeps, written as results.json, report.md,
// report.html and one SVG per figure. What it runs on is a profile (data: model source, dataset, split,
// budgets), so another model is another profile, not another code path. The CLI only fills ReproduceOptions.
#pragma once
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace gaincell {

// Step budgets and sizes of one run.
struct ReproduceBudget {
  int context_tokens = 128;       // tokens per training sequence and per evaluation window
  int eval_windows = 16;          // evaluation windows over the held-out split (eval/perplexity.h)
  int batch_sequences = 8;        // sequences per optimizer step (adaptation stages 1, 3 and the control)
  int linear_steps = 500;         // adaptation stage 1 (gaincell-linear)
  int calib_iterations = 100;     // adaptation stage 2, at most
  int finetune_steps = 500;       // adaptation stage 3 (gaincell); the control trains linear + finetune steps
  int calib_batch_sequences = 4;  // the calibration batch
  int adapt_eval_batches = 2;     // validation batches per evaluation inside the adaptation
  float lr = 1e-3f, min_lr = 1e-4f;
  int64_t lr_decay_steps = 600000;  // cosine to min_lr over this many steps: the paper's nearly constant rate
  int gen_tokens = 96;              // generated tokens per model
  double temperature = 0.8;         // sampling temperature of the generated text
  std::vector<double> cell_gain_sigmas{0.0, 0.05, 0.1, 0.2, 0.3};  // robustness: noise.cell_gain_sigma
  std::vector<double> retention_s{5e-3, 1e-5, 3e-6, 1e-6, 3e-7};   // robustness: cell retention time (s)
  std::vector<std::string> validate() const;
};

// The full and --quick budgets of the bundled profile (docs/reproduce.md, "Profiles").
ReproduceBudget full_budget();
ReproduceBudget quick_budget();

// What the experiment runs on: a model, a dataset, its split and the budgets.
struct ReproduceProfile {
  std::string name;       // "shakespeare-bytes"
  std::string title;      // the report's heading: "... on <title>"
  std::string model_dir;  // the pre-trained model (Hugging Face layout: config.json, model.safetensors)
  // Or a llama2.c checkpoint and its tokenizer.bin: when llama2c_checkpoint is set, the run converts them
  // (convert_llama2c, model/llama2c.h) into work/base/ and uses that folder as the model; model_dir is unused.
  std::string llama2c_checkpoint;
  std::string llama2c_tokenizer;
  std::string model_label;  // "byte-level GPT-2" (report text)
  std::string text_path;    // the corpus
  std::string data_label;   // "TinyShakespeare" (report text)
  // How the corpus becomes token ids. "bytes": byte values (a model with vocab_size 256); "model": the
  // model's own tokenizer (Tokenizer::from_dir of the model folder, ids below its vocab_size), whose files are
  // copied into the adapted and control folders.
  std::string tokenization = "bytes";
  // Corpus prefix used: 0 = the whole file; else the text up to the last newline within the first text_bytes.
  int64_t text_bytes = 0;
  // Split of the tokens, in order: the first train_fraction trains (adaptation stages, control); the next
  // monitor_fraction is the adaptation's own validation file (val.bin: its logged evaluations and the
  // calibration trace); the rest is held out and scores every loss of the report. monitor_fraction 0: the
  // adaptation's logged evaluations read the held-out part too (they select nothing: no weight depends on them).
  double train_fraction = 0.9;
  double monitor_fraction = 0;
  std::string prompt;       // prompt of the generated text
  bool prompt_bos = false;  // generation starts with the tokenizer's BOS before the prompt
  // Models priced by the cost section beside this one (config presets, model/config.h).
  std::vector<std::string> cost_presets{"gpt2", "gpt2-xl"};
  ReproduceBudget budget;
  std::vector<std::string> validate() const;
};

// The bundled byte-level Shakespeare GPT-2 (models/shakespeare-bytes) on data/tinyshakespeare.txt, split 90/10
// nanoGPT style, with the full or the quick budget.
ReproduceProfile shakespeare_profile(bool quick);

// stories260K (llama2.c's 260K-parameter Llama, GQA 8 query / 4 KV heads, 512-token vocabulary; under
// shared/data/DaveBben__esp32-llm/) on the TinyStories validation text (shared/data/yuninxia__moe-routing-bench/
// tinystories_val.txt), tokenized by the model's tokenizer: a prefix split into an adaptation part, a monitor
// part and a held-out part (docs/reproduce.md, "stories260K"). Paths relative to shared_dir.
ReproduceProfile stories260k_profile(bool quick, const std::string& shared_dir);

// The profiles `gaincell reproduce --profile` knows: "shakespeare", "stories260k".
const std::vector<std::string>& reproduce_profile_names();
// The profile of that name; throws gaincell::Error naming the known ones otherwise.
ReproduceProfile reproduce_profile(const std::string& name, bool quick, const std::string& shared_dir);
// The shared data folder: $GAINCELL_SHARED_DIR, else /work/shared.
std::string default_shared_dir();

struct ReproduceOptions {
  std::string out_dir = "reproduce";  // results.json, report.md, report.html, <figure>.svg, work/
  std::string model_dir;              // replaces the profile's model when not empty
  std::string text_path;              // replaces the profile's corpus when not empty (model_dir and text_path
                                      // need one named profile, not "all")
  std::string profile = "all";        // a name of reproduce_profile_names(), or "all": every one
  std::string shared_dir;             // the shared data folder of stories260k; empty = default_shared_dir()
  bool quick = false;                 // the profile's quick budget
  uint64_t seed = 1;                  // data windows, sampling, hardware draws, control initialisation
  std::vector<std::string> validate() const;
};

// Progress of the run for a front end: note(line) is one finished result ("baseline loss 1.4758");
// progress(stage, done, total) reports the steps of a long stage, and progress(stage, -1, 0) its end.
struct ReproduceHooks {
  std::function<void(const std::string&)> note;
  std::function<void(const std::string& stage, int64_t done, int64_t total)> progress;
};

// Runs the experiment on `profile` (model and corpus replaced by options' when set) and writes every output
// under options.out_dir; returns the results JSON (the content of results.json). Throws gaincell::Error on
// invalid options or inputs.
nlohmann::ordered_json run_reproduce(const ReproduceOptions& options, const ReproduceProfile& profile,
                                     const ReproduceHooks& hooks = {});

// The profiles options.profile names (every one for "all"), at options.quick's budget.
std::vector<ReproduceProfile> selected_profiles(const ReproduceOptions& options);
// What `gaincell reproduce` runs: run_reproduce on the one selected profile (outputs directly in out_dir), or
// run_reproduce_all on several.
nlohmann::ordered_json run_reproduce_selected(const ReproduceOptions& options, const ReproduceHooks& hooks = {});

// Runs several profiles, each into options.out_dir/<profile name>/ (its own results.json, reports, figures,
// work/), then writes options.out_dir/results.json ({"profiles": [each run's results], ...}), report.md and
// report.html showing the models side by side (reproduce_report.h). Returns the combined JSON.
nlohmann::ordered_json run_reproduce_all(const ReproduceOptions& options, const std::vector<ReproduceProfile>& profiles,
                                         const ReproduceHooks& hooks = {});

}  // namespace gaincell
