// Tolerant reading of run directories: what can be read is kept, the rest becomes warnings.
#include "report/run.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>

#include "core/error.h"
#include "core/files.h"
#include "core/json.h"
#include "core/run_files.h"
#include "train/metrics_log.h"

namespace digitlab::report {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::optional<double> number(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return std::nullopt;
  const double v = it->get<double>();
  return std::isfinite(v) ? std::optional<double>(v) : std::nullopt;
}

std::string text(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

// One CSV record (RFC 4180 quoting); `ok` is false for an unterminated quote.
std::vector<std::string> split_csv(const std::string& line, bool& ok) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        fields.back() += '"', ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        fields.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else {
      fields.back() += c;
    }
  }
  ok = !quoted;
  return fields;
}

bool parse_int(const std::string& s, int64_t& out) {
  if (s.empty()) return false;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (*end != '\0') return false;
  out = v;
  return true;
}

bool parse_double(const std::string& s, double& out) {
  if (s.empty()) return false;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (*end != '\0' || !std::isfinite(v)) return false;
  out = v;
  return true;
}

// Reads `path` when it exists; a file that exists but cannot be read becomes a warning.
std::optional<std::string> read_if_present(const std::string& path, const std::string& label,
                                           std::vector<std::string>& warnings) {
  if (!core::file_exists(path)) return std::nullopt;
  try {
    return core::read_file(path);
  } catch (const core::Error& e) {
    warnings.push_back(label + ": cannot be read (" + core::one_line(e.what()) + "); left out");
    return std::nullopt;
  }
}

void read_config(RunData& run, const std::string& text_in) {
  json j = core::parse_json(text_in);
  if (j.is_discarded() || !j.is_object()) {
    run.warnings.push_back(
        "config.json: not a valid JSON object; model, options and data set "
        "are unknown");
    return;
  }
  run.has_config = true;
  run.config = j;
  const json options = j.value("options", json::object());
  run.model = text(j, "model");
  if (run.model.empty() && options.is_object()) run.model = text(options, "model");
  run.spec = text(j, "spec");
  if (run.spec.empty() && options.is_object()) run.spec = text(options, "arch");
  run.dataset = text(j, "dataset");
  if (run.dataset.empty() && options.is_object()) run.dataset = text(options, "dataset");
  if (auto p = j.find("parameters"); p != j.end() && p->is_number_integer()) {
    run.parameters = p->get<int64_t>();
  }
}

void read_metrics(RunData& run, const std::string& content) {
  train::MetricsLogRead log = train::read_metrics_log(content);
  run.epochs = std::move(log.epochs);
  run.warnings.insert(run.warnings.end(), log.warnings.begin(), log.warnings.end());
}

std::vector<std::vector<int64_t>> matrix_from_json(const json& j) {
  std::vector<std::vector<int64_t>> m;
  if (!j.is_array()) return {};
  for (const json& row : j) {
    if (!row.is_array() || row.size() != j.size()) return {};
    std::vector<int64_t> r;
    for (const json& v : row) {
      if (!v.is_number_integer() || v.get<int64_t>() < 0) return {};
      r.push_back(v.get<int64_t>());
    }
    m.push_back(std::move(r));
  }
  return m;
}

void read_summary(RunData& run, const std::string& content) {
  json j = core::parse_json(content);
  if (j.is_discarded() || !j.is_object()) {
    run.warnings.push_back(
        "eval/summary.json: not a valid JSON object; evaluation results left out");
    return;
  }
  run.has_summary = true;
  run.summary = j;
  run.test_accuracy = number(j, "accuracy");
  run.test_loss = number(j, "loss");
  if (auto pc = j.find("per_class"); pc != j.end() && pc->is_array()) {
    for (const json& c : *pc) {
      if (!c.is_object()) continue;
      ClassScore s;
      s.cls = int(number(c, "class").value_or(double(run.per_class.size())));
      s.name = text(c, "name");
      if (s.name.empty()) s.name = std::to_string(s.cls);
      s.precision = number(c, "precision").value_or(NAN);
      s.recall = number(c, "recall").value_or(NAN);
      s.f1 = number(c, "f1").value_or(NAN);
      s.support = int64_t(number(c, "support").value_or(0));
      s.roc_auc = number(c, "roc_auc").value_or(NAN);
      s.average_precision = number(c, "average_precision").value_or(NAN);
      run.per_class.push_back(s);
      run.class_names.push_back(s.name);
    }
  }
  if (j.contains("confusion")) run.confusion = matrix_from_json(j["confusion"]);
}

void read_confusion_csv(RunData& run, const std::string& content) {
  const std::vector<std::string> lines = core::split_lines(content);
  std::vector<std::string> names;
  std::vector<std::vector<int64_t>> m;
  std::string problem;
  for (size_t i = 0; i < lines.size() && problem.empty(); ++i) {
    if (core::blank_line(lines[i])) continue;
    bool ok = true;
    std::vector<std::string> f = split_csv(lines[i], ok);
    const std::string where = "line " + std::to_string(i + 1) + ": ";
    if (!ok) {
      problem = where + "unterminated quote";
    } else if (i == 0) {
      names.assign(f.begin() + 1, f.end());
      if (names.empty()) problem = where + "no class columns";
    } else if (f.size() != names.size() + 1) {
      problem = where + std::to_string(f.size()) + " fields, expected " +
                std::to_string(names.size() + 1);
    } else {
      std::vector<int64_t> row;
      for (size_t k = 1; k < f.size() && problem.empty(); ++k) {
        int64_t v = 0;
        if (!parse_int(f[k], v) || v < 0) problem = where + "'" + f[k] + "' is not a count";
        row.push_back(v);
      }
      m.push_back(std::move(row));
    }
  }
  if (problem.empty() && m.size() != names.size()) {
    problem = std::to_string(m.size()) + " rows for " + std::to_string(names.size()) + " classes";
  }
  if (!problem.empty()) {
    run.warnings.push_back("eval/confusion.csv " + problem +
                           (run.confusion.empty() ? "; no confusion matrix"
                                                  : "; the matrix from summary.json is used"));
    return;
  }
  run.confusion = std::move(m);
  if (run.class_names.empty()) run.class_names = names;
}

void read_predictions(RunData& run, const std::string& content) {
  const std::vector<std::string> lines = core::split_lines(content);
  size_t bad = 0, first_bad = 0, columns = 4;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (core::blank_line(lines[i])) continue;
    bool ok = true;
    const std::vector<std::string> f = split_csv(lines[i], ok);
    if (i == 0 && lines[i].rfind("index", 0) == 0) {
      // Columns after the first four are p_0..p_K-1, the probability of every class.
      columns = f.size() >= 6 ? f.size() : 4;
      continue;
    }
    Prediction p;
    int64_t label = 0, predicted = 0;
    ok = ok && f.size() == columns && parse_int(f[0], p.index) && parse_int(f[1], label) &&
         parse_int(f[2], predicted) && parse_double(f[3], p.confidence) && p.index >= 0 &&
         label >= 0 && predicted >= 0 && label < 1000000 && predicted < 1000000;
    for (size_t c = 4; ok && c < f.size(); ++c) {
      double v = 0;
      ok = parse_double(f[c], v);
      p.probabilities.push_back(v);
    }
    if (ok) {
      p.label = int(label), p.predicted = int(predicted);
      run.predictions.push_back(std::move(p));
    } else if (bad++ == 0) {
      first_bad = i + 1;
    }
  }
  run.has_predictions = true;
  run.has_probabilities = columns > 4 && !run.predictions.empty();
  if (bad > 0) {
    run.warnings.push_back(
        "eval/predictions.csv line " + std::to_string(first_bad) + ": not " +
        (columns > 4 ? "index,label,predicted,confidence,p_0..p_" + std::to_string(columns - 5)
                     : std::string("index,label,predicted,confidence")) +
        "; " + std::to_string(bad) + (bad == 1 ? " line" : " lines") + " skipped");
  }
}

std::string last_component(const std::string& dir) {
  fs::path p = fs::path(dir).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  const std::string name = p.filename().string();
  return name.empty() || name == "." ? dir : name;
}

}  // namespace

RunData read_run(const std::string& run_dir) {
  std::error_code ec;
  if (!fs::exists(run_dir, ec)) throw core::RuntimeError(run_dir + ": no such run directory");
  if (!fs::is_directory(run_dir, ec)) throw core::RuntimeError(run_dir + ": not a directory");
  const std::string config_path = core::join_path(run_dir, core::run_files::kConfig);
  const std::string metrics_path = core::join_path(run_dir, core::run_files::kMetrics);
  if (!core::file_exists(config_path) && !core::file_exists(metrics_path)) {
    throw core::RuntimeError(
        run_dir + ": not a run directory (it has neither config.json nor metrics.jsonl)");
  }
  RunData run;
  run.dir = run_dir;
  run.name = last_component(run_dir);
  if (auto t = read_if_present(config_path, core::run_files::kConfig, run.warnings)) {
    read_config(run, *t);
  } else if (!core::file_exists(config_path)) {
    run.warnings.push_back("config.json: missing; model, options and data set are unknown");
  }
  if (auto t = read_if_present(metrics_path, core::run_files::kMetrics, run.warnings)) {
    run.has_metrics = true;
    read_metrics(run, *t);
  } else if (!core::file_exists(metrics_path)) {
    run.warnings.push_back("metrics.jsonl: missing; no curves or timings");
  }
  namespace files = core::run_files;
  if (auto t = read_if_present(core::join_path(run_dir, files::kEvalSummary), files::kEvalSummary,
                               run.warnings)) {
    read_summary(run, *t);
  }
  if (auto t = read_if_present(core::join_path(run_dir, files::kEvalConfusion),
                               files::kEvalConfusion, run.warnings)) {
    read_confusion_csv(run, *t);
  }
  if (auto t = read_if_present(core::join_path(run_dir, files::kEvalPredictions),
                               files::kEvalPredictions, run.warnings)) {
    read_predictions(run, *t);
  }
  const std::string saliency = core::join_path(run_dir, files::kEvalSaliency);
  if (auto t = read_if_present(saliency, files::kEvalSaliency, run.warnings)) {
    if (t->size() > 8 && t->compare(1, 3, "PNG") == 0) {
      run.saliency_png = *t;
    } else {
      run.warnings.push_back(std::string(files::kEvalSaliency) + ": not a PNG image; left out");
    }
  }
  return run;
}

const EpochMetrics* best_val_epoch(const RunData& run) {
  const EpochMetrics* best = nullptr;
  for (const EpochMetrics& m : run.epochs) {
    if (m.val_acc && (!best || *m.val_acc > *best->val_acc)) best = &m;
  }
  return best;
}

std::optional<double> final_test_accuracy(const RunData& run) {
  if (run.test_accuracy) return run.test_accuracy;
  for (auto it = run.epochs.rbegin(); it != run.epochs.rend(); ++it) {
    if (it->test_acc) return it->test_acc;
  }
  return std::nullopt;
}

double total_seconds(const RunData& run) {
  double s = 0;
  for (const EpochMetrics& m : run.epochs) s += m.seconds.value_or(0);
  return s;
}

std::optional<double> mean_images_per_second(const RunData& run) {
  double images = 0, seconds = 0;
  for (const EpochMetrics& m : run.epochs) {
    if (!m.seconds || !m.images_per_second) continue;
    images += *m.seconds * *m.images_per_second;
    seconds += *m.seconds;
  }
  if (seconds <= 0) return std::nullopt;
  return images / seconds;
}

}  // namespace digitlab::report
