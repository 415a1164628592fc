// Early stopping state machine.
#include "train/early_stopping.h"

#include <string>

#include "core/error.h"

namespace digitlab::train {

EarlyStopping::EarlyStopping(const EarlyStoppingOptions& options)
    : options_(options), tracker_(options.monitor, options.min_delta) {}

bool EarlyStopping::update(int epoch, double value) {
  const bool better = tracker_.update(value);
  if (better) best_epoch_ = epoch;
  return better;
}

nlohmann::json EarlyStopping::state() const {
  nlohmann::json s = {{"best_epoch", best_epoch_}};
  tracker_.save(s);
  return s;
}

void EarlyStopping::restore(const nlohmann::json& s) {
  try {
    const int best_epoch = s.at("best_epoch").get<int>();
    tracker_.load(s);  // all or nothing
    best_epoch_ = best_epoch;
  } catch (const nlohmann::json::exception& e) {
    throw core::RuntimeError(std::string("early-stopping state: ") + e.what());
  }
}

bool EarlyStopping::should_stop() const {
  return options_.patience > 0 && tracker_.wait() >= options_.patience;
}

}  // namespace digitlab::train
