// The best value of a monitored metric and the epochs since it last improved, shared by early
// stopping and the reduce-on-plateau schedule so that both read "improved" the same way.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace digitlab::train {

class ImprovementTracker {
 public:
  // `monitor` val_acc rises; anything else (val_loss) falls. `min_delta` is absolute.
  ImprovementTracker(const std::string& monitor, double min_delta);

  // Records a value. Returns true when it is a new best: finite and better than the best so far by
  // more than min_delta (the first finite value always is); the wait is then 0, else it grows by
  // one. A NaN or infinite value never improves, as in Keras, whose best starts at +-infinity.
  bool update(double value);
  // Starts the count of epochs without improvement again (a plateau reduction does).
  void reset_wait() { wait_ = 0; }

  double best() const { return best_; }
  int wait() const { return wait_; }

  // Writes has_best, best and wait into `state`; load reads them back, all or nothing: it throws
  // nlohmann::json::exception, changing nothing, when one is missing or of the wrong type.
  void save(nlohmann::json& state) const;
  void load(const nlohmann::json& state);

 private:
  bool maximize_;
  double min_delta_;
  bool has_best_ = false;
  double best_ = 0;
  int wait_ = 0;
};

}  // namespace digitlab::train
