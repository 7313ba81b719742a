// Hand-written SVG charts for the sweeps: line charts (optionally log axes) and grouped or stacked bar
// charts. Every chart has a title and axis labels (with units); each series is one
// <g class="series" data-name="..."> so tests and scripts can find it.
#pragma once
#include <string>
#include <vector>

namespace gaincell {

struct Series {
  std::string name;
  std::vector<double> x;  // unused by bar charts
  std::vector<double> y;
};

struct LineChart {
  std::string title, x_label, y_label;
  bool log_x = false, log_y = false;
  std::vector<Series> series;
};

struct BarChart {
  std::string title, y_label;
  std::vector<std::string> categories;  // one group (or stack) per category
  std::vector<Series> series;           // y[i] is the value at categories[i]
  bool stacked = false;
  bool log_y = false;
};

std::string line_chart_svg(const LineChart& c);
std::string bar_chart_svg(const BarChart& c);
// True when the values span more than `decades` decades (all > 0): plot them on a log axis.
bool spans_decades(const std::vector<Series>& s, double decades = 2.0);
// Escapes &, <, >, " for XML text and attributes.
std::string xml_escape(const std::string& s);

}  // namespace gaincell
