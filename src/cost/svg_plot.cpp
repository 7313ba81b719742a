#include "cost/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace gaincell {
namespace {

constexpr double kW = 720, kH = 440, kLeft = 90, kRight = 190, kTop = 50, kBottom = 90;
const char* const kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                               "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof(b), "%.2f", v);
  return b;
}

// Whole numbers below a million in full ("2000", not "2e+03"), others with 3 significant digits.
std::string tick_label(double v) {
  char b[32];
  std::snprintf(b, sizeof(b), std::fabs(v) < 1e6 && v == std::round(v) ? "%.0f" : "%.3g", v);
  return b;
}

// Maps data values onto [0, 1] on a linear or log axis with "nice" limits and ticks.
struct Axis {
  bool log = false;
  double lo = 0, hi = 1;
  std::vector<double> ticks;
  void fit(double mn, double mx, bool want_log) {
    log = want_log && mn > 0;
    if (!(mn <= mx)) mn = 0, mx = 1;
    if (log) {
      lo = std::pow(10.0, std::floor(std::log10(mn)));
      hi = std::pow(10.0, std::ceil(std::log10(mx)));
      if (hi <= lo) hi = lo * 10;
      for (double t = lo; t <= hi * 1.0001; t *= 10) ticks.push_back(t);
      return;
    }
    ticks = nice_ticks(std::min(0.0, mn), mx);
    lo = ticks.front();
    hi = ticks.back();
  }
  double frac(double v) const {
    if (log) return (std::log10(std::max(v, lo * 1e-3)) - std::log10(lo)) / (std::log10(hi) - std::log10(lo));
    return (v - lo) / (hi - lo);
  }
};

double px(double f) {
  return kLeft + f * (kW - kLeft - kRight);
}
double py(double f) {
  return kH - kBottom - f * (kH - kTop - kBottom);
}

std::string header(const std::string& title, const std::string& x_label, const std::string& y_label) {
  std::string s = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  s += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(kW) + "\" height=\"" + num(kH) + "\" viewBox=\"0 0 " +
       num(kW) + " " + num(kH) + "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  s += "<title>" + xml_escape(title) + "</title>\n";
  s += "<rect x=\"0\" y=\"0\" width=\"" + num(kW) + "\" height=\"" + num(kH) + "\" fill=\"white\"/>\n";
  s += "<text class=\"title\" x=\"" + num((kLeft + kW - kRight) / 2) +
       "\" y=\"28\" text-anchor=\"middle\" "
       "font-size=\"16\">" +
       xml_escape(title) + "</text>\n";
  s += "<text class=\"x-label\" x=\"" + num((kLeft + kW - kRight) / 2) + "\" y=\"" + num(kH - 20) +
       "\" text-anchor=\"middle\">" + xml_escape(x_label) + "</text>\n";
  s += "<text class=\"y-label\" x=\"20\" y=\"" + num((kTop + kH - kBottom) / 2) +
       "\" text-anchor=\"middle\" transform=\"rotate(-90 20 " + num((kTop + kH - kBottom) / 2) + ")\">" +
       xml_escape(y_label) + "</text>\n";
  return s;
}

std::string y_axis(const Axis& a) {
  std::string s = "<g class=\"y-axis\">\n";
  s += "<line x1=\"" + num(px(0)) + "\" y1=\"" + num(py(0)) + "\" x2=\"" + num(px(0)) + "\" y2=\"" + num(py(1)) +
       "\" stroke=\"black\"/>\n";
  for (double t : a.ticks) {
    double y = py(a.frac(t));
    s += "<line x1=\"" + num(px(0) - 5) + "\" y1=\"" + num(y) + "\" x2=\"" + num(px(1)) + "\" y2=\"" + num(y) +
         "\" stroke=\"#dddddd\"/>\n";
    s += "<text x=\"" + num(px(0) - 8) + "\" y=\"" + num(y + 4) + "\" text-anchor=\"end\">" + tick_label(t) +
         "</text>\n";
  }
  return s + "</g>\n";
}

std::string legend(const std::vector<Series>& series) {
  std::string s = "<g class=\"legend\">\n";
  for (size_t i = 0; i < series.size(); ++i) {
    double y = kTop + 18.0 * i;
    s += "<rect x=\"" + num(kW - kRight + 15) + "\" y=\"" + num(y) + "\" width=\"12\" height=\"12\" fill=\"" +
         kColors[i % 10] + "\"/>\n";
    s += "<text x=\"" + num(kW - kRight + 32) + "\" y=\"" + num(y + 10) + "\">" + xml_escape(series[i].name) +
         "</text>\n";
  }
  return s + "</g>\n";
}

void min_max(const std::vector<double>& v, double& mn, double& mx) {
  for (double x : v)
    if (std::isfinite(x)) mn = std::min(mn, x), mx = std::max(mx, x);
}

}  // namespace

std::string xml_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '&')
      o += "&amp;";
    else if (c == '<')
      o += "&lt;";
    else if (c == '>')
      o += "&gt;";
    else if (c == '"')
      o += "&quot;";
    else
      o += c;
  }
  return o;
}

std::vector<double> nice_ticks(double lo, double hi, int max_ticks) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) lo = 0, hi = 1;
  if (hi < lo) std::swap(lo, hi);
  if (hi == lo) hi = lo + 1;
  max_ticks = std::max(max_ticks, 3);  // a range across zero needs three
  const double base = std::pow(10.0, std::floor(std::log10((hi - lo) / max_ticks)));
  double step = base;
  for (double m : {1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0}) {
    step = m * base;
    if (std::ceil(hi / step - 1e-9) - std::floor(lo / step + 1e-9) + 1 <= max_ticks) break;
  }
  std::vector<double> t;
  const double first = std::floor(lo / step + 1e-9), last = std::ceil(hi / step - 1e-9);
  for (double k = first; k <= last; k += 1) t.push_back(k * step == 0 ? 0.0 : k * step);  // no "-0"
  return t;
}

Series downsample_mean(const Series& s, size_t max_points) {
  const size_t n = std::min(s.x.size(), s.y.size());
  if (n <= max_points || max_points < 3) return s;
  Series o{s.name, {s.x[0]}, {s.y[0]}};
  const size_t inner = n - 2, buckets = max_points - 2;
  for (size_t b = 0; b < buckets; ++b) {
    const size_t from = 1 + inner * b / buckets, to = 1 + inner * (b + 1) / buckets;
    double sx = 0, sy = 0;
    size_t k = 0;
    for (size_t i = from; i < to; ++i)
      if (std::isfinite(s.y[i])) sx += s.x[i], sy += s.y[i], ++k;
    if (k > 0) o.x.push_back(sx / k), o.y.push_back(sy / k);
  }
  o.x.push_back(s.x[n - 1]);
  o.y.push_back(s.y[n - 1]);
  return o;
}

bool spans_decades(const std::vector<Series>& s, double decades) {
  double mn = std::numeric_limits<double>::infinity(), mx = -mn;
  for (auto& x : s) min_max(x.y, mn, mx);
  return mn > 0 && mx / mn > std::pow(10.0, decades);
}

std::string line_chart_svg(const LineChart& c) {
  double xmn = std::numeric_limits<double>::infinity(), xmx = -xmn, ymn = xmn, ymx = -xmn;
  for (auto& s : c.series) min_max(s.x, xmn, xmx), min_max(s.y, ymn, ymx);
  Axis ax, ay;
  ax.fit(xmn, xmx, c.log_x);
  ay.fit(ymn, ymx, c.log_y);
  std::string s = header(c.title, c.x_label, c.y_label) + y_axis(ay);
  s += "<g class=\"x-axis\">\n<line x1=\"" + num(px(0)) + "\" y1=\"" + num(py(0)) + "\" x2=\"" + num(px(1)) +
       "\" y2=\"" + num(py(0)) + "\" stroke=\"black\"/>\n";
  const bool data_ticks = !c.series.empty() && c.series[0].x.size() <= kMaxDataTicks;
  for (double t : data_ticks ? c.series[0].x : ax.ticks)
    s += "<text x=\"" + num(px(ax.frac(t))) + "\" y=\"" + num(py(0) + 18) + "\" text-anchor=\"middle\">" +
         tick_label(t) + "</text>\n";
  s += "</g>\n";
  for (size_t i = 0; i < c.series.size(); ++i) {
    const Series& sr = c.series[i];
    s += "<g class=\"series\" data-name=\"" + xml_escape(sr.name) + "\">\n<polyline fill=\"none\" stroke=\"" +
         (sr.markers_only ? std::string("none") : std::string(kColors[i % 10])) + "\" stroke-width=\"2\" points=\"";
    for (size_t k = 0; k < sr.x.size() && k < sr.y.size(); ++k) {
      if (k) s += ' ';
      s += num(px(ax.frac(sr.x[k])));
      s += ',';
      s += num(py(ay.frac(sr.y[k])));
    }
    s += "\"/>\n";
    for (size_t k = 0; (sr.markers_only || sr.x.size() <= kMaxMarkers) && k < sr.x.size() && k < sr.y.size(); ++k)
      s += "<circle cx=\"" + num(px(ax.frac(sr.x[k]))) + "\" cy=\"" + num(py(ay.frac(sr.y[k]))) + "\" r=\"3\" fill=\"" +
           kColors[i % 10] + "\"/>\n";
    s += "</g>\n";
  }
  return s + legend(c.series) + "</svg>\n";
}

std::string bar_chart_svg(const BarChart& c) {
  const size_t n_cat = c.categories.size(), n_ser = c.series.size();
  double mn = std::numeric_limits<double>::infinity(), mx = -mn;
  if (c.stacked) {
    for (size_t k = 0; k < n_cat; ++k) {
      double sum = 0;
      for (auto& sr : c.series) sum += k < sr.y.size() ? sr.y[k] : 0;
      mn = std::min(mn, sum), mx = std::max(mx, sum);
    }
    mn = 0;
  } else {
    for (auto& sr : c.series) min_max(sr.y, mn, mx);
  }
  Axis ay;
  ay.fit(mn, mx, c.log_y && !c.stacked);
  std::string s = header(c.title, "", c.y_label) + y_axis(ay);
  const double group_w = (px(1) - px(0)) / std::max<size_t>(n_cat, 1);
  const double bar_w = c.stacked ? group_w * 0.6 : group_w * 0.8 / std::max<size_t>(n_ser, 1);
  s += "<g class=\"x-axis\">\n<line x1=\"" + num(px(0)) + "\" y1=\"" + num(py(0)) + "\" x2=\"" + num(px(1)) +
       "\" y2=\"" + num(py(0)) + "\" stroke=\"black\"/>\n";
  for (size_t k = 0; k < n_cat; ++k) {
    double x = px(0) + group_w * (k + 0.5), y = py(0) + 14;
    s += "<text x=\"" + num(x) + "\" y=\"" + num(y) +
         "\" text-anchor=\"end\" font-size=\"10\" transform=\"rotate(-30 " + num(x) + " " + num(y) + ")\">" +
         xml_escape(c.categories[k]) + "</text>\n";
  }
  s += "</g>\n";
  std::vector<double> base(n_cat, 0.0);
  for (size_t i = 0; i < n_ser; ++i) {
    const Series& sr = c.series[i];
    s += "<g class=\"series\" data-name=\"" + xml_escape(sr.name) + "\">\n";
    for (size_t k = 0; k < n_cat && k < sr.y.size(); ++k) {
      double v = sr.y[k], x, y0, y1;
      if (c.stacked) {
        x = px(0) + group_w * k + (group_w - bar_w) / 2;
        y0 = py(ay.frac(base[k]));
        y1 = py(ay.frac(base[k] + v));
        base[k] += v;
      } else {
        x = px(0) + group_w * k + group_w * 0.1 + bar_w * i;
        y0 = py(0);
        y1 = py(std::max(0.0, ay.frac(v)));
      }
      s += "<rect x=\"" + num(x) + "\" y=\"" + num(std::min(y0, y1)) + "\" width=\"" + num(bar_w) + "\" height=\"" +
           num(std::fabs(y0 - y1)) + "\" fill=\"" + kColors[i % 10] + "\"><title>" + xml_escape(sr.name) + ": " +
           tick_label(v) + "</title></rect>\n";
    }
    s += "</g>\n";
  }
  return s + legend(c.series) + "</svg>\n";
}

}  // namespace gaincell
