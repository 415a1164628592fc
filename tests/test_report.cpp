// Unit tests of the report module: tolerant run reading, charts, the HTML page, PNGs, comparison.
#include <gtest/gtest.h>

#include <stb/stb_image.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/files.h"
#include "data/image_io.h"
#include "report/charts.h"
#include "report/compare.h"
#include "report/draw.h"
#include "report/html.h"
#include "report/report.h"
#include "report/run.h"
#include "test_util.h"

namespace digitlab {
namespace {
using nlohmann::json;
using testing::TempDir;

void write(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

// Per-epoch metrics of a fake run: losses fall, accuracies rise, val_acc peaks at `best_epoch`.
std::string metrics_lines(int epochs, int best_epoch, bool test_on_last) {
  std::string out;
  for (int e = 1; e <= epochs; ++e) {
    json j = {{"epoch", e},
              {"train_loss", 0.5 / e},
              {"train_acc", 0.9 + 0.01 * e},
              {"val_loss", 0.4 / e + (e > best_epoch ? 0.05 : 0.0)},
              {"val_acc", e == best_epoch ? 0.98 : 0.95 + 0.001 * e},
              {"lr", 0.001},
              {"seconds", 10.0 + e},
              {"images_per_second", 5000.0}};
    if (test_on_last && e == epochs) j["test_acc"] = 0.97, j["test_loss"] = 0.09;
    out += j.dump() + "\n";
  }
  return out;
}

// Confusion of 10 classes: diagonal 100+i, plus three distinct errors (4->9 is the largest).
std::vector<std::vector<int64_t>> fake_confusion() {
  std::vector<std::vector<int64_t>> m(10, std::vector<int64_t>(10, 0));
  for (int i = 0; i < 10; ++i) m[size_t(i)][size_t(i)] = 100 + i;
  m[4][9] = 17, m[7][2] = 6, m[3][5] = 3;
  return m;
}

// A run directory with config.json, metrics.jsonl and, when `eval`, the three eval/ files. The
// predictions refer to the synthetic test set of test_util.h (label = index % 10).
void make_run(const std::string& dir, bool eval, const std::string& model = "test-cnn",
              int epochs = 5, int best_epoch = 3) {
  json config = {{"model", model},
                 {"spec", "C8-P-10"},
                 {"parameters", 12345},
                 {"dataset", "mnist"},
                 {"options",
                  {{"batch_size", 64},
                   {"lr", 0.001},
                   {"optimizer", "adam"},
                   {"early_stopping", {{"patience", 0}}}}},
                 {"versions", {{"digitlab", "0.1.0"}}}};
  write(dir + "/config.json", config.dump(2));
  write(dir + "/metrics.jsonl", metrics_lines(epochs, best_epoch, !eval));
  if (!eval) return;
  const auto m = fake_confusion();
  json per_class = json::array();
  std::string csv = "true\\pred,0,1,2,3,4,5,6,7,8,9\n";
  for (int c = 0; c < 10; ++c) {
    per_class.push_back({{"class", c},
                         {"name", std::to_string(c)},
                         {"precision", 0.9 + 0.001 * c},
                         {"recall", 0.8765},
                         {"f1", 0.85},
                         {"support", 100 + c}});
    csv += std::to_string(c);
    for (int64_t v : m[size_t(c)]) csv += "," + std::to_string(v);
    csv += "\n";
  }
  json summary = {{"accuracy", 0.985}, {"loss", 0.05},      {"count", 1071},
                  {"split", "test"},   {"confusion", m},    {"per_class", per_class},
                  {"model", model},    {"dataset", "mnist"}};
  write(dir + "/eval/summary.json", summary.dump(2));
  write(dir + "/eval/confusion.csv", csv);
  std::string pred = "index,label,predicted,confidence\n";
  for (int i = 0; i < 50; ++i) {
    int p = i % 10;
    double conf = 0.99;
    if (i == 4) p = 9, conf = 0.9;
    if (i == 14) p = 9, conf = 0.7;
    if (i == 7) p = 2, conf = 0.55;
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%d,%d,%d,%.6f\n", i, i % 10, p, conf);
    pred += buf;
  }
  write(dir + "/eval/predictions.csv", pred);
}

// The <svg ...>...</svg> element with the given id, or "".
std::string svg_with_id(const std::string& html, const std::string& id) {
  const size_t at = html.find("<svg id=\"" + id + "\"");
  if (at == std::string::npos) return "";
  const size_t end = html.find("</svg>", at);
  return html.substr(at, end - at + 6);
}

// The section element with the given id, or "".
std::string section(const std::string& html, const std::string& id) {
  const size_t at = html.find("<section id=\"" + id + "\"");
  if (at == std::string::npos) return "";
  return html.substr(at, html.find("</section>", at) - at);
}

// Number of points of the polyline with class "series <cls>" in `svg`; -1 when there is none.
int polyline_points(const std::string& svg, const std::string& cls) {
  std::smatch m;
  const std::regex re("<polyline class=\"series " + cls + "\" points=\"([^\"]*)\"");
  if (!std::regex_search(svg, m, re)) return -1;
  const std::string pts = m[1];
  return pts.empty() ? 0 : int(std::count(pts.begin(), pts.end(), ' ')) + 1;
}

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

uint32_t be32(const std::string& b, size_t at) {
  return uint32_t(uint8_t(b[at])) << 24 | uint32_t(uint8_t(b[at + 1])) << 16 |
         uint32_t(uint8_t(b[at + 2])) << 8 | uint32_t(uint8_t(b[at + 3]));
}

struct Decoded {
  int w = 0, h = 0;
  std::vector<uint8_t> rgb;
};

// Checks the PNG signature and IHDR, then decodes the file with stb_image.
Decoded decode_png(const std::string& path) {
  const std::string b = core::read_file(path);
  EXPECT_GE(b.size(), 33u) << path;
  EXPECT_EQ(b.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8)) << path;
  EXPECT_EQ(b.substr(12, 4), "IHDR") << path;
  Decoded d;
  int w = 0, h = 0, n = 0;
  unsigned char* px = stbi_load_from_memory(reinterpret_cast<const unsigned char*>(b.data()),
                                            int(b.size()), &w, &h, &n, 3);
  EXPECT_NE(px, nullptr) << path << " does not decode";
  if (!px) return d;
  EXPECT_EQ(uint32_t(w), be32(b, 16));
  EXPECT_EQ(uint32_t(h), be32(b, 20));
  d.w = w, d.h = h;
  d.rgb.assign(px, px + size_t(w) * size_t(h) * 3);
  stbi_image_free(px);
  return d;
}

bool has_color(const Decoded& d, report::Rgb c) {
  for (size_t i = 0; i + 2 < d.rgb.size(); i += 3) {
    if (d.rgb[i] == c.r && d.rgb[i + 1] == c.g && d.rgb[i + 2] == c.b) return true;
  }
  return false;
}

void expect_self_contained(const std::string& html) {
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(html.find("src=\"/"), std::string::npos);
  EXPECT_EQ(html.find("href=\"/"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
}

TEST(ReportHelpers, Base64AndNumbers) {
  EXPECT_EQ(report::base64(""), "");
  EXPECT_EQ(report::base64("f"), "Zg==");
  EXPECT_EQ(report::base64("fo"), "Zm8=");
  EXPECT_EQ(report::base64("foobar"), "Zm9vYmFy");
  EXPECT_EQ(report::png_data_uri("fo"), "data:image/png;base64,Zm8=");
  EXPECT_EQ(report::compact(0.9893), "0.9893");
  EXPECT_EQ(report::compact(0.05), "0.05");
  EXPECT_EQ(report::compact(421642), "421642");
  EXPECT_EQ(report::compact(12.5), "12.5");
  EXPECT_EQ(report::percent(0.98765), "98.77%");
  EXPECT_EQ(report::percent(std::nullopt), "");
  EXPECT_EQ(report::html_escape("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
}

TEST(ReportHelpers, NiceTicksCoverTheRange) {
  const auto t = report::nice_ticks(0.021, 0.137, 5);
  ASSERT_GE(t.size(), 3u);
  EXPECT_LE(t.front(), 0.021);
  EXPECT_GE(t.back(), 0.137);
  EXPECT_NEAR(t[1] - t[0], 0.025, 1e-12);
  const auto e = report::nice_ticks(1, 5, 6, true);
  EXPECT_EQ(e, (std::vector<double>{1, 2, 3, 4, 5}));
  const auto flat = report::nice_ticks(0.5, 0.5, 5);
  EXPECT_LT(flat.front(), 0.5);
  EXPECT_GT(flat.back(), 0.5);
}

TEST(ReportHelpers, MostConfusedAndMisclassifiedOrder) {
  const auto pairs = report::most_confused(fake_confusion(), 2);
  ASSERT_EQ(pairs.size(), 2u);
  EXPECT_EQ(pairs[0].first, std::make_pair(4, 9));
  EXPECT_EQ(pairs[0].second, 17);
  EXPECT_EQ(pairs[1].first, std::make_pair(7, 2));
  std::vector<report::Prediction> p = {{0, 1, 1, 0.9, {}}, {1, 2, 3, 0.6, {}}, {2, 4, 9, 0.95, {}}};
  const auto wrong = report::misclassified(p, 10);
  ASSERT_EQ(wrong.size(), 2u);
  EXPECT_EQ(wrong[0].index, 2);
  EXPECT_EQ(wrong[1].index, 1);
}

TEST(ReportDraw, RasterLinesAreTwoPixelsThickAndTextInks) {
  report::RasterCanvas c(40, 30);
  const report::Rgb red{255, 0, 0};
  c.line(5, 10, 30, 10, red, 2);
  int inked_rows = 0;
  for (int y = 0; y < 30; ++y) inked_rows += c.at(15, y).r == 255 && c.at(15, y).g == 0;
  EXPECT_EQ(inked_rows, 2);
  EXPECT_EQ(c.at(2, 10).g, 255);  // left of the line stays white
  report::RasterCanvas t(60, 20);
  t.text(2, 10, "Ab9", 6, {0, 0, 0});
  int ink = 0;
  for (uint8_t v : t.pixels()) ink += v == 0;
  EXPECT_GT(ink, 3 * 20);
  EXPECT_TRUE(report::font_has_glyph('q'));
  EXPECT_TRUE(report::font_has_glyph('%'));
  // Text on the darkest heat colour must be drawn in white, on the lightest in dark ink.
  EXPECT_LT(report::luminance(report::heat_color(1.0)), 0.5);
  EXPECT_GT(report::luminance(report::heat_color(0.0)), 0.5);
}

TEST(ReportDraw, WritePngRgbRoundTrips) {
  TempDir tmp;
  report::RasterCanvas c(7, 5);
  c.rect(2, 1, 3, 2, {10, 200, 30});
  data::write_png_rgb(tmp / "x.png", c.width(), c.height(), c.pixels());
  const Decoded d = decode_png(tmp / "x.png");
  ASSERT_EQ(d.w, 7);
  ASSERT_EQ(d.h, 5);
  EXPECT_EQ(d.rgb, c.pixels());
  EXPECT_EQ(d.rgb[(1 * 7 + 2) * 3 + 1], 200);
  EXPECT_THROW(data::write_png_rgb(tmp / "y.png", 7, 5, {1, 2, 3}), core::RuntimeError);
  EXPECT_FALSE(core::file_exists(tmp / "y.png"));
}

TEST(ReportRun, ReadsAFullRun) {
  TempDir tmp;
  make_run(tmp / "run", true);
  const report::RunData run = report::read_run(tmp / "run");
  EXPECT_TRUE(run.warnings.empty()) << run.warnings.front();
  EXPECT_EQ(run.model, "test-cnn");
  EXPECT_EQ(run.spec, "C8-P-10");
  EXPECT_EQ(run.dataset, "mnist");
  EXPECT_EQ(run.parameters, 12345);
  ASSERT_EQ(run.epochs.size(), 5u);
  EXPECT_EQ(run.epochs[4].epoch, 5);
  ASSERT_EQ(run.confusion.size(), 10u);
  EXPECT_EQ(run.confusion[4][9], 17);
  EXPECT_EQ(run.per_class.size(), 10u);
  EXPECT_EQ(run.predictions.size(), 50u);
  ASSERT_NE(report::best_val_epoch(run), nullptr);
  EXPECT_EQ(report::best_val_epoch(run)->epoch, 3);
  EXPECT_DOUBLE_EQ(report::total_seconds(run), 11 + 12 + 13 + 14 + 15);
}

TEST(Report, WritesASelfContainedPageWithChartsAndImages) {
  TempDir tmp;
  const std::string data_root = tmp / "data";
  testing::write_synthetic_mnist(data_root, 20, 50);
  make_run(tmp / "run", true);
  report::ReportOptions o;
  o.data_root = data_root;
  const report::ReportResult r = report::write_report(tmp / "run", o);
  EXPECT_TRUE(r.warnings.empty()) << r.warnings.front();
  EXPECT_EQ(r.html_path, tmp / "run/report/index.html");
  ASSERT_TRUE(core::file_exists(r.html_path));
  const std::string html = core::read_file(r.html_path);
  expect_self_contained(html);
  for (const char* id :
       {"summary", "curves", "loss-chart", "accuracy-chart", "confusion", "confusion-heatmap",
        "most-confused", "misclassified", "per-class", "configuration", "timings"}) {
    EXPECT_NE(html.find(std::string("id=\"") + id + "\""), std::string::npos) << id;
  }
  EXPECT_EQ(html.find("id=\"warnings\""), std::string::npos);
  EXPECT_NE(html.find("test-cnn"), std::string::npos);
  EXPECT_NE(html.find("C8-P-10"), std::string::npos);
  EXPECT_NE(html.find("12,345"), std::string::npos);

  const std::string loss = svg_with_id(html, "loss-chart");
  const std::string acc = svg_with_id(html, "accuracy-chart");
  EXPECT_EQ(polyline_points(loss, "train"), 5);
  EXPECT_EQ(polyline_points(loss, "val"), 5);
  EXPECT_EQ(polyline_points(acc, "train"), 5);
  EXPECT_EQ(polyline_points(acc, "val"), 5);
  EXPECT_NE(acc.find(">epoch<"), std::string::npos);

  const std::string heat = svg_with_id(html, "confusion-heatmap");
  for (const char* n : {">100<", ">109<", ">17<", ">6<", ">3<"}) {
    EXPECT_NE(heat.find(n), std::string::npos) << n;
  }
  EXPECT_EQ(count(heat, "<rect"), 100u);
  EXPECT_NE(heat.find("true class"), std::string::npos);
  EXPECT_NE(heat.find("predicted class"), std::string::npos);

  const std::string pairs = section(html, "most-confused");
  const size_t first_row = pairs.find("<tr data-true");
  ASSERT_NE(first_row, std::string::npos);
  EXPECT_EQ(pairs.find("<tr data-true=\"4\" data-pred=\"9\">"), first_row);
  EXPECT_NE(pairs.find("<td>17</td>"), std::string::npos);
  EXPECT_EQ(count(pairs, "<tr data-true"), 3u);

  const std::string mis = section(html, "misclassified");
  EXPECT_EQ(count(mis, "<figure"), 3u);
  EXPECT_EQ(count(mis, "<img src=\"data:image/png;base64,"), 3u);
  EXPECT_LT(mis.find("data-index=\"4\""), mis.find("data-index=\"14\""));
  EXPECT_LT(mis.find("data-index=\"14\""), mis.find("data-index=\"7\""));
  EXPECT_NE(mis.find("90.0%"), std::string::npos);

  EXPECT_NE(section(html, "per-class").find("0.8765"), std::string::npos);
  EXPECT_NE(section(html, "configuration").find("batch_size"), std::string::npos);
  EXPECT_NE(section(html, "configuration").find("early_stopping.patience"), std::string::npos);
  EXPECT_NE(section(html, "timings").find("65.0"), std::string::npos);  // 11+...+15 seconds

  ASSERT_EQ(r.png_paths.size(), 2u);
  const Decoded curves = decode_png(tmp / "run/report/curves.png");
  EXPECT_EQ(curves.w, 1040);
  EXPECT_EQ(curves.h, 320);
  EXPECT_TRUE(has_color(curves, {31, 119, 180}));  // the train line
  EXPECT_TRUE(has_color(curves, {255, 127, 14}));  // the validation line
  const Decoded confusion = decode_png(tmp / "run/report/confusion.png");
  EXPECT_GT(confusion.w, 560);
  EXPECT_EQ(confusion.h, 62 + 560 + 10);
  EXPECT_TRUE(has_color(confusion, report::heat_color(1.0)));  // row 9 is all diagonal
  // No temporary files are left behind.
  for (const auto& e : std::filesystem::directory_iterator(tmp / "run/report")) {
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
  }
}

// Rewrites the run's predictions with probability columns: image i (label i % 10) gives its own
// class `own` and spreads the rest evenly, except class 0, whose images score below everyone else.
void write_probabilities(const std::string& dir, int n) {
  std::string pred = "index,label,predicted,confidence,p_0,p_1,p_2,p_3,p_4,p_5,p_6,p_7,p_8,p_9\n";
  for (int i = 0; i < n; ++i) {
    const int label = i % 10;
    const double own = label == 0 ? 0.001 : 0.4 + 0.01 * i;
    std::vector<double> p(10, (1 - own) / 9);
    p[size_t(label)] = own;
    const int predicted = int(std::max_element(p.begin(), p.end()) - p.begin());
    pred += std::to_string(i) + "," + std::to_string(label) + "," + std::to_string(predicted) +
            "," + std::to_string(p[size_t(predicted)]);
    for (double v : p) pred += "," + std::to_string(v);
    pred += "\n";
  }
  write(dir + "/eval/predictions.csv", pred);
}

TEST(Report, RocAndPrCurvesPerClassAveragesAndSaliency) {
  TempDir tmp;
  const std::string data_root = tmp / "data";
  testing::write_synthetic_mnist(data_root, 20, 50);
  make_run(tmp / "run", true);
  write_probabilities(tmp / "run", 50);
  json summary = json::parse(core::read_file(tmp / "run/eval/summary.json"));
  summary["macro_avg"] = {{"precision", 0.5432}, {"recall", 0.6}, {"f1", 0.55}, {"support", 50}};
  summary["weighted_avg"] = {{"precision", 0.4321}, {"recall", 0.6}, {"f1", 0.5}, {"support", 50}};
  summary["macro_roc_auc"] = 0.9123;
  summary["per_class"][3]["roc_auc"] = 0.9876;
  write(tmp / "run/eval/summary.json", summary.dump());

  const report::RunData run = report::read_run(tmp / "run");
  EXPECT_TRUE(run.warnings.empty()) << run.warnings.front();
  ASSERT_TRUE(run.has_probabilities);
  ASSERT_EQ(run.predictions[7].probabilities.size(), 10u);
  EXPECT_DOUBLE_EQ(run.per_class[3].roc_auc, 0.9876);
  EXPECT_TRUE(std::isnan(run.per_class[4].roc_auc));
  // Class 1..9 images rank first for their class (AUC 1); class 0's rank last (AUC 0).
  const report::LineChart roc = report::roc_chart(run), pr = report::pr_chart(run);
  ASSERT_EQ(roc.series.size(), 10u);
  ASSERT_EQ(pr.series.size(), 10u);
  EXPECT_EQ(roc.series[0].name, "0 0.000");
  EXPECT_EQ(roc.series[5].name, "5 1.000");
  EXPECT_EQ(roc.series[5].x.front(), 0.0);
  EXPECT_EQ(roc.series[5].y.back(), 1.0);
  EXPECT_EQ(pr.series[5].name, "5 1.000");

  report::ReportOptions o;
  o.data_root = data_root;
  report::ReportResult r = report::write_report(tmp / "run", o);
  std::string html = core::read_file(r.html_path);
  const std::string curves = section(html, "roc-pr");
  EXPECT_EQ(count(svg_with_id(curves, "roc-chart"), "<polyline class=\"series class-"), 10u);
  EXPECT_EQ(count(svg_with_id(curves, "pr-chart"), "<polyline class=\"series class-"), 10u);
  const std::string table = section(html, "per-class");
  for (const char* v : {"0.5432", "0.4321", "0.9123", "0.9876", "macro avg", "weighted avg"}) {
    EXPECT_NE(table.find(v), std::string::npos) << v;
  }
  ASSERT_EQ(r.png_paths.size(), 3u);
  const Decoded png = decode_png(tmp / "run/report/roc_pr.png");
  EXPECT_EQ(png.w, 1040);
  EXPECT_NE(section(html, "saliency").find("digitlab evaluate"), std::string::npos);

  // With eval/saliency.png the page shows it; a file that is no PNG is a warning instead.
  write(tmp / "run/eval/saliency.png", core::read_file(tmp / "run/report/roc_pr.png"));
  html = core::read_file(report::write_report(tmp / "run", o).html_path);
  EXPECT_NE(section(html, "saliency").find("<img id=\"saliency-image\" src=\"data:image/png"),
            std::string::npos);
  write(tmp / "run/eval/saliency.png", "not a picture");
  r = report::write_report(tmp / "run", o);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0], "eval/saliency.png: not a PNG image; left out");

  // A field that is not a number: the line is skipped and named.
  std::string pred = core::read_file(tmp / "run/eval/predictions.csv");
  pred.replace(pred.find(",0.", pred.find("\n3,")), 3, ",x.");
  write(tmp / "run/eval/predictions.csv", pred);
  const report::RunData bad = report::read_run(tmp / "run");
  EXPECT_EQ(bad.predictions.size(), 49u);
  ASSERT_FALSE(bad.warnings.empty());
  EXPECT_EQ(bad.warnings[0].rfind("eval/predictions.csv line 5: not "
                                  "index,label,predicted,confidence,p_0..p_9; 1 line skipped",
                                  0),
            0u)
      << bad.warnings[0];
}

TEST(Report, TruncatedMetricsStillGiveAReportAndAWarning) {
  TempDir tmp;
  make_run(tmp / "run", false);
  const std::string full = metrics_lines(5, 3, false);
  // Keep three whole lines and half of the fourth, as an interrupted copy would.
  size_t cut = 0;
  for (int i = 0; i < 3; ++i) cut = full.find('\n', cut) + 1;
  cut += (full.find('\n', cut) - cut) / 2;
  write(tmp / "run/metrics.jsonl", full.substr(0, cut));

  const report::ReportResult r = report::write_report(tmp / "run", {tmp / "no-data"});
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0], "metrics.jsonl line 4: not valid JSON; the curves stop at epoch 3");
  const std::string html = core::read_file(r.html_path);
  expect_self_contained(html);
  EXPECT_NE(section(html, "warnings").find("metrics.jsonl line 4"), std::string::npos);
  EXPECT_EQ(polyline_points(svg_with_id(html, "loss-chart"), "train"), 3);
  // Without eval/ the sections say which command fills them.
  EXPECT_NE(section(html, "confusion").find("digitlab evaluate " + (tmp / "run")),
            std::string::npos);
  EXPECT_NE(section(html, "misclassified").find("digitlab evaluate"), std::string::npos);
  EXPECT_NE(section(html, "per-class").find("digitlab evaluate"), std::string::npos);
  EXPECT_EQ(r.png_paths.size(), 1u);
  EXPECT_FALSE(core::file_exists(tmp / "run/report/confusion.png"));
}

TEST(Report, BadLinesAreSkippedAndNamed) {
  TempDir tmp;
  make_run(tmp / "run", false);
  std::string text = metrics_lines(4, 3, false);
  text.insert(text.find('\n') + 1, "{not json\n[1,2]\n{\"train_loss\":1}\n");
  write(tmp / "run/metrics.jsonl", text);
  const report::RunData run = report::read_run(tmp / "run");
  EXPECT_EQ(run.epochs.size(), 4u);
  ASSERT_EQ(run.warnings.size(), 3u);
  EXPECT_EQ(run.warnings[0], "metrics.jsonl line 2: not valid JSON; skipped");
  EXPECT_EQ(run.warnings[1], "metrics.jsonl line 3: not a JSON object; skipped");
  EXPECT_EQ(run.warnings[2], "metrics.jsonl line 4: no whole \"epoch\" number; skipped");
}

TEST(Report, MissingMetricsOrUnreadableImagesAreReportedNotFatal) {
  TempDir tmp;
  make_run(tmp / "run", true);
  std::filesystem::remove(tmp / "run/metrics.jsonl");
  const report::ReportResult r = report::write_report(tmp / "run", {tmp / "no-data"});
  ASSERT_EQ(r.warnings.size(), 2u);
  EXPECT_NE(r.warnings[0].find("metrics.jsonl: missing"), std::string::npos);
  EXPECT_NE(r.warnings[1].find("test images not shown"), std::string::npos);
  EXPECT_NE(r.warnings[1].find("no-data"), std::string::npos);
  const std::string html = core::read_file(r.html_path);
  const std::string mis = section(html, "misclassified");
  EXPECT_NE(mis.find("test images not shown"), std::string::npos);
  EXPECT_EQ(count(mis, "<img"), 0u);
  EXPECT_EQ(count(mis, "<figure"), 3u);
  EXPECT_NE(section(html, "curves").find("digitlab train"), std::string::npos);
}

TEST(Report, MissingRunDirectoryIsAnErrorNamingIt) {
  TempDir tmp;
  const std::string missing = tmp / "no-such-run";
  try {
    report::write_report(missing);
    FAIL() << "no error";
  } catch (const core::RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find(missing), std::string::npos) << e.what();
  }
  std::filesystem::create_directories(tmp / "empty");
  try {
    report::read_run(tmp / "empty");
    FAIL() << "no error";
  } catch (const core::RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find(tmp / "empty"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("neither config.json nor metrics.jsonl"),
              std::string::npos);
  }
}

TEST(Compare, RowsTableAndPage) {
  TempDir tmp;
  make_run(tmp / "a", true, "model-a", 5, 3);
  make_run(tmp / "b", false, "model-b", 4, 2);
  std::vector<std::string> warnings;
  const auto rows = report::compare_runs({tmp / "a", tmp / "b"}, &warnings);
  EXPECT_TRUE(warnings.empty());
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].run, tmp / "a");
  EXPECT_EQ(rows[0].model, "model-a");
  EXPECT_EQ(rows[0].parameters, 12345);
  EXPECT_DOUBLE_EQ(rows[0].best_val_acc.value_or(0), 0.98);
  EXPECT_EQ(rows[0].best_epoch, 3);
  EXPECT_DOUBLE_EQ(rows[0].test_acc.value_or(0), 0.985);  // from eval/summary.json
  EXPECT_EQ(rows[0].epochs, 5);
  EXPECT_DOUBLE_EQ(rows[0].seconds, 65);
  EXPECT_EQ(rows[1].model, "model-b");
  EXPECT_EQ(rows[1].best_epoch, 2);
  EXPECT_DOUBLE_EQ(rows[1].test_acc.value_or(0), 0.97);  // last test_acc in the metrics
  EXPECT_EQ(rows[1].epochs, 4);

  const std::string table = report::format_compare_table(rows);
  std::vector<std::string> lines;
  for (size_t at = 0, nl; (nl = table.find('\n', at)) != std::string::npos; at = nl + 1) {
    lines.push_back(table.substr(at, nl - at));
  }
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].rfind("run", 0), 0u);
  EXPECT_NE(lines[0].find("best val acc"), std::string::npos);
  EXPECT_NE(lines[1].find("98.00%"), std::string::npos);
  EXPECT_NE(lines[1].find("98.50%"), std::string::npos);
  EXPECT_NE(lines[2].find("97.00%"), std::string::npos);
  // Right-aligned last column: every line ends at the same place.
  EXPECT_EQ(lines[0].size(), lines[1].size());
  EXPECT_EQ(lines[1].size(), lines[2].size());

  std::vector<report::RunData> runs = {report::read_run(tmp / "a"), report::read_run(tmp / "b")};
  report::write_compare_page(tmp / "compare.html", runs);
  const std::string html = core::read_file(tmp / "compare.html");
  expect_self_contained(html);
  const std::string acc = svg_with_id(html, "compare-accuracy-chart");
  EXPECT_EQ(polyline_points(acc, "run-0"), 5);
  EXPECT_EQ(polyline_points(acc, "run-1"), 4);
  EXPECT_EQ(polyline_points(svg_with_id(html, "compare-loss-chart"), "run-1"), 4);
  EXPECT_NE(html.find("id=\"compare-table\""), std::string::npos);
  EXPECT_NE(html.find("model-b"), std::string::npos);

  EXPECT_THROW(report::compare_runs({tmp / "a", tmp / "missing"}), core::RuntimeError);
}

}  // namespace
}  // namespace digitlab
