// Charts drawn on any Canvas: line charts over epochs and a confusion-matrix heatmap.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "report/draw.h"

namespace digitlab::report {

// One line (or, with `markers_only`, a set of dots) of a line chart. Points whose y is not finite
// are left out, so runs without validation or with occasional test points draw what they have.
struct Series {
  std::string name;
  std::vector<double> x, y;
  Rgb color;
  bool markers_only = false;
  std::string css_class;  // class of the SVG polyline, e.g. "series train"
};

struct LineChart {
  std::string title, x_label, y_label;
  std::vector<Series> series;
  double width = 520, height = 320;
  bool integer_x = true;  // epochs: ticks only at whole numbers
};

// Ten distinguishable colours (the Tableau 10 palette), cycled for more series or runs.
Rgb palette(size_t i);

// Tick values covering [lo, hi] at a 1-2-2.5-5 step (1-2-5 and at least 1 for `integers`), about
// `target` of them; the first is <= lo, the last >= hi, and there are always at least two. A
// zero-width range is widened around its value first; non-finite or reversed input gives {0, 1}.
std::vector<double> nice_ticks(double lo, double hi, int target = 5, bool integers = false);

// Draws `chart` with its top-left corner at (x0, y0): title, legend row, gridlines, axes with
// ticks and labels, and one polyline per series (or dots for markers_only series, and a dot for a
// series with a single point). With no finite point at all it draws the frame and says "no data".
void draw_line_chart(Canvas& canvas, const LineChart& chart, double x0 = 0, double y0 = 0);

// The whole chart as an inline <svg> element with the given id.
std::string line_chart_svg(const LineChart& chart, const std::string& id);

struct Heatmap {
  std::string title;
  std::vector<std::vector<int64_t>> counts;  // [true][predicted], square
  std::vector<std::string> names;            // class names; indices are used where missing
  double cell = 40;
};

// Size the heatmap takes at its cell size, labels included.
double heatmap_width(const Canvas& canvas, const Heatmap& map);
double heatmap_height(const Heatmap& map);

// Draws the matrix: each cell shaded by its share of its row (so a class's errors show however
// many images it has), its count written in black or white, whichever reads on the shade; rows
// are the true class, columns the predicted one. Requires a square matrix.
void draw_heatmap(Canvas& canvas, const Heatmap& map, double x0 = 0, double y0 = 0);

// The heatmap as an inline <svg> element with the given id.
std::string heatmap_svg(const Heatmap& map, const std::string& id);

// Fill colour of a cell whose share of its row is `share` (0..1): white to dark blue.
Rgb heat_color(double share);

}  // namespace digitlab::report
