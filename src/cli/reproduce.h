// `gaincell reproduce`: the paper's story end to end on the bundled model (docs/reproduce.md). The run
// (cmd_reproduce.cpp) fills one results JSON; the report (reproduce_report.cpp) is a pure function of it,
// so report.md, report.html and results.json always agree.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/engine.h"
#include "tokenizer/tokenizer.h"

namespace gaincell::cli {

// Mean next-token cross-entropy (nats) over `windows` windows of T + 1 ids spread evenly through `ids`
// (the same windows for every model, so losses compare). Throws Error("reproduce", ...) when ids is short.
double windows_loss(Gpt2Engine& engine, const std::vector<int32_t>& ids, int T, int windows);

// Samples n_new bytes after `prompt` through the streaming decoder (decode_prefill, then decode_step),
// temperature sampling with a fixed seed. Returns the generated continuation only.
std::string stream_generate(Gpt2Engine& engine, const Tokenizer& tok, const std::string& prompt, int n_new,
                            float temperature, uint64_t seed);

// The figures every report holds, in order (ids of the <figure> elements and keys of results["figures"]).
const std::vector<std::string>& reproduce_figures();

// SVG of one figure from the results JSON.
std::string reproduce_figure_svg(const nlohmann::ordered_json& r, const std::string& figure);
std::string reproduce_markdown(const nlohmann::ordered_json& r);
std::string reproduce_html(const nlohmann::ordered_json& r);

}  // namespace gaincell::cli
