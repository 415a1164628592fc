// `digitlab bench --what model|time-to-accuracy`: training and inference speed, and time to a
// target test accuracy.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace digitlab::bench {

struct ModelBenchOptions {
  std::string data_root = "data";
  std::vector<std::string> models = {"seed002-cnn"};  // zoo names or specs
  std::vector<std::string> precisions = {"fp32", "bf16"};
  int64_t batch_size = 64;
  int steps = 300;  // timed training steps, after 30 untimed ones
  int threads = 0;
  std::string device = "cpu";
  bool json = false;
};

// For each model and precision, on MNIST: training images/s (Adam, the given batch, the real
// loader), inference images/s at batch 1000 and the median and 90th-percentile batch-1 latency
// (through the inference path of evaluate), and the process's peak resident memory so far.
// Prints a table or one JSON document. Returns the exit code; throws core::Error.
int model_bench_command(const ModelBenchOptions& options);

// A fast recipe: a small CNN, Adam with a one-cycle schedule, bf16 where `auto` picks it.
struct TimeToAccuracyOptions {
  std::string data_root = "data";
  std::string arch;  // empty: kFastArch
  double target = 0.99;
  int epochs = 1;  // the schedule's length; training stops at the first evaluation on target
  int64_t batch_size = 64;
  double lr = 0.003;
  std::string augment = "none";
  int evals_per_epoch = 1;       // test evaluations per epoch, the last at the epoch's end
  int eval_from = 1;             // no test evaluation before this epoch (they cost time, TTA most)
  double label_smoothing = 0.0;  // training loss only, in [0, 1)
  bool tta = false;  // evaluate with test-time augmentation (train::predict_split's `tta`)
  std::string precision = "auto";
  std::string device = "cpu";
  int threads = 0;
  uint64_t seed = 42;
  bool json = false;
};

extern const char* const kFastArch;

// Trains from scratch and evaluates on the test set as it goes; reports the wall time from the
// first step to the end of the first evaluation at or above the target, and the process's age
// then (start-up and data loading included). Returns 0 when the target was reached, 1 otherwise.
int time_to_accuracy_command(const TimeToAccuracyOptions& options);

}  // namespace digitlab::bench
