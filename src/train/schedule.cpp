// Learning-rate schedules.
#include "train/schedule.h"

#include <algorithm>
#include <cmath>

namespace digitlab::train {
namespace {

// Cosine interpolation from `from` (t = 0) to `to` (t = 1).
double cosine_between(double from, double to, double t) {
  return to + (from - to) * 0.5 * (1.0 + std::cos(M_PI * t));
}

}  // namespace

double scheduled_lr(const std::string& schedule, double lr, int64_t step, int64_t steps) {
  if (steps <= 0 || schedule == "constant") return lr;
  const double t = std::clamp(double(step) / double(steps), 0.0, 1.0);
  if (schedule == "cosine") return cosine_between(lr, 0.0, t);
  if (schedule == "onecycle") {
    constexpr double kWarmup = 0.3, kStartDiv = 25.0, kFinalDiv = 1e4;
    const double start = lr / kStartDiv, end = start / kFinalDiv;
    if (t < kWarmup) return cosine_between(start, lr, t / kWarmup);
    return cosine_between(lr, end, (t - kWarmup) / (1.0 - kWarmup));
  }
  return lr;
}

}  // namespace digitlab::train
