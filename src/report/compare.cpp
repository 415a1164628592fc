// Comparing runs: rows, a console table and an HTML page with overlaid validation curves.
#include "report/compare.h"

#include <algorithm>
#include <cstdio>

#include "core/files.h"
#include "report/charts.h"
#include "report/html.h"

namespace digitlab::report {
namespace {

struct Cells {
  std::string run, model, params, best, epoch, test, epochs, time;
};

Cells cells(const CompareRow& r) {
  Cells c;
  c.run = r.run;
  c.model = r.model;
  c.params = r.parameters ? std::to_string(*r.parameters) : "";
  c.best = percent(r.best_val_acc);
  c.epoch = r.best_epoch > 0 ? std::to_string(r.best_epoch) : "";
  c.test = percent(r.test_acc);
  c.epochs = r.epochs > 0 ? std::to_string(r.epochs) : "";
  c.time = r.epochs > 0 ? duration(r.seconds) : "";
  return c;
}

const char* const kHeaders[] = {"run",      "model",    "params", "best val acc",
                                "at epoch", "test acc", "epochs", "time"};

std::vector<std::string> as_list(const Cells& c) {
  return {c.run, c.model, c.params, c.best, c.epoch, c.test, c.epochs, c.time};
}

LineChart overlay(const std::vector<RunData>& runs, const std::string& title,
                  const std::string& y_label, std::optional<double> EpochMetrics::*field,
                  double scale) {
  LineChart chart;
  chart.title = title, chart.x_label = "epoch", chart.y_label = y_label;
  chart.width = 540, chart.height = 360;
  for (size_t i = 0; i < runs.size(); ++i) {
    Series s;
    s.name = runs[i].name, s.color = palette(i), s.css_class = "series run-" + std::to_string(i);
    for (const EpochMetrics& m : runs[i].epochs) {
      if (!(m.*field)) continue;
      s.x.push_back(m.epoch);
      s.y.push_back(*(m.*field) * scale);
    }
    chart.series.push_back(std::move(s));
  }
  return chart;
}

}  // namespace

CompareRow compare_row(const RunData& run) {
  CompareRow r;
  r.run = run.dir;
  // A run of a custom --arch is named "custom": its spec is what tells runs apart.
  r.model =
      (run.model.empty() || run.model == "custom") && !run.spec.empty() ? run.spec : run.model;
  r.parameters = run.parameters;
  if (const EpochMetrics* best = best_val_epoch(run)) {
    r.best_val_acc = best->val_acc;
    r.best_epoch = best->epoch;
  }
  r.test_acc = final_test_accuracy(run);
  r.epochs = run.epochs.empty() ? 0 : run.epochs.back().epoch;
  r.seconds = total_seconds(run);
  return r;
}

std::vector<CompareRow> compare_runs(const std::vector<std::string>& run_dirs,
                                     std::vector<std::string>* warnings) {
  std::vector<CompareRow> rows;
  for (const std::string& dir : run_dirs) {
    const RunData run = read_run(dir);
    if (warnings) {
      for (const std::string& w : run.warnings) warnings->push_back(dir + ": " + w);
    }
    rows.push_back(compare_row(run));
  }
  return rows;
}

std::string format_compare_table(const std::vector<CompareRow>& rows) {
  constexpr size_t kColumns = 8;
  std::vector<std::vector<std::string>> table;
  table.push_back(std::vector<std::string>(std::begin(kHeaders), std::end(kHeaders)));
  for (const CompareRow& r : rows) table.push_back(as_list(cells(r)));
  std::vector<size_t> width(kColumns, 0);
  for (const auto& line : table) {
    for (size_t c = 0; c < kColumns; ++c) width[c] = std::max(width[c], line[c].size());
  }
  std::string out;
  for (const auto& line : table) {
    std::string text;
    for (size_t c = 0; c < kColumns; ++c) {
      const bool left = c < 2;  // run and model are text; the rest are numbers
      const std::string pad(width[c] - line[c].size(), ' ');
      if (c > 0) text += "  ";
      text += left ? line[c] + pad : pad + line[c];
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out += text + "\n";
  }
  return out;
}

void write_compare_page(const std::string& out_path, const std::vector<RunData>& runs) {
  std::string h = page_start("digitlab compare: " + std::to_string(runs.size()) + " runs");
  h += "<header id=\"summary\"><h1>Comparison of " + std::to_string(runs.size()) +
       " runs</h1></header>\n";
  h += "<section id=\"curves\">\n<h2>Validation curves</h2>\n<div class=\"charts\">\n";
  h += line_chart_svg(
           overlay(runs, "Validation accuracy", "accuracy (%)", &EpochMetrics::val_acc, 100),
           "compare-accuracy-chart") +
       "\n";
  h += line_chart_svg(overlay(runs, "Validation loss", "loss", &EpochMetrics::val_loss, 1),
                      "compare-loss-chart") +
       "\n</div>\n</section>\n";
  h += "<section id=\"runs\">\n<h2>Runs</h2>\n<table id=\"compare-table\"><thead><tr>";
  for (size_t c = 0; c < std::size(kHeaders); ++c) {
    h += std::string("<th") + (c < 2 ? " class=\"l\"" : "") + ">" + kHeaders[c] + "</th>";
  }
  h += "</tr></thead><tbody>\n";
  for (size_t i = 0; i < runs.size(); ++i) {
    const std::vector<std::string> line = as_list(cells(compare_row(runs[i])));
    h += "<tr>";
    for (size_t c = 0; c < line.size(); ++c) {
      std::string cell = html_escape(line[c]);
      if (c == 0) {
        cell = "<span style=\"color:" + hex_color(palette(i)) + "\">&#9632;</span> " + cell;
      }
      h += std::string("<td") + (c < 2 ? " class=\"l\"" : "") + ">" + cell + "</td>";
    }
    h += "</tr>\n";
  }
  h += "</tbody></table>\n";
  bool any_warning = false;
  for (const RunData& r : runs) any_warning = any_warning || !r.warnings.empty();
  if (any_warning) {
    h += "<div class=\"warnings\" id=\"warnings\"><h3>Warnings</h3><ul>\n";
    for (const RunData& r : runs) {
      for (const std::string& w : r.warnings)
        h += "<li>" + html_escape(r.dir + ": " + w) + "</li>\n";
    }
    h += "</ul></div>\n";
  }
  h += "</section>\n" + page_end();
  core::write_file_atomic(out_path, h);
}

}  // namespace digitlab::report
