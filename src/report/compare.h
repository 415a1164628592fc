// `digitlab compare`: a table of runs side by side and a page overlaying their curves.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "report/run.h"

namespace digitlab::report {

struct CompareRow {
  std::string run;  // the run directory as given
  std::string model;
  std::optional<int64_t> parameters;
  std::optional<double> best_val_acc;
  int best_epoch = 0;              // epoch of best_val_acc; 0 when there is none
  std::optional<double> test_acc;  // eval/summary.json, else the last test_acc logged
  int epochs = 0;                  // last epoch logged
  double seconds = 0;              // training time summed over the logged epochs
};

// The row of one run already read.
CompareRow compare_row(const RunData& run);

// Reads each run (read_run) and returns one row per run, in the order given. Requires every
// entry to be a run directory: the first that is not throws its core::RuntimeError. The runs'
// warnings, prefixed with the run directory, are appended to `warnings` when it is given.
std::vector<CompareRow> compare_runs(const std::vector<std::string>& run_dirs,
                                     std::vector<std::string>* warnings = nullptr);

// The rows as a plain-text table for the console: a header line, then one line per run, columns
// padded to line up (text left, numbers right), blanks where a value is unknown. Ends in '\n'.
std::string format_compare_table(const std::vector<CompareRow>& rows);

// Writes a self-contained HTML page to `out_path` (temporary name, then rename): the validation
// accuracy (svg#compare-accuracy-chart) and validation loss (svg#compare-loss-chart) of every run
// overlaid, one colour per run with a legend, and the comparison table (table#compare-table).
// Throws core::RuntimeError naming out_path when it cannot be written.
void write_compare_page(const std::string& out_path, const std::vector<RunData>& runs);

}  // namespace digitlab::report
