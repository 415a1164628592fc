// Observers that come with the trainer: console progress and the metrics.jsonl log.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "train/observer.h"

namespace digitlab::train {

// A redrawn progress bar (epoch, batch, loss, accuracy, images/s, ETA) on a terminal; one line per
// epoch otherwise, so logs stay readable.
class ConsoleProgress : public Observer {
 public:
  explicit ConsoleProgress(bool interactive);
  void on_train_begin(const TrainBegin& e) override;
  void on_batch_end(const BatchEnd& e) override;
  void on_epoch_end(const EpochEnd& e) override;
  void on_train_end(const TrainEnd& e) override;

 private:
  bool interactive_;
  std::chrono::steady_clock::time_point last_draw_{};
};

// Rewrites RUN_DIR/metrics.jsonl (one JSON object per epoch) atomically after every epoch.
class MetricsLog : public Observer {
 public:
  explicit MetricsLog(std::string path);
  void on_train_begin(const TrainBegin& e) override;
  void on_epoch_end(const EpochEnd& e) override;

 private:
  std::string path_;
  std::string text_;
};

// Rewrites RUN_DIR/metrics.csv (Keras' CSVLogger: a header row, then one row per epoch with the
// fields of metrics.jsonl, empty where not measured) atomically after every epoch. A resumed run
// rebuilds it from the same history as metrics.jsonl, so the two files list the same epochs.
class MetricsCsv : public Observer {
 public:
  explicit MetricsCsv(std::string path);
  void on_train_begin(const TrainBegin& e) override;
  void on_epoch_end(const EpochEnd& e) override;

 private:
  std::string path_;
  std::string text_;
};

// The columns of metrics.csv, in order.
const std::vector<std::string>& metrics_csv_columns();

// Formats seconds as M:SS or H:MM:SS.
std::string format_duration(double seconds);

}  // namespace digitlab::train
