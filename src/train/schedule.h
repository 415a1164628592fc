// Learning-rate schedules as pure functions of the step, and the plateau rule's state; no torch.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "train/improvement.h"
#include "train/options.h"

namespace digitlab::train {

// The learning rate of step `step` (from 0) out of `steps`, for a peak rate `lr`:
// - constant: lr throughout;
// - cosine: lr * (1 + cos(pi * step / steps)) / 2, from lr down to 0;
// - onecycle: PyTorch's OneCycleLR defaults: cosine warm-up from lr/25 to lr over the first 30%
//   of steps, then cosine annealing down to lr/25e4.
// Requires a known schedule name (options validate it); steps <= 0 gives lr.
double scheduled_lr(const std::string& schedule, double lr, int64_t step, int64_t steps);

// What a run's learning rate follows: its options resolved against its batches per epoch.
struct ScheduleSpec {
  std::string schedule = "constant";  // constant, cosine, onecycle, step or plateau
  double lr = 1e-3;                   // the peak rate (--lr)
  int64_t total_steps = 0;            // optimizer steps of the whole run
  int64_t steps_per_epoch = 0;
  int64_t warmup_steps = 0;  // linear warm-up over the first steps; 0 with onecycle
  int step_epochs = 10;      // step: epochs between decays (--lr-step)
  double gamma = 0.1;        // step: the factor of each decay (--lr-gamma)
};

// The reduce-on-plateau rule's settings (PlateauTracker).
struct PlateauOptions {
  std::string monitor = "val_loss";  // val_loss falls, val_acc rises
  double min_delta = 0.0;
  int patience = 3;
  double gamma = 0.1;
  double lr = 1e-3;  // the rate before any reduction
  double min_lr = 0.0;
};

// Keras' ReduceLROnPlateau (mode from the monitor, absolute min_delta, cooldown 0): once
// `patience` epochs in a row bring no improvement of more than min_delta, the rate is multiplied
// by `gamma`, never below `min_lr`, and the count starts again. PyTorch's patience N is this N+1.
class PlateauTracker {
 public:
  explicit PlateauTracker(const PlateauOptions& options);

  // Records an epoch's metric (a NaN or infinite one never improves). Returns true when this
  // epoch reduced the rate: false at the floor, where the count still starts again.
  bool update(double value);
  // The rate the next epoch trains at: lr at first, then lr * gamma^reductions, at least min_lr.
  double lr() const { return lr_; }
  int wait() const { return tracker_.wait(); }
  double best() const { return tracker_.best(); }

  // The state a resumed run needs, and its inverse; restore throws core::RuntimeError for JSON
  // that state() did not write and then leaves the state as it was.
  nlohmann::json state() const;
  void restore(const nlohmann::json& state);

 private:
  PlateauOptions options_;
  ImprovementTracker tracker_;
  double lr_;  // the rate after the reductions so far
};

// The schedule of a run of `o` with `steps_per_epoch` optimizer steps per epoch (>= 0): total
// steps epochs * steps_per_epoch, warm-up round(warmup_epochs * steps_per_epoch) steps (at least
// one when warmup_epochs > 0).
ScheduleSpec schedule_spec(const TrainOptions& o, int64_t steps_per_epoch);
// The plateau rule of `o`: its monitor and min_delta (shared with early stopping), lr_patience,
// lr_gamma, lr and lr_min.
PlateauOptions plateau_options(const TrainOptions& o);

// The learning rate of step `step` (from 0) of a run following `spec`:
// - step < warmup_steps: the rate below times (step + 1) / warmup_steps, a linear ramp up to it;
// - constant: lr; onecycle: scheduled_lr above over all steps;
// - cosine: from lr down to 0 over the steps after the warm-up;
// - step: lr * gamma^floor(epoch / step_epochs), epoch = step / steps_per_epoch counted from 0
//   (PyTorch's StepLR stepped once per epoch);
// - plateau: plateau->lr(), which changes only between epochs.
// Requires `plateau` non-null for the plateau schedule.
double scheduled_lr(const ScheduleSpec& spec, int64_t step, const PlateauTracker* plateau);

}  // namespace digitlab::train
