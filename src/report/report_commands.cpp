// The report and compare commands, and the report written after train and evaluate.
#include "report/report_commands.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/files.h"
#include "core/run_files.h"
#include "report/compare.h"
#include "report/report.h"

namespace digitlab::report {
namespace {

// A directory of runs (a search's trials) stands for its runs, in name order.
std::vector<std::string> expand_runs(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (const auto& dir : args) {
    if (!core::dir_exists(dir) ||
        core::file_exists(core::join_path(dir, core::run_files::kConfig))) {
      out.push_back(dir);
      continue;
    }
    std::vector<std::string> runs;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
      const std::string sub = e.path().string();
      if (e.is_directory() && core::file_exists(core::join_path(sub, core::run_files::kConfig))) {
        runs.push_back(sub);
      }
    }
    std::sort(runs.begin(), runs.end());
    if (runs.empty()) runs.push_back(dir);  // read_run names what is missing
    out.insert(out.end(), runs.begin(), runs.end());
  }
  return out;
}

}  // namespace

int report_command(const ReportCommandOptions& o) {
  ReportOptions ro;
  ro.data_root = o.data_root;
  const ReportResult r = write_report(o.run_dir, ro);
  for (const auto& w : r.warnings) std::cerr << "warning: " << w << "\n";
  std::cout << r.html_path << "\n";
  for (const auto& p : r.png_paths) std::cout << p << "\n";
  return 0;
}

int compare_command(const CompareOptions& o) {
  if (o.runs.empty()) throw core::UsageError("compare: give one or more run directories");
  std::vector<RunData> runs;
  std::vector<CompareRow> rows;
  for (const auto& dir : expand_runs(o.runs)) {
    runs.push_back(read_run(dir));
    for (const auto& w : runs.back().warnings) std::cerr << "warning: " << dir << ": " << w << "\n";
    rows.push_back(compare_row(runs.back()));
  }
  write_compare_page(o.out, runs);
  if (o.json) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& r : rows) {
      auto opt = [](const auto& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); };
      j.push_back({{"run", r.run},
                   {"model", r.model},
                   {"parameters", opt(r.parameters)},
                   {"best_val_acc", opt(r.best_val_acc)},
                   {"best_epoch", r.best_epoch},
                   {"test_acc", opt(r.test_acc)},
                   {"epochs", r.epochs},
                   {"seconds", r.seconds}});
    }
    std::cout << nlohmann::json{{"runs", j}, {"page", o.out}}.dump(2) << "\n";
  } else {
    std::cout << format_compare_table(rows) << "page: " << o.out << "\n";
  }
  return 0;
}

void report_after(const std::string& run_dir, const std::string& data_root) {
  try {
    ReportOptions ro;
    ro.data_root = data_root;
    const ReportResult r = write_report(run_dir, ro);
    for (const auto& w : r.warnings) std::cerr << "warning: " << w << "\n";
    std::cerr << "report: " << r.html_path << "\n";
  } catch (const core::Error& e) {
    std::cerr << "warning: no report written: " << e.what() << "\n";
  }
}

}  // namespace digitlab::report
