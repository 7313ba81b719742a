// `gaincell convert llama2c`: a llama2.c checkpoint and tokenizer.bin to a Hugging Face Llama folder
// (the work is convert_llama2c in model/llama2c.h; docs/llama.md).
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "model/llama2c.h"

namespace gaincell::cli {

void register_convert(CLI::App& app) {
  auto o = std::make_shared<Llama2cConvertOptions>();
  CLI::App* convert = app.add_subcommand("convert", "Convert checkpoints from other formats");
  convert->require_subcommand(1);
  CLI::App* cmd =
      convert->add_subcommand("llama2c", "llama2.c checkpoint (version 0, 1 or 2) to a Hugging Face Llama folder");
  cmd->add_option("--checkpoint", o->checkpoint, "llama2.c model .bin")->required();
  cmd->add_option("--tokenizer", o->tokenizer, "llama2.c tokenizer.bin (copied into the folder)")->required();
  cmd->add_option("--out", o->out, "Output folder (must not exist or be empty)")->required();
  cmd->callback([o] {
    convert_llama2c(*o);
    std::printf("wrote %s\n", o->out.c_str());
  });
}

}  // namespace gaincell::cli
