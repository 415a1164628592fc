// A search's state file, trial metrics, leaderboard and best configuration.
#include "tune/search.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "core/error.h"
#include "core/files.h"
#include "core/json.h"
#include "core/run_files.h"
#include "train/metrics_log.h"
#include "train/observers.h"

namespace digitlab::tune {
namespace {

using nlohmann::json;

constexpr const char* kFormat = "digitlab-search";
constexpr int kVersion = 1;

std::string score_text(const std::optional<double>& v) {
  if (!v) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", *v);
  return buf;
}

// Markdown table cells must not break the row.
std::string cell(std::string s) {
  for (size_t pos = 0; (pos = s.find('|', pos)) != std::string::npos; pos += 2) {
    s.replace(pos, 1, "\\|");
  }
  return s;
}

}  // namespace

std::string state_path(const std::string& dir) { return core::join_path(dir, "search.json"); }

nlohmann::json to_json(const TrialRecord& t) {
  json params = json::object();
  for (const auto& [k, v] : t.params) params[k] = v;
  return {{"id", t.id},
          {"params", params},
          {"bracket", t.bracket},
          {"rung_scores", t.rung_scores},
          {"target_epochs", t.target_epochs},
          {"status", t.status},
          {"epochs", t.epochs},
          {"best_epoch", t.best_epoch},
          {"score", t.score ? json(*t.score) : json(nullptr)},
          {"stopped_early", t.stopped_early},
          {"seconds", t.seconds},
          {"error", t.error},
          {"worker", t.worker}};
}

TrialRecord trial_from_json(const nlohmann::json& t) {
  TrialRecord r;
  r.id = t.at("id").get<std::string>();
  for (auto it = t.at("params").begin(); it != t.at("params").end(); ++it) {
    r.params[it.key()] = *it;
  }
  r.bracket = t.at("bracket").get<int>();
  r.rung_scores = t.at("rung_scores").get<std::vector<double>>();
  r.target_epochs = t.at("target_epochs").get<int>();
  r.status = t.at("status").get<std::string>();
  r.epochs = t.at("epochs").get<int>();
  r.best_epoch = t.at("best_epoch").get<int>();
  if (!t.at("score").is_null()) r.score = t.at("score").get<double>();
  r.stopped_early = t.at("stopped_early").get<bool>();
  r.seconds = t.at("seconds").get<double>();
  if (t.contains("error")) r.error = t.at("error").get<std::string>();
  if (t.contains("worker")) r.worker = t.at("worker").get<int>();
  return r;
}

nlohmann::json to_json(const SearchState& s) {
  json trials = json::array();
  for (const auto& t : s.trials) trials.push_back(to_json(t));
  return {{"format", kFormat},
          {"version", kVersion},
          {"space", tune::to_json(s.space)},
          {"trials", trials}};
}

SearchState state_from_json(const nlohmann::json& j, const std::string& origin) {
  const bool ours = j.is_object() && j.contains("format") && j["format"] == kFormat &&
                    j.contains("version") && j["version"] == kVersion;
  if (!ours) {
    throw core::RuntimeError(origin + ": not a digitlab search state (format " + kFormat +
                             " version " + std::to_string(kVersion) + ")");
  }
  SearchState s;
  try {
    s.space = space_from_json(j.at("space"));
    for (const auto& t : j.at("trials")) s.trials.push_back(trial_from_json(t));
  } catch (const json::exception& e) {
    throw core::RuntimeError(origin + ": malformed (" + core::one_line(e.what()) + ")");
  }
  return s;
}

void save_state(const std::string& dir, const SearchState& s) {
  core::write_file_atomic(state_path(dir), to_json(s).dump(2) + "\n");
}

SearchState load_state(const std::string& dir) {
  const std::string path = state_path(dir);
  if (!core::file_exists(path)) {
    throw core::RuntimeError("--resume: " + dir + " is not a search directory (no search.json)");
  }
  const json j = core::parse_json(core::read_file(path));
  if (j.is_discarded()) throw core::RuntimeError(path + ": not valid JSON");
  return state_from_json(j, path);
}

TrialMetrics read_trial_metrics(const std::string& run_dir, const std::string& objective) {
  TrialMetrics m;
  const std::string path = core::join_path(run_dir, core::run_files::kMetrics);
  if (!core::file_exists(path)) return m;
  for (const auto& e : train::read_metrics_log(core::read_file(path)).epochs) {
    if (e.epoch < 1) continue;
    m.epochs = std::max(m.epochs, e.epoch);
    const std::optional<double>& v = objective == "val_loss" ? e.val_loss : e.val_acc;
    if (v && (!m.score || better(objective, *v, *m.score))) {
      m.score = *v;
      m.best_epoch = e.epoch;
    }
  }
  return m;
}

bool better(const std::string& objective, double a, double b) {
  return objective == "val_loss" ? a < b : a > b;
}

std::vector<const TrialRecord*> ranked(const SearchState& s) {
  std::vector<const TrialRecord*> out;
  for (const auto& t : s.trials) out.push_back(&t);
  const std::string& obj = s.space.tuner.objective;
  std::stable_sort(out.begin(), out.end(), [&](const TrialRecord* a, const TrialRecord* b) {
    if (a->score.has_value() != b->score.has_value()) return a->score.has_value();
    if (a->score && *a->score != *b->score) return better(obj, *a->score, *b->score);
    if (a->score && a->epochs != b->epochs) return a->epochs < b->epochs;
    return a->id < b->id;
  });
  return out;
}

std::string results_summary(const SearchState& s, const std::string& dir, size_t top) {
  const auto order = ranked(s);
  size_t scored = 0;
  for (const auto* t : order) scored += t->score.has_value();
  std::ostringstream out;
  const std::string& obj = s.space.tuner.objective;
  out << "Results summary\nResults in " << dir << "\nShowing " << std::min(top, scored)
      << " best trials\nObjective(name=\"" << obj << "\", direction=\""
      << (obj == "val_loss" ? "min" : "max") << "\")\n";
  for (size_t i = 0; i < order.size() && i < top; ++i) {
    const TrialRecord& t = *order[i];
    if (!t.score) break;
    out << "\nTrial " << t.id.substr(t.id.find('-') + 1) << " summary\nHyperparameters:\n";
    for (const auto& [k, v] : t.params) out << k << ": " << value_text(v) << "\n";
    out << "Score: " << value_text(*t.score) << "\nEpochs: " << t.epochs
        << (t.stopped_early ? " (stopped early)" : "") << "\n";
  }
  return out.str();
}

std::string leaderboard_markdown(const SearchState& s, const std::string& dir) {
  std::ostringstream out;
  const auto& tu = s.space.tuner;
  out << "# Search results: " << dir << "\n\n"
      << "Tuner " << tu.tuner << ", objective " << tu.objective << " ("
      << (tu.objective == "val_loss" ? "lower" : "higher") << " is better), " << s.trials.size()
      << " trials, " << total_epochs(s) << " epochs in all.\n\n";
  std::vector<std::string> names;
  for (const auto& p : s.space.params) names.push_back(p.name);
  out << "| rank | trial |";
  for (const auto& n : names) out << " " << cell(n) << " |";
  out << " " << tu.objective << " | epochs | best epoch | time | status |\n|---:|---|";
  for (size_t i = 0; i < names.size(); ++i) out << "---|";
  out << "---:|---:|---:|---:|---|\n";
  int rank = 0;
  for (const auto* t : ranked(s)) {
    out << "| " << (t->score ? std::to_string(++rank) : "-") << " | " << t->id << " |";
    for (const auto& n : names) {
      auto it = t->params.find(n);
      out << " " << (it == t->params.end() ? "" : cell(value_text(it->second))) << " |";
    }
    std::string status = t->status;
    if (t->stopped_early) status += ", stopped early";
    if (!t->error.empty()) status += ": " + t->error;
    out << " " << score_text(t->score) << " | " << t->epochs << " | " << t->best_epoch << " | "
        << train::format_duration(t->seconds) << " | " << cell(status) << " |\n";
  }
  return out.str();
}

nlohmann::json leaderboard_json(const SearchState& s, const std::string& dir) {
  json trials = json::array();
  for (const auto* t : ranked(s)) {
    json params = json::object();
    for (const auto& [k, v] : t->params) params[k] = v;
    trials.push_back({{"id", t->id},
                      {"run_dir", core::join_path(dir, t->id)},
                      {"params", params},
                      {"score", t->score ? json(*t->score) : json(nullptr)},
                      {"epochs", t->epochs},
                      {"best_epoch", t->best_epoch},
                      {"stopped_early", t->stopped_early},
                      {"seconds", t->seconds},
                      {"status", t->status},
                      {"error", t->error}});
  }
  const auto& tu = s.space.tuner;
  return {{"search", dir},
          {"tuner", tu.tuner},
          {"objective", tu.objective},
          {"direction", tu.objective == "val_loss" ? "min" : "max"},
          {"total_epochs", total_epochs(s)},
          {"trials", trials}};
}

std::string best_config_toml(const SearchState& s, const std::string& dir) {
  const auto order = ranked(s);
  if (order.empty() || !order.front()->score) {
    throw core::RuntimeError(dir + ": no trial finished with a score");
  }
  const TrialRecord& best = *order.front();
  std::map<std::string, json> options = s.space.fixed;
  for (const auto& [k, v] : trial_flags(s.space, best.params)) {
    auto it = best.params.find(k);
    options[k] = it != best.params.end() ? it->second : json(v);
  }
  if (s.space.tuner.tuner == "hyperband" && best.target_epochs > 0) {
    options["epochs"] = best.target_epochs;
  }
  std::ostringstream out;
  out << "# The best trial of the search in " << dir << ": " << best.id << ", "
      << s.space.tuner.objective << " " << value_text(*best.score) << " after " << best.epochs
      << " epochs.\n# Hyperparameters: " << point_text(best.params)
      << "\n# Retrain: digitlab train --config " << core::join_path(dir, "best.toml") << "\n"
      << options_toml(options);
  return out.str();
}

long long total_epochs(const SearchState& s) {
  long long n = 0;
  for (const auto& t : s.trials) n += t.epochs;
  return n;
}

}  // namespace digitlab::tune
