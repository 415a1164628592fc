// The one reader of a run's metrics.jsonl: per-epoch metrics, tolerant of damaged lines; no torch.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace digitlab::train {

// One epoch's line of metrics.jsonl. Values that are absent, null or not finite numbers stay
// empty.
struct EpochMetrics {
  int epoch = 0;
  std::optional<double> train_loss, train_acc, val_loss, val_acc, test_loss, test_acc;
  std::optional<double> lr, seconds, images_per_second;
};

struct MetricsLogRead {
  std::vector<EpochMetrics> epochs;   // sorted by epoch, one entry per epoch (the later wins)
  std::vector<std::string> warnings;  // one line each: "metrics.jsonl line 7: ...; skipped"
};

// Parses metrics.jsonl text. Requires nothing (any bytes). Guarantees: never throws for bad
// content; per-step entries (a "step" without "train_loss") are left out; a line that is not a
// JSON object with a whole, non-negative "epoch" is skipped with a warning, and a cut-off last
// line says where the curves stop.
MetricsLogRead read_metrics_log(const std::string& text);

}  // namespace digitlab::train
