// `digitlab reproduce TABLE`: re-runs a study's result table and sets ours beside the published.
#pragma once

#include <cstdint>
#include <string>

namespace digitlab::reproduce {

struct ReproduceOptions {
  std::string table;  // a table id or "all"
  bool quick =
      false;        // 1 epoch on 3,000 training images per row: checks the machinery, not results
  std::string out;  // default runs/reproduce-<table>[-quick]
  std::string data_root = "data";
  int threads = 0;
  uint64_t seed = 42;
  int seeds = 1;  // each row trained at seed, seed+1, ...; the median run by test error reported
};

// Trains every row of the table(s) with its protocol, evaluates each on the test set and writes
// OUT/results.md and OUT/results.json (rewritten after every row), each row's run directory under
// OUT/<table>/<model> (OUT/<table>/<model>/seed-S when seeds > 1). Requires seeds >= 1. Returns the
// exit code; throws core::Error for bad options or data.
int reproduce_command(const ReproduceOptions& options);

}  // namespace digitlab::reproduce
