// Entry points of `digitlab report`, `digitlab compare`, and of train/evaluate followed by a
// report.
#pragma once

#include <string>
#include <vector>

#include "train/options.h"

namespace digitlab::train {
class Collective;
}

namespace digitlab::report {

struct ReportCommandOptions {
  std::string run_dir;
  std::string data_root = "data";
};

// `digitlab report RUN_DIR`: writes RUN_DIR/report/ (see write_report), prints the page's path
// on stdout and each warning as one "warning: ..." line on stderr. Returns 0 when a report was
// written, even from a partly unreadable run; throws core::RuntimeError when RUN_DIR is not a run.
int report_command(const ReportCommandOptions& options);

struct CompareOptions {
  std::vector<std::string> runs;
  std::string out = "compare.html";
  bool json = false;  // the rows as one JSON document on stdout instead of the table
};

// `digitlab compare RUN_DIR...`: prints the table (model, parameters, best validation accuracy,
// test accuracy, epochs, time) and writes the overlay page to options.out. Requires at least one
// run; throws core::UsageError otherwise and core::RuntimeError for a directory that is no run.
int compare_command(const CompareOptions& options);

// `digitlab train`: trains (train::train_command), then writes the run's report. A report that
// cannot be written is a warning: the trained run stands. Returns the exit code.
// With a data-parallel `group`, only rank 0 writes the report.
int train_command(const train::TrainOptions& options, train::Collective* group = nullptr);

// `digitlab evaluate`: evaluates (train::evaluate_command); when the target is a run directory
// and eval/ files were written, rewrites the run's report with them (messages on stderr, so
// --json keeps stdout to one document). Returns the exit code.
int evaluate_command(const train::EvalOptions& options);

}  // namespace digitlab::report
