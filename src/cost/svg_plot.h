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
  bool markers_only = false;  // line charts: a scatter (markers at every point, no line)
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

// A line chart's x axis is labelled at the first series' x values when it has at most kMaxDataTicks points (a
// sweep's settings), else at nice_ticks; markers are drawn on series of at most kMaxMarkers points.
constexpr size_t kMaxDataTicks = 12, kMaxMarkers = 60;
std::string line_chart_svg(const LineChart& c);
std::string bar_chart_svg(const BarChart& c);
// True when the values span more than `decades` decades (all > 0): plot them on a log axis.
bool spans_decades(const std::vector<Series>& s, double decades = 2.0);
// Ticks of a linear axis covering [lo, hi]: the multiples of the smallest step of 1, 2 or 5 times a power of ten
// that gives at most max_ticks ticks, from floor(lo / step) * step to ceil(hi / step) * step. lo == hi is
// widened to [lo, lo + 1]; non-finite bounds give [0, 1]. max_ticks below 3 counts as 3 (a range across zero
// needs three).
std::vector<double> nice_ticks(double lo, double hi, int max_ticks = 8);
// At most max_points points of s: consecutive runs of points averaged (x and y; non-finite y values skipped),
// the first and last point kept as they are, so a long training curve plots small and smoothed. A series of
// at most max_points points is returned as it is.
Series downsample_mean(const Series& s, size_t max_points);
// Escapes &, <, >, " for XML text and attributes.
std::string xml_escape(const std::string& s);

}  // namespace gaincell
