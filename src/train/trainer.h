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
  // Data parallelism: wall time spent averaging gradients, and the steps it was spent on.
  double allreduce_seconds = 0;
  int64_t allreduce_steps = 0;
  int64_t gradient_values = 0;  // floats in each step's allreduce
};

// Trains as `options` say and reports to `observers`. Writes RUN_DIR/config.json and
// checkpoints/best.pt (best by the monitored metric; the last epoch without validation) and
// last.pt. With the same options and thread count the metrics are the same run to run.
// Throws core::UsageError for bad options, core::RuntimeError for data or file problems.
// With a `group` of N processes (data parallelism): rank 0's initial weights are broadcast; each
// rank trains on its shard of every global batch of N * batch_size images; gradients are
// averaged (weighted by shard size) in one flat buffer per step, so every rank takes the same
// optimizer step; losses, accuracies and validation are reduced over the ranks; only rank 0
// writes the run directory and calls `observers` (give the others none); early stopping and
// Ctrl-C/SIGTERM on any rank stop every rank at the same step.
// Calls validate(options) first, so no caller can skip it.
class Collective;
TrainResult train(TrainOptions options, const std::vector<Observer*>& observers,
                  Collective* group = nullptr);

// Fills in the model name and spec (the default model, a zoo entry, or "custom" for an --arch)
// and the default run directory when none is given. Idempotent.
void resolve_model(TrainOptions& o);

}  // namespace digitlab::train
