// Entry points of the train-layer subcommands, free of torch so the program compiles fast.
#pragma once

#include "train/options.h"

namespace digitlab::train {

// `digitlab train`: trains with the console progress and metrics.jsonl observers. Returns the exit
// code; throws core::UsageError / core::RuntimeError for bad options, data or files.
int train_command(const TrainOptions& options);

// `digitlab evaluate`: accuracy, loss, confusion matrix and per-class scores of a checkpoint on
// the test split or its run's validation split; one JSON document on stdout with `json`; eval/
// files in the run directory. Returns the exit code; throws core::Error for bad input.
int evaluate_command(const EvalOptions& options);

}  // namespace digitlab::train
