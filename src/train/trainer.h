// The training loop: data, model, optimizer, validation, early stopping, checkpoints.
#pragma once

#include <string>
#include <vector>

#include "train/observer.h"
#include "train/options.h"

namespace digitlab::train {

struct TrainResult {
  std::string run_dir;
  std::vector<EpochEnd> history;
  int best_epoch = 0;
  bool stopped_early = false;
};

// Trains as `options` say and reports to `observers`. Writes RUN_DIR/config.json and
// checkpoints/best.pt (best by the monitored metric; the last epoch without validation) and
// last.pt. With the same options and thread count the metrics are the same run to run.
// Throws core::UsageError for bad options, core::RuntimeError for data or file problems.
TrainResult train(TrainOptions options, const std::vector<Observer*>& observers);

}  // namespace digitlab::train
