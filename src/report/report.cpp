// The run report: HTML page with inline SVG charts and images, and PNG figures beside it.
#include "report/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/error.h"
#include "core/files.h"
#include "core/run_files.h"
#include "data/image_io.h"
#include "data/registry.h"
#include "data/store.h"
#include "report/html.h"
#include "train/metrics.h"

namespace digitlab::report {
using nlohmann::json;

namespace {

constexpr Rgb kTrainColor{31, 119, 180}, kValColor{255, 127, 14}, kTestColor{44, 160, 44};

std::optional<double> number_in(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

std::string fixed(std::optional<double> v, int decimals) {
  if (!v || !std::isfinite(*v)) return "";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, *v);
  return buf;
}

std::string with_thousands(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

std::string epochs_text(size_t n) { return std::to_string(n) + (n == 1 ? " epoch" : " epochs"); }

std::string class_label(const RunData& run, int c) {
  const std::string idx = std::to_string(c);
  if (c >= 0 && size_t(c) < run.class_names.size() && run.class_names[size_t(c)] != idx) {
    return idx + " " + run.class_names[size_t(c)];
  }
  return idx;
}

std::string missing(const std::string& what, const std::string& command) {
  return "<p class=\"missing\">" + html_escape(what) + ": run <code>" + html_escape(command) +
         "</code> to produce it.</p>\n";
}

std::string evaluate_command(const RunData& run) { return "digitlab evaluate " + run.dir; }

// JSON value as table text: strings bare, everything else compact JSON.
std::string value_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) return compact(v.get<double>(), 6);
  return v.dump();
}

void flatten(const json& j, const std::string& prefix,
             std::vector<std::pair<std::string, std::string>>& out) {
  if (j.is_object() && !j.empty()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      flatten(it.value(), prefix.empty() ? it.key() : prefix + "." + it.key(), out);
    }
  } else if (j.is_array() && !j.empty() &&
             std::all_of(j.begin(), j.end(), [](const json& e) { return e.is_string(); })) {
    std::string joined;
    for (const json& e : j) joined += (joined.empty() ? "" : " ") + e.get<std::string>();
    out.emplace_back(prefix, joined);
  } else {
    out.emplace_back(prefix, value_text(j));
  }
}

std::string key_value_table(const json& j, const std::string& css_class) {
  std::vector<std::pair<std::string, std::string>> rows;
  flatten(j, "", rows);
  std::string h = "<table class=\"" + css_class + "\"><tbody>\n";
  for (const auto& [k, v] : rows) {
    h += "<tr><th class=\"l\">" + html_escape(k) + "</th><td class=\"l\">" + html_escape(v) +
         "</td></tr>\n";
  }
  return h + "</tbody></table>\n";
}

Series series(const RunData& run, const std::string& name, Rgb color, const std::string& cls,
              std::optional<double> EpochMetrics::*field, double scale, bool markers_only) {
  Series s;
  s.name = name, s.color = color, s.css_class = "series " + cls, s.markers_only = markers_only;
  for (const EpochMetrics& m : run.epochs) {
    if (!(m.*field)) continue;
    s.x.push_back(m.epoch);
    s.y.push_back(*(m.*field) * scale);
  }
  return s;
}

// Charts leave out series with no points so legends only name what is drawn.
void add_if_any(LineChart& chart, Series s) {
  if (!s.x.empty()) chart.series.push_back(std::move(s));
}

std::string header_section(const RunData& run) {
  const std::string model = run.model.empty() ? "unknown model" : run.model;
  std::string h = "<header id=\"summary\">\n<h1>" + html_escape(model) + " <small>" +
                  html_escape(run.name) + "</small></h1>\n<p class=\"meta\">";
  std::vector<std::string> facts;
  if (!run.spec.empty()) facts.push_back("spec <code>" + html_escape(run.spec) + "</code>");
  if (run.parameters) {
    facts.push_back("<span class=\"params\">" + with_thousands(*run.parameters) +
                    "</span> parameters");
  }
  if (!run.dataset.empty()) facts.push_back("data set " + html_escape(run.dataset));
  if (!run.epochs.empty()) facts.push_back(epochs_text(size_t(run.epochs.back().epoch)));
  for (size_t i = 0; i < facts.size(); ++i) h += (i ? " &middot; " : "") + facts[i];
  h += "</p>\n<p class=\"meta\">";
  std::vector<std::string> results;
  if (const EpochMetrics* best = best_val_epoch(run)) {
    results.push_back("best validation accuracy <b>" + percent(best->val_acc) + "</b> (epoch " +
                      std::to_string(best->epoch) + ")");
  }
  if (auto t = final_test_accuracy(run)) {
    results.push_back("test accuracy <b>" + percent(t) + "</b>" +
                      (run.test_accuracy ? "" : " (from the metrics log)"));
  }
  if (!run.epochs.empty()) results.push_back("training time " + duration(total_seconds(run)));
  for (size_t i = 0; i < results.size(); ++i) h += (i ? " &middot; " : "") + results[i];
  h += "</p>\n<p class=\"meta\">run directory <code>" + html_escape(run.dir) + "</code></p>\n";
  return h + "</header>\n";
}

std::string warnings_section(const std::vector<std::string>& warnings) {
  if (warnings.empty()) return "";
  std::string h = "<section id=\"warnings\" class=\"warnings\">\n<h2>Warnings</h2>\n<ul>\n";
  for (const std::string& w : warnings) h += "<li>" + html_escape(w) + "</li>\n";
  return h + "</ul>\n</section>\n";
}

std::string curves_section(const RunData& run) {
  std::string h = "<section id=\"curves\">\n<h2>Training curves</h2>\n";
  if (run.epochs.empty()) {
    return h + missing("No epochs logged (metrics.jsonl)", "digitlab train --out " + run.dir) +
           "</section>\n";
  }
  h += "<div class=\"charts\">\n" + line_chart_svg(loss_chart(run), "loss-chart") + "\n" +
       line_chart_svg(accuracy_chart(run), "accuracy-chart") + "\n</div>\n";
  h += "<p class=\"files\">As images: <a href=\"curves.png\">curves.png</a></p>\n";
  return h + "</section>\n";
}

std::string confusion_section(const RunData& run) {
  std::string h = "<section id=\"confusion\">\n<h2>Confusion matrix (test set)</h2>\n";
  if (run.confusion.empty()) {
    return h + missing("No confusion matrix (eval/confusion.csv)", evaluate_command(run)) +
           "</section>\n";
  }
  Heatmap map{"Confusion matrix", run.confusion, run.class_names};
  h += heatmap_svg(map, "confusion-heatmap") + "\n";
  h += "<p class=\"meta\">Rows: true class; columns: predicted class. Shading is the share of the "
       "row, so small error rates stay visible.</p>\n";
  h += "<p class=\"files\">As an image: <a href=\"confusion.png\">confusion.png</a></p>\n";
  return h + "</section>\n";
}

std::string most_confused_section(const RunData& run) {
  std::string h = "<section id=\"most-confused\">\n<h2>Most confused pairs</h2>\n";
  if (run.confusion.empty()) {
    return h + missing("No confusion matrix", evaluate_command(run)) + "</section>\n";
  }
  const auto pairs = most_confused(run.confusion, 10);
  if (pairs.empty()) return h + "<p>No test image was misclassified.</p>\n</section>\n";
  h += "<table class=\"pairs\"><thead><tr><th class=\"l\">true &rarr; predicted</th><th>count</th>"
       "<th>share of true class</th></tr></thead><tbody>\n";
  for (const auto& [cell, count] : pairs) {
    int64_t row_total = 0;
    for (int64_t c : run.confusion[size_t(cell.first)]) row_total += c;
    h += "<tr data-true=\"" + std::to_string(cell.first) + "\" data-pred=\"" +
         std::to_string(cell.second) + "\"><td class=\"l\">" +
         html_escape(class_label(run, cell.first)) + " &rarr; " +
         html_escape(class_label(run, cell.second)) + "</td><td>" + std::to_string(count) +
         "</td><td>" + percent(row_total ? double(count) / double(row_total) : 0.0) +
         "</td></tr>\n";
  }
  return h + "</tbody></table>\n</section>\n";
}

std::string misclassified_section(const RunData& run, const std::vector<MisclassifiedImage>& shown,
                                  const std::string& images_note) {
  std::string h = "<section id=\"misclassified\">\n<h2>Misclassified test images</h2>\n";
  if (!run.has_predictions) {
    return h + missing("No predictions (eval/predictions.csv)", evaluate_command(run)) +
           "</section>\n";
  }
  size_t wrong = 0;
  for (const Prediction& p : run.predictions) wrong += p.label != p.predicted;
  if (wrong == 0) return h + "<p>No test image was misclassified.</p>\n</section>\n";
  h += "<p class=\"meta\">" + std::to_string(wrong) + " of " +
       std::to_string(run.predictions.size()) + " test images are misclassified; the " +
       std::to_string(shown.size()) + " the model was surest about are shown.</p>\n";
  if (!images_note.empty()) h += "<p class=\"missing\">" + html_escape(images_note) + "</p>\n";
  h += "<div class=\"grid\">\n";
  for (const MisclassifiedImage& m : shown) {
    const Prediction& p = m.prediction;
    const std::string caption = "true " + class_label(run, p.label) + ", predicted " +
                                class_label(run, p.predicted) + " (" + percent(p.confidence, 1) +
                                ")";
    h += "<figure class=\"mis\" data-index=\"" + std::to_string(p.index) + "\">";
    if (!m.data_uri.empty()) {
      h += "<img src=\"" + m.data_uri + "\" width=\"56\" height=\"56\" alt=\"test image " +
           std::to_string(p.index) + ": " + html_escape(caption) + "\">";
    } else {
      h += "<div class=\"noimg\"></div>";
    }
    h += "<figcaption>#" + std::to_string(p.index) + "<br>true <b>" +
         html_escape(class_label(run, p.label)) + "</b><br>pred <span class=\"bad\">" +
         html_escape(class_label(run, p.predicted)) + "</span> " + percent(p.confidence, 1) +
         "</figcaption></figure>\n";
  }
  return h + "</div>\n</section>\n";
}

std::string per_class_section(const RunData& run) {
  std::string h = "<section id=\"per-class\">\n<h2>Per-class precision, recall, F1</h2>\n";
  if (run.per_class.empty()) {
    return h + missing("No per-class scores (eval/summary.json)", evaluate_command(run)) +
           "</section>\n";
  }
  h += "<table class=\"per-class\"><thead><tr><th>class</th><th class=\"l\">name</th>"
       "<th>precision</th><th>recall</th><th>F1</th><th>support</th><th>ROC AUC</th>"
       "<th>avg precision</th></tr></thead><tbody>\n";
  for (const ClassScore& c : run.per_class) {
    h += "<tr><td>" + std::to_string(c.cls) + "</td><td class=\"l\">" + html_escape(c.name) +
         "</td><td>" + fixed(c.precision, 4) + "</td><td>" + fixed(c.recall, 4) + "</td><td>" +
         fixed(c.f1, 4) + "</td><td>" + std::to_string(c.support) + "</td><td>" +
         fixed(c.roc_auc, 4) + "</td><td>" + fixed(c.average_precision, 4) + "</td></tr>\n";
  }
  h += "</tbody><tfoot>";
  const std::string count =
      run.summary.contains("count") && run.summary["count"].is_number_integer()
          ? std::to_string(run.summary["count"].get<int64_t>())
          : std::string();
  if (run.test_accuracy) {
    h += "<tr class=\"accuracy\"><td class=\"l\" colspan=\"2\">accuracy</td><td colspan=\"3\">" +
         fixed(run.test_accuracy, 4) + "</td><td>" + count + "</td><td></td><td></td></tr>";
  }
  // scikit-learn's averages: macro treats every class alike, weighted follows the support.
  for (const char* avg : {"macro_avg", "weighted_avg"}) {
    auto a = run.summary.find(avg);
    if (a == run.summary.end() || !a->is_object()) continue;
    const bool macro = std::string(avg) == "macro_avg";
    h += std::string("<tr class=\"") + (macro ? "macro" : "weighted") +
         "\"><td class=\"l\" colspan=\"2\">" + (macro ? "macro avg" : "weighted avg") +
         "</td><td>" + fixed(number_in(*a, "precision"), 4) + "</td><td>" +
         fixed(number_in(*a, "recall"), 4) + "</td><td>" + fixed(number_in(*a, "f1"), 4) +
         "</td><td>" + count + "</td><td>" +
         (macro ? fixed(number_in(run.summary, "macro_roc_auc"), 4) : "") + "</td><td>" +
         (macro ? fixed(number_in(run.summary, "macro_average_precision"), 4) : "") + "</td></tr>";
  }
  return h + "</tfoot></table>\n</section>\n";
}

std::string roc_pr_section(const RunData& run) {
  std::string h =
      "<section id=\"roc-pr\">\n<h2>ROC and precision-recall curves (test set, one "
      "class against the rest)</h2>\n";
  if (!run.has_probabilities) {
    return h +
           missing("No class probabilities (p_0.. columns of eval/predictions.csv)",
                   evaluate_command(run)) +
           "</section>\n";
  }
  h += "<div class=\"charts\">\n" + line_chart_svg(roc_chart(run), "roc-chart") + "\n" +
       line_chart_svg(pr_chart(run), "pr-chart") + "\n</div>\n";
  h += "<p class=\"meta\">Legends give each class's ROC AUC (trapezoidal rule) and average "
       "precision (scikit-learn's definition).</p>\n";
  h += "<p class=\"files\">As an image: <a href=\"roc_pr.png\">roc_pr.png</a></p>\n";
  return h + "</section>\n";
}

std::string saliency_section(const RunData& run) {
  std::string h = "<section id=\"saliency\">\n<h2>Saliency</h2>\n";
  if (run.saliency_png.empty()) {
    return h + missing("No saliency maps (eval/saliency.png)", evaluate_command(run)) +
           "</section>\n";
  }
  h += "<p class=\"meta\">A few test images (misclassified ones first), each beside the size of "
       "the gradient of the predicted class's score with respect to its pixels, scaled to its "
       "largest value (black: none, through red and yellow, to white: the most). Under each: true "
       "class - predicted class.</p>\n";
  h += "<img id=\"saliency-image\" src=\"" + png_data_uri(run.saliency_png) +
       "\" alt=\"test images beside their saliency maps\">\n";
  return h + "</section>\n";
}

std::string configuration_section(const RunData& run) {
  std::string h = "<section id=\"configuration\">\n<h2>Configuration</h2>\n";
  if (!run.has_config) {
    return h + "<p class=\"missing\">config.json is missing or unreadable.</p>\n</section>\n";
  }
  const json options = run.config.value("options", json::object());
  h += "<h3>Options</h3>\n" + key_value_table(options, "options");
  json rest = run.config;
  rest.erase("options");
  h += "<h3>Run</h3>\n" + key_value_table(rest, "run-facts");
  return h + "</section>\n";
}

std::string timings_section(const RunData& run) {
  std::string h = "<section id=\"timings\">\n<h2>Epochs and timings</h2>\n";
  if (run.epochs.empty()) {
    return h + missing("No epochs logged", "digitlab train --out " + run.dir) + "</section>\n";
  }
  bool any_test = false;
  for (const EpochMetrics& m : run.epochs) any_test = any_test || m.test_acc || m.test_loss;
  h += "<table class=\"epochs\"><thead><tr><th>epoch</th><th>train loss</th><th>train acc</th>"
       "<th>val loss</th><th>val acc</th>";
  if (any_test) h += "<th>test loss</th><th>test acc</th>";
  h += "<th>lr</th><th>seconds</th><th>images/s</th></tr></thead><tbody>\n";
  for (const EpochMetrics& m : run.epochs) {
    h += "<tr><td>" + std::to_string(m.epoch) + "</td><td>" + fixed(m.train_loss, 4) + "</td><td>" +
         percent(m.train_acc) + "</td><td>" + fixed(m.val_loss, 4) + "</td><td>" +
         percent(m.val_acc) + "</td>";
    if (any_test) h += "<td>" + fixed(m.test_loss, 4) + "</td><td>" + percent(m.test_acc) + "</td>";
    h += "<td>" + (m.lr ? compact(*m.lr) : "") + "</td><td>" + fixed(m.seconds, 1) + "</td><td>" +
         fixed(m.images_per_second, 0) + "</td></tr>\n";
  }
  const auto ips = mean_images_per_second(run);
  h += "</tbody><tfoot><tr><td class=\"l\" colspan=\"" + std::to_string(any_test ? 8 : 6) +
       "\">total, " + epochs_text(run.epochs.size()) + "</td><td>" + fixed(total_seconds(run), 1) +
       "</td><td>" + fixed(ips, 0) + "</td></tr></tfoot></table>\n";
  h += "<p class=\"meta\">Total training time " + duration(total_seconds(run)) +
       (ips ? ", " + fixed(ips, 0) + " images/s on average" : std::string()) + ".</p>\n";
  return h + "</section>\n";
}

// Reads the test images behind `picks`. Any problem leaves the URIs empty and explains in `note`:
// the report is still worth having without pictures.
std::vector<MisclassifiedImage> load_images(const RunData& run,
                                            const std::vector<Prediction>& picks,
                                            const std::string& data_root, std::string& note) {
  std::vector<MisclassifiedImage> out;
  for (const Prediction& p : picks) out.push_back({p, ""});
  if (picks.empty()) return out;
  if (run.dataset.empty()) {
    note = "test images not shown: the data set is unknown (config.json names none)";
    return out;
  }
  data::RawSplit split;
  try {
    split = data::load_raw_split(data_root, data::find_dataset(run.dataset, data_root),
                                 data::Split::kTest);
  } catch (const core::Error& e) {
    note = "test images not shown: " + core::one_line(e.what());
    return out;
  }
  if (split.images.dims.size() != 3) {
    note = "test images not shown: " + split.images_path + " does not hold 2-D images";
    return out;
  }
  const int rows = int(split.images.dims[1]), cols = int(split.images.dims[2]);
  const size_t item = size_t(rows) * size_t(cols);
  size_t beyond = 0, mismatched = 0;
  for (MisclassifiedImage& m : out) {
    const size_t i = size_t(m.prediction.index);
    if (i >= split.images.count()) {
      ++beyond;
      continue;
    }
    // A label that disagrees means the predictions belong to other data: show no wrong pictures.
    if (split.labels.data[i] != m.prediction.label) {
      ++mismatched;
      continue;
    }
    const std::vector<uint8_t> px(split.images.data.begin() + long(i * item),
                                  split.images.data.begin() + long((i + 1) * item));
    m.data_uri = png_data_uri(data::encode_png(cols, rows, 1, px, split.images_path));
  }
  if (beyond + mismatched > 0) {
    note = "test images not shown for " + std::to_string(beyond + mismatched) + " of " +
           std::to_string(out.size()) + " predictions: " +
           (mismatched ? "their labels differ from " + split.labels_path
                       : "their index is beyond the " + std::to_string(split.images.count()) +
                             " images of " + split.images_path);
  }
  return out;
}

}  // namespace

std::vector<std::pair<std::pair<int, int>, int64_t>> most_confused(
    const std::vector<std::vector<int64_t>>& confusion, size_t limit) {
  std::vector<std::pair<std::pair<int, int>, int64_t>> cells;
  for (size_t i = 0; i < confusion.size(); ++i) {
    for (size_t j = 0; j < confusion[i].size(); ++j) {
      if (i != j && confusion[i][j] > 0) cells.push_back({{int(i), int(j)}, confusion[i][j]});
    }
  }
  std::stable_sort(cells.begin(), cells.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  if (cells.size() > limit) cells.resize(limit);
  return cells;
}

std::vector<Prediction> misclassified(const std::vector<Prediction>& predictions, size_t limit) {
  std::vector<Prediction> wrong;
  for (const Prediction& p : predictions) {
    if (p.label != p.predicted) wrong.push_back(p);
  }
  std::stable_sort(wrong.begin(), wrong.end(), [](const Prediction& a, const Prediction& b) {
    return a.confidence > b.confidence;
  });
  if (wrong.size() > limit) wrong.resize(limit);
  return wrong;
}

LineChart loss_chart(const RunData& run) {
  LineChart c;
  c.title = "Loss", c.x_label = "epoch", c.y_label = "loss";
  add_if_any(c, series(run, "train", kTrainColor, "train", &EpochMetrics::train_loss, 1, false));
  add_if_any(c, series(run, "validation", kValColor, "val", &EpochMetrics::val_loss, 1, false));
  add_if_any(c, series(run, "test", kTestColor, "test", &EpochMetrics::test_loss, 1, true));
  return c;
}

LineChart accuracy_chart(const RunData& run) {
  LineChart c;
  c.title = "Accuracy", c.x_label = "epoch", c.y_label = "accuracy (%)";
  add_if_any(c, series(run, "train", kTrainColor, "train", &EpochMetrics::train_acc, 100, false));
  add_if_any(c, series(run, "validation", kValColor, "val", &EpochMetrics::val_acc, 100, false));
  add_if_any(c, series(run, "test", kTestColor, "test", &EpochMetrics::test_acc, 100, true));
  return c;
}

namespace {

// The curves of every class, from the predictions' probabilities; none without them.
train::OneVsRest class_curves(const RunData& run) {
  if (!run.has_probabilities) return {};
  const int k = int(run.predictions.front().probabilities.size());
  std::vector<std::vector<double>> probs;
  std::vector<int> labels;
  probs.reserve(run.predictions.size());
  for (const Prediction& p : run.predictions) {
    probs.push_back(p.probabilities);
    labels.push_back(p.label < k ? p.label : -1);  // a label beyond the columns: never positive
  }
  return train::one_vs_rest(probs, labels, k);
}

LineChart curve_chart(const RunData& run, bool roc) {
  LineChart c;
  c.title = roc ? "ROC (one vs rest)" : "Precision-recall (one vs rest)";
  c.x_label = roc ? "false positive rate" : "recall";
  c.y_label = roc ? "true positive rate" : "precision";
  c.integer_x = false;
  const train::OneVsRest curves = class_curves(run);
  const size_t k = roc ? curves.roc.size() : curves.pr.size();
  for (size_t i = 0; i < k; ++i) {
    const double area = roc ? curves.roc[i].auc : curves.pr[i].average_precision;
    if (std::isnan(area)) continue;  // a class absent from the test set has no curve
    Series s;
    s.name = class_label(run, int(i)) + " " + fixed(area, 3);
    s.color = palette(i);
    s.css_class = "series class-" + std::to_string(i);
    const auto points = roc ? train::thin_curve(curves.roc[i].fpr, curves.roc[i].tpr)
                            : train::thin_curve(curves.pr[i].recall, curves.pr[i].precision);
    for (const auto& [x, y] : points) s.x.push_back(x), s.y.push_back(y);
    c.series.push_back(std::move(s));
  }
  return c;
}

}  // namespace

LineChart roc_chart(const RunData& run) { return curve_chart(run, true); }
LineChart pr_chart(const RunData& run) { return curve_chart(run, false); }

std::string roc_pr_png(const RunData& run) {
  const LineChart roc = roc_chart(run), pr = pr_chart(run);
  RasterCanvas canvas(int(roc.width + pr.width), int(std::max(roc.height, pr.height)));
  draw_line_chart(canvas, roc, 0, 0);
  draw_line_chart(canvas, pr, roc.width, 0);
  return data::encode_png(canvas.width(), canvas.height(), 3, canvas.pixels(), "roc_pr.png");
}

std::string curves_png(const RunData& run) {
  const LineChart loss = loss_chart(run), acc = accuracy_chart(run);
  RasterCanvas canvas(int(loss.width + acc.width), int(std::max(loss.height, acc.height)));
  draw_line_chart(canvas, loss, 0, 0);
  draw_line_chart(canvas, acc, loss.width, 0);
  return data::encode_png(canvas.width(), canvas.height(), 3, canvas.pixels(), "curves.png");
}

std::string confusion_png(const RunData& run) {
  // Larger cells than the SVG: the raster font's digits are wider than a browser's.
  Heatmap map{"Confusion matrix", run.confusion, run.class_names, 56};
  const RasterCanvas measure(1, 1);
  RasterCanvas canvas(int(std::ceil(heatmap_width(measure, map))),
                      int(std::ceil(heatmap_height(map))));
  draw_heatmap(canvas, map);
  return data::encode_png(canvas.width(), canvas.height(), 3, canvas.pixels(), "confusion.png");
}

std::string report_html(const RunData& run, const std::vector<MisclassifiedImage>& shown,
                        const std::string& images_note, const std::vector<std::string>& warnings) {
  std::string title = "digitlab report: " + run.name;
  if (!run.model.empty()) title += " (" + run.model + ")";
  std::string h = page_start(title);
  h += header_section(run);
  h += warnings_section(warnings);
  h += curves_section(run);
  h += confusion_section(run);
  h += roc_pr_section(run);
  h += most_confused_section(run);
  h += misclassified_section(run, shown, images_note);
  h += saliency_section(run);
  h += per_class_section(run);
  h += configuration_section(run);
  h += timings_section(run);
  return h + page_end();
}

ReportResult write_report(const std::string& run_dir, const ReportOptions& options) {
  const RunData run = read_run(run_dir);
  ReportResult result;
  result.warnings = run.warnings;

  std::string note;
  std::vector<MisclassifiedImage> shown;
  if (run.has_predictions) {
    shown = load_images(
        run, misclassified(run.predictions, size_t(std::max(0, options.max_misclassified))),
        options.data_root, note);
  }
  if (!note.empty()) result.warnings.push_back(note);

  const std::string dir = core::join_path(run_dir, core::run_files::kReport);
  core::make_dirs(dir);
  const std::string curves = core::join_path(dir, "curves.png");
  core::write_file_atomic(curves, curves_png(run));
  result.png_paths.push_back(curves);
  if (!run.confusion.empty()) {
    const std::string confusion = core::join_path(dir, "confusion.png");
    core::write_file_atomic(confusion, confusion_png(run));
    result.png_paths.push_back(confusion);
  }
  if (run.has_probabilities) {
    const std::string roc_pr = core::join_path(dir, "roc_pr.png");
    core::write_file_atomic(roc_pr, roc_pr_png(run));
    result.png_paths.push_back(roc_pr);
  }
  result.html_path = core::join_path(dir, "index.html");
  // The page lists the run's warnings; the images note has its own place in the grid section.
  core::write_file_atomic(result.html_path, report_html(run, shown, note, run.warnings));
  return result;
}

}  // namespace digitlab::report
