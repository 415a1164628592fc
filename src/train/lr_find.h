// The learning-rate range test (fastai's lr_find, PyTorch Lightning's Tuner.lr_find); no torch.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "train/options.h"

namespace digitlab::train {

struct LrFindOptions {
  TrainOptions train;  // model, data, batch size, optimizer, seed, threads, ...
  double start = 1e-7, end = 10;
  int steps = 100;
  std::string out_dir;  // lr_find.csv and lr_find.png; empty: runs/lr-find-<model>-<time>
  bool json = false;
};

struct LrFindPoint {
  int step = 0;  // from 0
  double lr = 0, loss = 0;
  double smoothed = 0;  // exponential moving average (0.98), bias-corrected as fastai does
};

struct LrFindResult {
  std::vector<LrFindPoint> points;  // rising rates; a NaN step is not among them
  bool stopped_early = false;
  std::string stop_reason;  // empty when every step ran
  // The steepest descent of the smoothed loss over log(rate), at or before its minimum.
  double suggested_lr = 0;
  double min_loss_lr = 0;  // the rate of the lowest smoothed loss (its tenth is a second opinion)
};

// Throws core::UsageError naming the flag unless 0 < start < end <= 100 and 2 <= steps <= 100000.
void validate(const LrFindOptions& o);

// Requires validated options. From a freshly initialized model, takes one optimizer step per
// batch (epochs repeat as needed) at rate start * (end/start)^(i/(steps-1)) for step i, recording
// the loss before each step; stops after the step whose smoothed loss exceeds 4x its minimum, or
// at a loss that is not finite. Guarantees at least one point, rates rising, and suggestions
// within [start, end]. Throws core::UsageError for bad options, core::RuntimeError for data.
LrFindResult lr_find(const LrFindOptions& o);

// Writes the sweep's plot to a PNG file (report::write_lr_find_png: the charts live above train).
using LrFindPlotWriter = std::function<void(const std::string& path, const LrFindResult& r)>;

// `digitlab lr-find`: runs lr_find, writes OUT/lr_find.csv (step, lr, loss, smoothed_loss) and,
// through `write_plot`, OUT/lr_find.png, then prints a sparse table and the suggestions (or one
// JSON document with o.json). Returns the exit code; throws core::Error for bad input.
int lr_find_command(LrFindOptions o, const LrFindPlotWriter& write_plot);

}  // namespace digitlab::train
