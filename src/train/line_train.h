// Training a line reader (models::LineNet) with CTC on the mnist-lines data set.
#pragma once

#include <string>

#include "train/options.h"

namespace digitlab::train {

constexpr const char* kLineDataset = "mnist-lines";
constexpr const char* kDefaultLineSpec = "line:32,64,96,96,256";

// True when `o` asks for a line reader: the mnist-lines data set or a "line:" spec.
bool is_line_training(const TrainOptions& o);

// `train` for a line reader: requires dataset mnist-lines and a line spec (arch; empty: the
// default), else core::UsageError naming the option; options that only classifiers use
// (resume, init-from, a non-constant precision, data parallelism) are refused the same way.
// Holds out `val_split` lines for validation; each epoch trains on batches of similar widths,
// each batch stretched 0.8-1.2x in width and shifted up to 2 pixels up or down, with Adam (or
// the options' optimizer) on the learning-rate schedule; then reads the validation lines
// greedily and keeps the best epoch's weights (exact numbers, then digits) in
// checkpoints/best.pt, the last in last.pt, a line per epoch in metrics.jsonl, the options in
// config.json. Ends by reading the test split. Returns the exit code; sets `run_dir`. Throws
// core::Error for missing data, bad options or unwritable files; Ctrl-C saves last.pt and throws
// core::Interrupted.
int train_lines_command(TrainOptions options, std::string* run_dir = nullptr);

}  // namespace digitlab::train
