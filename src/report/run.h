// Reading a run directory tolerantly: config, per-epoch metrics and evaluation files.
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "train/metrics_log.h"

namespace digitlab::report {

using train::EpochMetrics;

// One line of eval/predictions.csv: an image of the test split and what the model said.
struct Prediction {
  int64_t index = 0;
  int label = 0, predicted = 0;
  double confidence = 0;
  std::vector<double> probabilities;  // p_0..p_K-1 when the file has them, else empty
};

struct ClassScore {
  int cls = 0;
  std::string name;
  double precision = 0, recall = 0, f1 = 0;
  int64_t support = 0;
  double roc_auc = NAN, average_precision = NAN;  // one-vs-rest; NaN when not in the file
};

// Everything read from a run directory. Each part is empty when its file is missing; problems
// with a file that is there are described in `warnings`, one line each, naming the file (and
// line) and what became of it.
struct RunData {
  std::string dir;   // as given
  std::string name;  // last path component
  bool has_config = false;
  nlohmann::json config;  // config.json as read (null when missing or broken)
  std::string model, spec, dataset;
  std::optional<int64_t> parameters;

  bool has_metrics = false;
  std::vector<EpochMetrics> epochs;  // sorted by epoch, one entry per epoch

  bool has_summary = false;
  nlohmann::json summary;  // eval/summary.json
  std::optional<double> test_accuracy, test_loss;
  std::vector<std::string> class_names;
  std::vector<ClassScore> per_class;
  std::vector<std::vector<int64_t>> confusion;  // [true][predicted]; empty when unknown
  bool has_predictions = false;
  std::vector<Prediction> predictions;
  // Every prediction has the same number (>= 2) of class probabilities, so curves can be drawn.
  bool has_probabilities = false;
  std::string saliency_png;  // eval/saliency.png as read; empty when missing

  std::vector<std::string> warnings;
};

// Reads `run_dir`. Requires nothing of the files: a missing, truncated or malformed metrics.jsonl,
// a bad line in it, or broken eval files give warnings and whatever could be read (a bad metrics
// line is skipped: "metrics.jsonl line 7: not valid JSON; the curves stop at epoch 6").
// Throws core::RuntimeError naming run_dir when it is not a directory, or holds neither
// config.json nor metrics.jsonl (so it is no run directory).
RunData read_run(const std::string& run_dir);

// The epoch with the highest validation accuracy (the first of equals), or nullptr when no epoch
// has one.
const EpochMetrics* best_val_epoch(const RunData& run);

// Test accuracy: eval/summary.json's when present, else the last test_acc in the metrics.
std::optional<double> final_test_accuracy(const RunData& run);

// Training seconds summed over the logged epochs (epochs without "seconds" count 0).
double total_seconds(const RunData& run);

// Images per second over the whole run: each epoch's rate weighted by its seconds; empty when no
// epoch has both.
std::optional<double> mean_images_per_second(const RunData& run);

}  // namespace digitlab::report
