// Early stopping state machine.
#include "train/early_stopping.h"

#include <cmath>
#include <string>

#include "core/error.h"

namespace digitlab::train {

EarlyStopping::EarlyStopping(const EarlyStoppingOptions& options)
    : options_(options), maximize_(options.monitor == "val_acc") {}

bool EarlyStopping::update(int epoch, double value) {
  const double d = options_.min_delta;
  // A diverged epoch (NaN or infinite loss) never becomes the best, as in Keras, whose best starts
  // at +-infinity.
  const bool better =
      std::isfinite(value) && (!has_best_ || (maximize_ ? value - d > best_ : value + d < best_));
  if (better) {
    has_best_ = true;
    best_ = value;
    best_epoch_ = epoch;
    wait_ = 0;
  } else {
    ++wait_;
  }
  return better;
}

nlohmann::json EarlyStopping::state() const {
  return {{"has_best", has_best_}, {"best", best_}, {"best_epoch", best_epoch_}, {"wait", wait_}};
}

void EarlyStopping::restore(const nlohmann::json& s) {
  try {
    has_best_ = s.at("has_best").get<bool>();
    best_ = s.at("best").get<double>();
    best_epoch_ = s.at("best_epoch").get<int>();
    wait_ = s.at("wait").get<int>();
  } catch (const nlohmann::json::exception& e) {
    throw core::RuntimeError(std::string("early-stopping state: ") + e.what());
  }
}

bool EarlyStopping::should_stop() const {
  return options_.patience > 0 && wait_ >= options_.patience;
}

}  // namespace digitlab::train
