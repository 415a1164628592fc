// Entry points of `train`, `evaluate` and `ensemble`, free of torch so the program compiles fast.
#pragma once

#include <cstdint>
#include <string>

#include "train/options.h"

namespace digitlab::train {

// `digitlab train`: trains with the console progress, metrics.jsonl and TensorBoard observers.
// Returns the exit code and, when `run_dir` is given, the run directory used (resolved when
// options.out_dir was empty); throws core::UsageError / core::RuntimeError for bad options, data
// or files.
// With a `group` (data parallelism, train/trainer.h) only rank 0 reports and writes files.
class Collective;
int train_command(const TrainOptions& options, std::string* run_dir = nullptr,
                  Collective* group = nullptr);

// `digitlab evaluate`: accuracy, loss, confusion matrix and per-class scores of a checkpoint on
// the test split or its run's validation split; one JSON document on stdout with `json`; eval/
// files in the run directory. Returns the exit code; throws core::Error for bad input.
int evaluate_command(const EvalOptions& options);

// `digitlab ensemble`: evaluates every member and their combinations (mean of probabilities and
// majority vote) on one split, prints each member's accuracy beside the ensemble's (or one JSON
// document), and with options.save writes the ensemble as one checkpoint that evaluate, predict
// and serve load like any other. Requires members trained on the same data set and classes, none
// an ensemble or k-nearest neighbours. Returns the exit code; throws core::Error for bad input.
int ensemble_command(const EnsembleOptions& options);

struct SummaryOptions {
  std::string model;    // a zoo name, or
  std::string arch;     // a spec, or
  std::string target;   // a run directory (the checkpoint evaluate reads) or checkpoint file
  std::string dataset;  // class count for model/arch; empty: mnist (a run has its own)
  bool json = false;    // one JSON document instead of the table
  std::string data_root = "data";  // where an imported data set named by `dataset` lives
};

// `digitlab summary`: the layer table of a network (models::summarize), as text or JSON, on
// stdout. Requires exactly one of model, arch and target, and no dataset with a target (else
// core::UsageError naming the flags); a bad spec or a model that does not fit the data set's
// classes is a core::UsageError, a missing or damaged checkpoint a core::RuntimeError naming it,
// an ensemble checkpoint a core::UsageError. Returns 0.
int summary_command(const SummaryOptions& options);

// The text of `summary` for a spec with `classes` outputs: "Model: NAME (SPEC)" and the table.
std::string summary_text(const std::string& name, const std::string& spec, int64_t classes);

}  // namespace digitlab::train
