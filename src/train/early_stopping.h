// Early stopping with Keras' semantics: monitored metric, patience, min_delta, best epoch.
#pragma once

#include <string>

#include "train/improvement.h"
#include "train/options.h"

namespace digitlab::train {

class EarlyStopping {
 public:
  explicit EarlyStopping(const EarlyStoppingOptions& options);

  // Records the metric of `epoch`. Returns true when it is a new best: a finite value that beats
  // the best so far by more than min_delta (the first finite value always does).
  bool update(int epoch, double value);
  // True once `patience` epochs in a row brought no improvement (never when patience is 0).
  bool should_stop() const;

  int best_epoch() const { return best_epoch_; }
  double best_value() const { return tracker_.best(); }
  int wait() const { return tracker_.wait(); }
  const std::string& monitor() const { return options_.monitor; }

  // The state a resumed run needs, and its inverse; restore throws core::RuntimeError for JSON
  // that state() did not write and then leaves the state as it was.
  nlohmann::json state() const;
  void restore(const nlohmann::json& state);

 private:
  EarlyStoppingOptions options_;
  ImprovementTracker tracker_;
  int best_epoch_ = 0;
};

}  // namespace digitlab::train
