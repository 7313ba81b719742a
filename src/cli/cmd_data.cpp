// `gaincell data prepare`: tokenizes a text corpus into train.bin / val.bin token files (docs/token-files.md).
#include <cmath>
#include <cstdio>
#include <memory>
#include <string_view>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/error.h"
#include "core/file.h"
#include "io/token_file.h"
#include "model/config.h"
#include "tokenizer/tokenizer.h"

namespace gaincell::cli {
namespace {

// Documents are separated by the literal "<|endoftext|>"; each non-empty document is encoded on its own and
// followed by the end-of-text id (when the vocabulary has it), as GPT-2's training data was laid out.
std::vector<int32_t> tokenize_corpus(const Tokenizer& tok, std::string_view text, int vocab_size) {
  static constexpr std::string_view kSep = "<|endoftext|>";
  std::vector<int32_t> ids;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find(kSep, pos);
    if (end == std::string_view::npos) end = text.size();
    std::vector<int32_t> doc = tok.encode(text.substr(pos, end - pos));
    if (!doc.empty()) {
      ids.insert(ids.end(), doc.begin(), doc.end());
      if (vocab_size > Tokenizer::kEndOfText) ids.push_back(Tokenizer::kEndOfText);
    }
    if (end == text.size()) break;
    pos = end + kSep.size();
  }
  return ids;
}

}  // namespace

void register_data(CLI::App& app) {
  struct Opts {
    std::string model_dir, text_path, out;
    double val_fraction = 0.1;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* data = app.add_subcommand("data", "Prepare training data");
  data->require_subcommand(1);
  CLI::App* cmd = data->add_subcommand("prepare", "Tokenize a text file into OUT/train.bin and OUT/val.bin");
  cmd->add_option("--model", o->model_dir, "Model folder (tokenizer files and config.json)")->required();
  cmd->add_option("--text", o->text_path, "UTF-8 text; documents separated by <|endoftext|>")->required();
  cmd->add_option("--out", o->out, "Output folder")->required();
  cmd->add_option("--val-fraction", o->val_fraction, "Fraction of tokens (the end of the corpus) for val.bin");
  cmd->callback([o] {
    if (!(o->val_fraction > 0.0 && o->val_fraction < 1.0))
      fail_expected("cli", "--val-fraction in (0, 1)", std::to_string(o->val_fraction));
    const Gpt2Config cfg =
        config_from_json(read_file(o->model_dir + "/config.json", 1 << 20), o->model_dir + "/config.json");
    Tokenizer tok = Tokenizer::from_dir(o->model_dir);
    std::vector<int32_t> ids = tokenize_corpus(tok, read_file(o->text_path), cfg.vocab_size);
    const auto n = static_cast<int64_t>(ids.size());
    const auto n_val = static_cast<int64_t>(std::ceil(o->val_fraction * static_cast<double>(n)));
    if (n < 4 || n_val < 2 || n - n_val < 2)
      fail_expected("data", "a corpus of enough tokens for both splits (>= 2 each)", std::to_string(n) + " tokens",
                    "in '" + o->text_path + "'");
    make_dirs(o->out);
    write_token_file(o->out + "/train.bin", std::vector<int32_t>(ids.begin(), ids.end() - n_val), cfg.vocab_size);
    write_token_file(o->out + "/val.bin", std::vector<int32_t>(ids.end() - n_val, ids.end()), cfg.vocab_size);
    std::printf("wrote %s: %lld train tokens, %lld val tokens\n", o->out.c_str(), static_cast<long long>(n - n_val),
                static_cast<long long>(n_val));
  });
}

}  // namespace gaincell::cli
