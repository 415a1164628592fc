// `digitlab report`: one self-contained HTML page per run, with PNG figures beside it.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "report/charts.h"
#include "report/run.h"

namespace digitlab::report {

struct ReportOptions {
  // Root of the data sets (the app resolves $DIGITLAB_DATA); the test images of the misclassified
  // grid are read from here, for the data set named in config.json.
  std::string data_root = "data";
  int max_misclassified = 48;
};

struct ReportResult {
  std::string html_path;               // <run_dir>/report/index.html
  std::vector<std::string> png_paths;  // curves.png, confusion.png and roc_pr.png when drawn
  std::vector<std::string> warnings;   // one line each: what was missing or unreadable
};

// Writes <run_dir>/report/index.html, report/curves.png and (with eval/ files)
// report/confusion.png, and (with probabilities in eval/predictions.csv) report/roc_pr.png. The
// page needs nothing else: CSS, SVG charts and images are inline (images
// as data: URIs) and it names no URL. Sections and their stable ids: "summary", "warnings" (only
// when there are any), "curves" with svg#loss-chart and svg#accuracy-chart, "confusion" with
// svg#confusion-heatmap, "roc-pr" with svg#roc-chart and svg#pr-chart, "most-confused",
// "misclassified", "saliency" with img#saliency-image, "per-class", "configuration", "timings".
// A section whose input is missing says which command produces it. Requires: read_run(run_dir)
// succeeds (else its core::RuntimeError propagates). Guarantees: every file is written through a
// temporary name and a rename; a failed write throws core::RuntimeError naming the file. Unreadable
// test images (missing data set) only add a warning.
ReportResult write_report(const std::string& run_dir, const ReportOptions& options = {});

// A misclassified test image for the grid; `data_uri` is empty when its pixels could not be read.
struct MisclassifiedImage {
  Prediction prediction;
  std::string data_uri;
};

// The page write_report writes, for a run already read: `shown` fills the misclassified grid,
// `images_note` (may be empty) says why images are missing, `warnings` are listed near the top.
// Requires nothing; sections without input say which command produces it.
std::string report_html(const RunData& run, const std::vector<MisclassifiedImage>& shown,
                        const std::string& images_note, const std::vector<std::string>& warnings);

// Off-diagonal cells of `confusion` as ((true, predicted), count), largest count first (ties by
// true then predicted class), zero counts left out, at most `limit` of them.
std::vector<std::pair<std::pair<int, int>, int64_t>> most_confused(
    const std::vector<std::vector<int64_t>>& confusion, size_t limit = 10);

// The misclassified predictions, most confident first (the model's surest mistakes are the most
// telling), at most `limit`.
std::vector<Prediction> misclassified(const std::vector<Prediction>& predictions, size_t limit);

// Loss and accuracy charts of a run (accuracy in percent): train and validation lines, test dots.
LineChart loss_chart(const RunData& run);
LineChart accuracy_chart(const RunData& run);

// One-vs-rest ROC (false positive rate, true positive rate) and precision-recall (recall,
// precision) curves of every class from the predictions' probabilities, one series per class
// named with its area (ROC AUC / average precision); no series without probabilities.
LineChart roc_chart(const RunData& run);
LineChart pr_chart(const RunData& run);

// Renders the ROC and PR charts side by side as PNG bytes.
std::string roc_pr_png(const RunData& run);

// Renders the loss and accuracy charts side by side / the confusion heatmap as PNG bytes.
std::string curves_png(const RunData& run);
std::string confusion_png(const RunData& run);

}  // namespace digitlab::report
