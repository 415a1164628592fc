// A search's state on disk, trial results read from run directories, the leaderboard; no torch.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tune/space.h"

namespace digitlab::tune {

// One trial: a point of the space and what its run directory holds so far.
struct TrialRecord {
  std::string id;  // "trial-0003", also its run directory's name
  Point params;
  int bracket = -1;                 // hyperband: index into the search's brackets
  std::vector<double> rung_scores;  // hyperband: the objective after each rung it reached
  int target_epochs = 0;            // epochs of its latest step (0: the run's own --epochs)
  std::string status = "pending";   // pending, running, done or failed
  int epochs = 0;                   // epochs trained
  int best_epoch = 0;
  std::optional<double> score;  // best objective over its epochs
  bool stopped_early = false;
  double seconds = 0;  // wall time of its train processes
  std::string error;   // failed: the last line the run printed
  int worker = -1;     // the rank that ran it in a distributed search (-1: not distributed)
};

// One trial as JSON and back (json exceptions propagate; state_from_json turns them into
// core::RuntimeError).
nlohmann::json to_json(const TrialRecord& t);
TrialRecord trial_from_json(const nlohmann::json& j);

struct SearchState {
  Space space;
  std::vector<TrialRecord> trials;
};

// The state file's path in a search directory.
std::string state_path(const std::string& dir);

nlohmann::json to_json(const SearchState& s);
// Throws core::RuntimeError naming `origin` for a document this version did not write.
SearchState state_from_json(const nlohmann::json& j, const std::string& origin);

// Writes DIR/search.json atomically.
void save_state(const std::string& dir, const SearchState& s);
// Reads DIR/search.json. Throws core::RuntimeError when DIR holds no search.
SearchState load_state(const std::string& dir);

// What a trial's metrics.jsonl says: epochs trained, best objective and its epoch.
struct TrialMetrics {
  int epochs = 0;
  int best_epoch = 0;
  std::optional<double> score;
};
// Reads `run_dir`/metrics.jsonl; lines that do not parse are skipped (a run killed mid-write).
// An absent file gives zero epochs.
TrialMetrics read_trial_metrics(const std::string& run_dir, const std::string& objective);

// True when `a` is a better objective value than `b`.
bool better(const std::string& objective, double a, double b);

// Trials with a score, best first (ties: fewer epochs, then id); then the rest by id.
std::vector<const TrialRecord*> ranked(const SearchState& s);

// Keras Tuner's results summary ("Results summary / Results in DIR / Showing N best trials /
// Objective(...)", then each trial's hyperparameters and score), with each trial's epochs.
std::string results_summary(const SearchState& s, const std::string& dir, size_t top = 10);

// The leaderboard as a Markdown table (every trial) and as JSON.
std::string leaderboard_markdown(const SearchState& s, const std::string& dir);
nlohmann::json leaderboard_json(const SearchState& s, const std::string& dir);

// TOML that `digitlab train --config` retrains the best trial from: the fixed options with its
// hyperparameters filled in (and, under hyperband, the epochs it was trained to). Throws
// core::RuntimeError when no trial has a score.
std::string best_config_toml(const SearchState& s, const std::string& dir);

// Epochs trained by all trials together.
long long total_epochs(const SearchState& s);

}  // namespace digitlab::tune
