// Improvement of a monitored metric: the rule early stopping and reduce-on-plateau share.
#include "train/improvement.h"

#include <cmath>

namespace digitlab::train {

ImprovementTracker::ImprovementTracker(const std::string& monitor, double min_delta)
    : maximize_(monitor == "val_acc"), min_delta_(min_delta) {}

bool ImprovementTracker::update(double value) {
  const double d = min_delta_;
  const bool better =
      std::isfinite(value) && (!has_best_ || (maximize_ ? value - d > best_ : value + d < best_));
  if (better) {
    has_best_ = true;
    best_ = value;
    wait_ = 0;
  } else {
    ++wait_;
  }
  return better;
}

void ImprovementTracker::save(nlohmann::json& state) const {
  state["has_best"] = has_best_;
  state["best"] = best_;
  state["wait"] = wait_;
}

void ImprovementTracker::load(const nlohmann::json& state) {
  const bool has_best = state.at("has_best").get<bool>();
  const double best = state.at("best").get<double>();
  const int wait = state.at("wait").get<int>();
  has_best_ = has_best;
  best_ = best;
  wait_ = wait;
}

}  // namespace digitlab::train
