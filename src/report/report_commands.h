// Entry points of `digitlab report` and `digitlab compare`, and the report written after a
// training or an evaluation.
#pragma once

#include <string>
#include <vector>

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

// Writes RUN_DIR/report/ after a command that changed the run (train, evaluate): the report's
// path on stderr; a report that cannot be written is one warning line on stderr, since the
// caller's work already stands. Never throws core::Error.
void report_after(const std::string& run_dir, const std::string& data_root);

}  // namespace digitlab::report
