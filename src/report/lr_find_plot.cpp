// Drawing the learning-rate range test's plot as a PNG.
#include "report/lr_find_plot.h"

#include <cmath>

#include "data/image_io.h"
#include "report/charts.h"

namespace digitlab::report {

void write_lr_find_png(const std::string& path, const train::LrFindResult& r) {
  LineChart chart;
  chart.title = "learning-rate range test";
  chart.x_label = "log10 of the learning rate (-3 is 0.001)";
  chart.y_label = "smoothed loss";
  chart.width = 640;
  chart.height = 400;
  Series loss;
  loss.name = "smoothed loss";
  loss.color = palette(0);
  for (const auto& p : r.points) {
    loss.x.push_back(std::log10(p.lr));
    loss.y.push_back(p.smoothed);
  }
  Series mark;
  mark.name = "suggested";
  mark.color = palette(3);
  mark.markers_only = true;
  for (const auto& p : r.points) {
    if (p.lr == r.suggested_lr) {
      mark.x.push_back(std::log10(p.lr));
      mark.y.push_back(p.smoothed);
    }
  }
  chart.series = {loss, mark};
  RasterCanvas canvas(int(chart.width), int(chart.height));
  draw_line_chart(canvas, chart);
  data::write_png_rgb(path, canvas.width(), canvas.height(), canvas.pixels());
}

}  // namespace digitlab::report
