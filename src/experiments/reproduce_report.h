// report.md, report.html and the figures of `gaincell reproduce`: pure functions of the results JSON
// (experiments/reproduce.h), so the reports and results.json always agree.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace gaincell {

// The figures every report holds, in order (ids of the <figure> elements and keys of results["figures"]).
const std::vector<std::string>& reproduce_figures();

// Most points a training curve keeps in a figure: longer curves are averaged over runs of consecutive steps
// (cost/svg_plot.h downsample_mean), so loss_curves.svg stays under 100 KB at any step budget.
constexpr size_t kCurvePoints = 200;

// SVG of one figure from the results JSON.
std::string reproduce_figure_svg(const nlohmann::ordered_json& r, const std::string& figure);
std::string reproduce_markdown(const nlohmann::ordered_json& r);
std::string reproduce_html(const nlohmann::ordered_json& r);

// Writes dir/results.json, dir/<figure>.svg, dir/report.md and dir/report.html (each atomically).
void write_reproduce_outputs(const std::string& dir, const nlohmann::ordered_json& r);

// The side-by-side report of several profiles (`--profile all`) from the combined JSON ({"profiles": [each
// profile's results], "seconds", "provenance"}): one table (a row per quantity, a column per model) and one
// figure, kCombinedFigure (the four losses of each model as grouped bars).
inline constexpr const char* kCombinedFigure = "losses_by_model";
std::string reproduce_combined_figure_svg(const nlohmann::ordered_json& all);
std::string reproduce_combined_markdown(const nlohmann::ordered_json& all);
std::string reproduce_combined_html(const nlohmann::ordered_json& all);
// Writes dir/results.json, dir/<kCombinedFigure>.svg, dir/report.md and dir/report.html (each atomically).
void write_reproduce_combined_outputs(const std::string& dir, const nlohmann::ordered_json& all);

}  // namespace gaincell
