// Learning-rate schedules and the reduce-on-plateau rule.
#include "train/schedule.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

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

PlateauTracker::PlateauTracker(const PlateauOptions& options)
    : options_(options), tracker_(options.monitor, options.min_delta), lr_(options.lr) {}

bool PlateauTracker::update(double value) {
  if (tracker_.update(value) || tracker_.wait() < options_.patience) return false;
  tracker_.reset_wait();
  const double before = lr_;
  lr_ = std::max(lr_ * options_.gamma, options_.min_lr);
  return lr_ < before;
}

nlohmann::json PlateauTracker::state() const {
  nlohmann::json s = {{"lr", lr_}};
  tracker_.save(s);
  return s;
}

void PlateauTracker::restore(const nlohmann::json& s) {
  try {
    const double lr = s.at("lr").get<double>();
    tracker_.load(s);  // all or nothing
    lr_ = lr;
  } catch (const nlohmann::json::exception& e) {
    throw core::RuntimeError(std::string("plateau schedule state: ") + e.what());
  }
}

ScheduleSpec schedule_spec(const TrainOptions& o, int64_t steps_per_epoch) {
  ScheduleSpec s;
  s.schedule = o.lr_schedule;
  s.lr = o.lr;
  s.steps_per_epoch = std::max<int64_t>(steps_per_epoch, 0);
  s.total_steps = s.steps_per_epoch * o.epochs;
  if (o.warmup_epochs > 0) {
    s.warmup_steps =
        std::max<int64_t>(1, std::llround(o.warmup_epochs * double(s.steps_per_epoch)));
  }
  s.step_epochs = o.lr_step;
  s.gamma = o.lr_gamma;
  return s;
}

PlateauOptions plateau_options(const TrainOptions& o) {
  PlateauOptions p;
  p.monitor = o.early_stopping.monitor;
  p.min_delta = o.early_stopping.min_delta;
  p.patience = o.lr_patience;
  p.gamma = o.lr_gamma;
  p.lr = o.lr;
  p.min_lr = o.lr_min;
  return p;
}

double scheduled_lr(const ScheduleSpec& spec, int64_t step, const PlateauTracker* plateau) {
  const int64_t warm = spec.warmup_steps;
  double lr = spec.lr;
  if (spec.schedule == "cosine") {
    // The decay starts where the warm-up ends, so the ramp hands over at the peak.
    lr =
        scheduled_lr("cosine", spec.lr, std::max<int64_t>(step - warm, 0), spec.total_steps - warm);
  } else if (spec.schedule == "onecycle") {
    lr = scheduled_lr("onecycle", spec.lr, step, spec.total_steps);
  } else if (spec.schedule == "step" && spec.steps_per_epoch > 0 && spec.step_epochs > 0) {
    const int64_t epoch = std::max<int64_t>(step, 0) / spec.steps_per_epoch;
    lr = spec.lr * std::pow(spec.gamma, double(epoch / spec.step_epochs));
  } else if (spec.schedule == "plateau" && plateau) {
    lr = plateau->lr();
  }
  if (step < warm) lr *= double(std::max<int64_t>(step, 0) + 1) / double(warm);
  return lr;
}

}  // namespace digitlab::train
