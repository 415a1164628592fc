// Line charts and the confusion heatmap, laid out once for both SVG and raster surfaces.
#include "report/charts.h"

#include <algorithm>
#include <cmath>

#include "report/html.h"

namespace digitlab::report {
namespace {

constexpr Rgb kInk{34, 34, 34};
constexpr Rgb kMuted{102, 102, 102};
constexpr Rgb kGrid{229, 229, 229};
constexpr Rgb kWhite{255, 255, 255};
constexpr double kTitleSize = 14, kLabelSize = 12, kTickSize = 11;

struct LegendItem {
  const Series* series;
  double x, y;
};

std::string tick_label(double v, double step) {
  // Enough significant digits to tell neighbouring ticks apart, and no more.
  const double mag = std::max(std::fabs(v), step);
  const int digits =
      std::max(1, int(std::floor(std::log10(mag))) - int(std::floor(std::log10(step))) + 2);
  return compact(v, std::min(digits, 6));
}

}  // namespace

Rgb palette(size_t i) {
  static constexpr Rgb kColors[10] = {
      {31, 119, 180}, {255, 127, 14},  {44, 160, 44},   {214, 39, 40},  {148, 103, 189},
      {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207}};
  return kColors[i % 10];
}

std::vector<double> nice_ticks(double lo, double hi, int target, bool integers) {
  if (!(lo <= hi) || !std::isfinite(lo) || !std::isfinite(hi)) return {0, 1};
  if (lo == hi) {
    const double d = integers ? 1 : (lo != 0 ? std::fabs(lo) * 0.01 : 1);
    lo -= d, hi += d;
  }
  const double raw = (hi - lo) / std::max(1, target);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = 10 * mag;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    if (integers && m == 2.5 && mag < 10) continue;  // 2.5-epoch ticks would fall between epochs
    if (m * mag >= raw * (1 - 1e-9)) {
      step = m * mag;
      break;
    }
  }
  if (integers) step = std::max(1.0, std::round(step));
  const double first = std::floor(lo / step + 1e-9), last = std::ceil(hi / step - 1e-9);
  std::vector<double> ticks;
  for (double k = first; k <= last + 0.5; k += 1) {
    double v = k * step;
    if (std::fabs(v) < step * 1e-9) v = 0;
    ticks.push_back(v);
  }
  if (ticks.size() < 2) ticks.push_back(ticks.back() + step);
  return ticks;
}

void draw_line_chart(Canvas& canvas, const LineChart& chart, double x0, double y0) {
  // Data range over every finite point of every series.
  double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
  for (const Series& s : chart.series) {
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      xmin = std::min(xmin, s.x[i]), xmax = std::max(xmax, s.x[i]);
      ymin = std::min(ymin, s.y[i]), ymax = std::max(ymax, s.y[i]);
    }
  }
  const bool has_data = std::isfinite(xmin);
  std::vector<double> xt =
      has_data ? nice_ticks(xmin, xmax, 6, chart.integer_x) : nice_ticks(1, 5, 4, true);
  const std::vector<double> yt = has_data ? nice_ticks(ymin, ymax, 5) : nice_ticks(0, 1, 4);
  const double xstep = xt[1] - xt[0], ystep = yt[1] - yt[0];
  // The x axis spans exactly the epochs run (no empty epoch 0 or 30 of 26); y keeps round ends.
  double xlo = xt.front(), xhi = xt.back();
  if (has_data && xmax > xmin) {
    std::vector<double> inside;
    for (double v : xt) {
      if (v >= xmin - 1e-9 && v <= xmax + 1e-9) inside.push_back(v);
    }
    xlo = xmin, xhi = xmax, xt = inside;
  }

  canvas.text(x0 + chart.width / 2, y0 + 14, chart.title, kTitleSize, kInk, Anchor::kMiddle);

  // Legend: flows left to right under the title, wrapping when a row is full.
  std::vector<LegendItem> legend;
  double lx = x0 + 40, ly = y0 + 34;
  for (const Series& s : chart.series) {
    const double w = 22 + canvas.text_width(s.name, kTickSize) + 14;
    if (lx + w > x0 + chart.width - 8 && lx > x0 + 40) lx = x0 + 40, ly += 16;
    legend.push_back({&s, lx, ly});
    lx += w;
  }
  canvas.begin_group("", "legend");
  for (const LegendItem& item : legend) {
    if (item.series->markers_only) {
      canvas.dot(item.x + 9, item.y, 3.5, item.series->color, "");
    } else {
      canvas.line(item.x, item.y, item.x + 18, item.y, item.series->color, 2);
    }
    canvas.text(item.x + 22, item.y, item.series->name, kTickSize, kInk);
  }
  canvas.end_group();

  double tick_w = 0;
  for (double v : yt) tick_w = std::max(tick_w, canvas.text_width(tick_label(v, ystep), kTickSize));
  const double left = x0 + 22 + tick_w + 8, right = x0 + chart.width - 14;
  const double top = ly + 18, bottom = y0 + chart.height - 40;
  const double ylo = yt.front(), yhi = yt.back();
  auto px = [&](double x) { return left + (x - xlo) / (xhi - xlo) * (right - left); };
  auto py = [&](double y) { return bottom - (y - ylo) / (yhi - ylo) * (bottom - top); };

  canvas.begin_group("", "axes");
  for (double v : yt) {
    canvas.line(left, py(v), right, py(v), kGrid, 1);
    canvas.line(left - 4, py(v), left, py(v), kMuted, 1);
    canvas.text(left - 7, py(v), tick_label(v, ystep), kTickSize, kMuted, Anchor::kEnd);
  }
  for (double v : xt) {
    canvas.line(px(v), bottom, px(v), bottom + 4, kMuted, 1);
    canvas.text(px(v), bottom + 16, tick_label(v, xstep), kTickSize, kMuted, Anchor::kMiddle);
  }
  canvas.line(left, top, left, bottom, kMuted, 1);
  canvas.line(left, bottom, right, bottom, kMuted, 1);
  canvas.text((left + right) / 2, bottom + 32, chart.x_label, kLabelSize, kInk, Anchor::kMiddle);
  canvas.text(x0 + 10, (top + bottom) / 2, chart.y_label, kLabelSize, kInk, Anchor::kMiddle, true);
  canvas.end_group();

  if (!has_data) {
    canvas.text((left + right) / 2, (top + bottom) / 2, "no data", kLabelSize, kMuted,
                Anchor::kMiddle);
    return;
  }
  for (const Series& s : chart.series) {
    Points pts;
    std::vector<std::string> tips;
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      pts.emplace_back(px(s.x[i]), py(s.y[i]));
      tips.push_back(s.name + " " + compact(s.x[i]) + ": " + compact(s.y[i]));
    }
    if (pts.empty()) continue;
    canvas.begin_group("", "series-group");
    if (!s.markers_only && pts.size() > 1) canvas.polyline(pts, s.color, 2, s.css_class);
    // Dots carry each value as a tooltip; on long runs they would only blur the line.
    if (s.markers_only || pts.size() == 1 || pts.size() <= 40) {
      const double r = s.markers_only || pts.size() == 1 ? 3.5 : 2.5;
      for (size_t i = 0; i < pts.size(); ++i) {
        canvas.dot(pts[i].first, pts[i].second, r, s.color, tips[i]);
      }
    }
    canvas.end_group();
  }
}

std::string line_chart_svg(const LineChart& chart, const std::string& id) {
  SvgCanvas svg;
  draw_line_chart(svg, chart);
  return svg.document(id, "chart line-chart", chart.width, chart.height, chart.title);
}

// ---- heatmap ----

namespace {

std::string class_name(const Heatmap& map, size_t i) {
  return i < map.names.size() && !map.names[i].empty() ? map.names[i] : std::to_string(i);
}

std::string row_label(const Heatmap& map, size_t i) {
  const std::string name = class_name(map, i);
  return name == std::to_string(i) ? name : std::to_string(i) + " " + name;
}

// Column labels are the names when every name fits in a cell, else the indices.
bool names_fit_columns(const Canvas& canvas, const Heatmap& map) {
  for (size_t j = 0; j < map.counts.size(); ++j) {
    if (canvas.text_width(class_name(map, j), kTickSize) > map.cell - 4) return false;
  }
  return true;
}

double row_label_width(const Canvas& canvas, const Heatmap& map) {
  double w = 0;
  for (size_t i = 0; i < map.counts.size(); ++i) {
    w = std::max(w, canvas.text_width(row_label(map, i), kTickSize));
  }
  return w;
}

constexpr double kHeatTop = 62;

}  // namespace

Rgb heat_color(double share) {
  // The square root lifts small error rates (1% of a row) into a visible tint.
  const double t = std::sqrt(std::clamp(share, 0.0, 1.0));
  constexpr Rgb kDark{8, 48, 107};
  auto mix = [&](uint8_t a, uint8_t b) { return uint8_t(std::lround(a + (b - a) * t)); };
  return {mix(255, kDark.r), mix(255, kDark.g), mix(255, kDark.b)};
}

double heatmap_width(const Canvas& canvas, const Heatmap& map) {
  return 22 + row_label_width(canvas, map) + 8 + double(map.counts.size()) * map.cell + 10;
}

double heatmap_height(const Heatmap& map) {
  return kHeatTop + double(map.counts.size()) * map.cell + 10;
}

void draw_heatmap(Canvas& canvas, const Heatmap& map, double x0, double y0) {
  const size_t k = map.counts.size();
  const double left = x0 + 22 + row_label_width(canvas, map) + 8, top = y0 + kHeatTop;
  const double size = double(k) * map.cell;
  const bool names_on_columns = names_fit_columns(canvas, map);
  const double count_size = std::min(12.0, map.cell * 0.3);

  canvas.text(x0 + heatmap_width(canvas, map) / 2, y0 + 12, map.title, kTitleSize - 1, kInk,
              Anchor::kMiddle);
  canvas.text(left + size / 2, y0 + 32, "predicted class", kLabelSize, kInk, Anchor::kMiddle);
  canvas.text(x0 + 10, top + size / 2, "true class", kLabelSize, kInk, Anchor::kMiddle, true);
  canvas.begin_group("", "labels");
  for (size_t j = 0; j < k; ++j) {
    const std::string label = names_on_columns ? class_name(map, j) : std::to_string(j);
    canvas.text(left + (double(j) + 0.5) * map.cell, top - 10, label, kTickSize, kMuted,
                Anchor::kMiddle);
  }
  for (size_t i = 0; i < k; ++i) {
    canvas.text(left - 6, top + (double(i) + 0.5) * map.cell, row_label(map, i), kTickSize, kMuted,
                Anchor::kEnd);
  }
  canvas.end_group();

  canvas.begin_group("", "cells");
  for (size_t i = 0; i < k; ++i) {
    int64_t row_total = 0;
    for (int64_t c : map.counts[i]) row_total += c;
    for (size_t j = 0; j < k && j < map.counts[i].size(); ++j) {
      const int64_t c = map.counts[i][j];
      const double share = row_total > 0 ? double(c) / double(row_total) : 0;
      const Rgb fill = heat_color(share);
      const double x = left + double(j) * map.cell, y = top + double(i) * map.cell;
      canvas.rect(x, y, map.cell, map.cell, fill,
                  "true " + class_name(map, i) + ", predicted " + class_name(map, j) + ": " +
                      std::to_string(c) + " (" + percent(share, 1) + " of the row)");
      canvas.text(x + map.cell / 2, y + map.cell / 2, std::to_string(c), count_size,
                  luminance(fill) < 0.5 ? kWhite : kInk, Anchor::kMiddle);
    }
  }
  canvas.end_group();
  // Frame, so white cells at the edge still read as part of the matrix.
  canvas.line(left, top, left + size, top, kMuted, 1);
  canvas.line(left, top + size, left + size, top + size, kMuted, 1);
  canvas.line(left, top, left, top + size, kMuted, 1);
  canvas.line(left + size, top, left + size, top + size, kMuted, 1);
}

std::string heatmap_svg(const Heatmap& map, const std::string& id) {
  SvgCanvas svg;
  draw_heatmap(svg, map);
  return svg.document(id, "chart heatmap", heatmap_width(svg, map), heatmap_height(map), map.title);
}

}  // namespace digitlab::report
