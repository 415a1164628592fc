// `digitlab tune`: plans trials, runs them as `digitlab train` processes, ranks them.
#include "tune/tune.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/files.h"
#include "core/interrupt.h"
#include "core/json.h"
#include "core/run_files.h"
#include "train/observers.h"
#include "tune/hyperband.h"
#include "tune/runner.h"
#include "tune/search.h"
#include "tune/space.h"
#include "tune/sync.h"

namespace digitlab::tune {
namespace {

using nlohmann::json;

constexpr int kDefaultRandomTrials = 10;  // Keras Tuner's max_trials

std::string default_out() {
  char buf[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", std::localtime(&now));
  return std::string("runs/tune-") + buf;
}

std::string trial_id(size_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "trial-%04zu", i);
  return buf;
}

// The space from the file and flags, checked; the tuner settings resolved.
Space build_space(const TuneOptions& o) {
  Space space;
  if (!o.space_file.empty()) {
    space = parse_space_text(core::read_file(o.space_file), o.space_file);
  }
  for (const auto& f : o.fixed) {
    const auto [key, value] = parse_fixed_shorthand(f);
    set_fixed(space, key, value);
  }
  for (const auto& p : o.params) add_param(space, parse_param_shorthand(p));
  TunerSettings& t = space.tuner;
  if (!o.tuner.empty()) {
    if (o.tuner != "grid" && o.tuner != "random" && o.tuner != "hyperband") {
      throw core::UsageError("--tuner: unknown tuner '" + o.tuner +
                             "' (grid, random or hyperband)");
    }
    t.tuner = o.tuner;
  }
  if (!o.objective.empty()) {
    t.objective = o.objective == "val_accuracy" ? "val_acc" : o.objective;
    if (t.objective != "val_acc" && t.objective != "val_loss") {
      throw core::UsageError("--objective: unknown objective '" + o.objective +
                             "' (val_acc or val_loss)");
    }
  }
  auto range = [](int v, int lo, int hi, const char* flag) {
    if (v < lo || v > hi) {
      throw core::UsageError(std::string(flag) + ": must be " + std::to_string(lo) + " to " +
                             std::to_string(hi));
    }
    return v;
  };
  if (o.trials >= 0) t.trials = range(o.trials, 1, 100000, "--trials");
  if (o.max_epochs >= 0) t.max_epochs = range(o.max_epochs, 1, 100000, "--max-epochs");
  if (o.factor >= 0) t.factor = range(o.factor, 2, 100, "--factor");
  if (o.iterations >= 0) t.iterations = range(o.iterations, 1, 100, "--iterations");
  if (o.seed >= 0) t.seed = uint64_t(o.seed);
  if (t.tuner == "hyperband" && t.max_epochs == 0) {
    if (auto it = space.fixed.find("epochs"); it != space.fixed.end()) {
      if (!it->second.is_number_integer() || it->second.get<long long>() < 1 ||
          it->second.get<long long>() > 100000) {
        throw core::UsageError("train.epochs: expected an integer from 1 to 100000");
      }
      t.max_epochs = int(it->second.get<long long>());
    }
  }
  if (t.tuner == "hyperband") space.fixed.erase("epochs");  // each rung sets it
  space.train_toml = options_toml(space.fixed);
  check_space(space);
  return space;
}

// The trials of a new search, every one checked the way `train` will check it.
std::vector<TrialRecord> plan_trials(const Space& space, const TuneOptions& o) {
  const TunerSettings& t = space.tuner;
  std::vector<Point> points;
  std::vector<int> brackets;
  std::mt19937_64 rng(t.seed);
  if (t.tuner == "grid") {
    points = grid_points(space);
    if (t.trials > 0 && size_t(t.trials) < points.size()) points.resize(size_t(t.trials));
  } else if (t.tuner == "random") {
    const int want = t.trials > 0 ? t.trials : kDefaultRandomTrials;
    std::set<std::string> seen;
    // Like Keras Tuner, a point already tried is drawn again; a small space runs out.
    for (int tries = 0; int(points.size()) < want && tries < want * 100; ++tries) {
      Point p = sample_point(space, rng);
      if (seen.insert(point_text(p)).second) points.push_back(std::move(p));
    }
  } else {
    const auto bs = hyperband_brackets(t.max_epochs, t.factor);
    for (int it = 0; it < t.iterations; ++it) {
      for (size_t b = 0; b < bs.size(); ++b) {
        for (int c = 0; c < bs[b].configs; ++c) {
          points.push_back(sample_point(space, rng));
          brackets.push_back(int(it * bs.size() + b));
        }
      }
    }
  }
  std::vector<TrialRecord> trials;
  for (size_t i = 0; i < points.size(); ++i) {
    check_trial(space, points[i], o.env);
    TrialRecord r;
    r.id = trial_id(i);
    r.params = points[i];
    if (!brackets.empty()) r.bracket = brackets[i];
    trials.push_back(std::move(r));
  }
  return trials;
}

class Search {
 public:
  Search(std::string dir, SearchState state, const TuneOptions& o, int local_ranks)
      : dir_(std::move(dir)), state_(std::move(state)), o_(o), sync_(o.sync) {
    parallel_ = std::max(1, o.parallel);
    const int cores = std::max(1, int(std::thread::hardware_concurrency()) / local_ranks);
    threads_ = o.threads > 0 ? o.threads : std::max(1, cores / parallel_);
  }

  // Runs (or resumes) every trial. Returns the signal that stopped it, or 0.
  int run() {
    const auto& t = state_.space.tuner;
    if (t.tuner != "hyperband") {
      std::vector<std::pair<size_t, int>> steps;
      for (size_t i = 0; i < state_.trials.size(); ++i) {
        const auto& tr = state_.trials[i];
        if (tr.status == "pending" || tr.status == "running") steps.push_back({i, 0});
      }
      return run_steps(steps);
    }
    const auto bs = hyperband_brackets(t.max_epochs, t.factor);
    for (int b = 0; b < int(bs.size()) * t.iterations; ++b) {
      const Bracket& bracket = bs[size_t(b) % bs.size()];
      for (size_t rung = 0; rung < bracket.rungs.size(); ++rung) {
        const auto members = rung_members(b, rung, bracket.rungs[rung].trials);
        std::vector<std::pair<size_t, int>> steps;
        for (size_t i : members) {
          TrialRecord& tr = state_.trials[i];
          if (tr.rung_scores.size() > rung) continue;  // scored in this rung already
          if (tr.stopped_early && tr.score) {
            // Early stopping ended it: it competes with the score it has, untrained.
            tr.rung_scores.push_back(*tr.score);
            continue;
          }
          if (tr.status == "failed") continue;
          steps.push_back({i, bracket.rungs[rung].epochs});
        }
        save();
        if (const int sig = run_steps(steps)) return sig;
        for (size_t i : members) {
          TrialRecord& tr = state_.trials[i];
          if (tr.rung_scores.size() == rung && tr.status == "done" && tr.score) {
            tr.rung_scores.push_back(*tr.score);
          }
        }
        save();
      }
    }
    return 0;
  }

  const SearchState& state() const { return state_; }
  bool lead() const { return !sync_ || sync_->rank() == 0; }
  void save() const {
    if (lead()) save_state(dir_, state_);
  }

 private:
  // Hyperband: rung 0 is every trial of bracket b; rung r the best `keep` of rung r - 1.
  std::vector<size_t> rung_members(int b, size_t rung, int keep) const {
    std::vector<size_t> members;
    for (size_t i = 0; i < state_.trials.size(); ++i) {
      const auto& tr = state_.trials[i];
      if (tr.bracket == b && (rung == 0 || tr.rung_scores.size() >= rung)) members.push_back(i);
    }
    if (rung == 0) return members;
    const std::string& obj = state_.space.tuner.objective;
    std::stable_sort(members.begin(), members.end(), [&](size_t a, size_t c) {
      const double sa = state_.trials[a].rung_scores[rung - 1];
      const double sc = state_.trials[c].rung_scores[rung - 1];
      if (sa != sc) return better(obj, sa, sc);
      return a < c;
    });
    if (int(members.size()) > keep) members.resize(size_t(keep));
    return members;
  }

  std::string run_dir(const TrialRecord& t) const { return core::join_path(dir_, t.id); }

  std::vector<std::string> train_args(const TrialRecord& t, int epochs) const {
    const std::string run = run_dir(t);
    std::vector<std::string> args = {"train"};
    const bool own_threads =
        state_.space.fixed.count("threads") > 0 || t.params.count("threads") > 0;
    if (core::file_exists(core::join_path(run, core::run_files::kLastCheckpoint))) {
      args.insert(args.end(), {"--resume", run});
      if (epochs > 0) args.insert(args.end(), {"--epochs", std::to_string(epochs)});
      if (!own_threads) args.insert(args.end(), {"--threads", std::to_string(threads_)});
      return args;
    }
    args.insert(args.end(),
                {"--config", core::join_path(dir_, "train.toml"), "--out", run, "--overwrite"});
    for (const auto& [k, v] : trial_flags(state_.space, t.params)) {
      std::string flag = "--" + k;
      std::replace(flag.begin(), flag.end(), '_', '-');
      args.insert(args.end(), {flag, v});
    }
    if (epochs > 0) args.insert(args.end(), {"--epochs", std::to_string(epochs)});
    if (!own_threads) args.insert(args.end(), {"--threads", std::to_string(threads_)});
    return args;
  }

  // Epochs a run is to reach: `epochs`, or the run's own (its config.json).
  int target(const TrialRecord& t, int epochs) const {
    if (epochs > 0) return epochs;
    const json c =
        core::parse_json(core::read_file(core::join_path(run_dir(t), core::run_files::kConfig)));
    if (c.is_discarded()) return 0;
    return c.value("/options/epochs"_json_pointer, 0);
  }

  void record(TrialRecord& t, int epochs, int code, double seconds) {
    const TrialMetrics m = read_trial_metrics(run_dir(t), state_.space.tuner.objective);
    t.epochs = m.epochs;
    t.best_epoch = m.best_epoch;
    t.score = m.score;
    t.seconds += seconds;
    t.target_epochs = epochs;
    if (code == 0) {
      t.status = "done";
      const int goal = target(t, epochs);
      t.stopped_early = goal > 0 && m.epochs < goal;
    } else if (code == 130 || code == 143) {
      t.status = "running";  // saved on the signal; --resume continues it
    } else {
      t.status = "failed";
      t.error = last_line(core::join_path(core::join_path(dir_, "logs"), t.id + ".log"));
    }
  }

  static std::string last_line(const std::string& path) {
    std::string text;
    try {
      text = core::read_file(path);
    } catch (const core::Error&) {
      return "exit without a log";
    }
    std::istringstream in(text);
    std::string line, last;
    while (std::getline(in, line)) {
      if (line.find_first_not_of(" \t\r") != std::string::npos) last = line;
    }
    if (last.size() > 300) last = last.substr(0, 300) + "...";
    return last;
  }

  // Trains each (trial, epochs) step; a step whose run already reached its epochs (the search
  // died after the run ended) is recorded without training.
  int run_steps(const std::vector<std::pair<size_t, int>>& all_steps) {
    // In a distributed search each rank takes every size-th step of the round.
    std::vector<std::pair<size_t, int>> steps;
    for (size_t k = 0; k < all_steps.size(); ++k) {
      if (!sync_ || int(k % size_t(sync_->size())) == sync_->rank()) steps.push_back(all_steps[k]);
    }
    std::vector<Job> jobs;
    std::vector<int> epochs_of(state_.trials.size(), 0);
    for (const auto& [i, epochs] : steps) {
      if (sync_) state_.trials[i].worker = sync_->rank();
      TrialRecord& t = state_.trials[i];
      epochs_of[i] = epochs;
      const std::string run = run_dir(t);
      if (core::file_exists(core::join_path(run, core::run_files::kLastCheckpoint))) {
        const int goal = target(t, epochs);
        if (goal > 0 && read_trial_metrics(run, state_.space.tuner.objective).epochs >= goal) {
          record(t, epochs, 0, 0);
          continue;
        }
      }
      Job job;
      job.index = i;
      job.args = train_args(t, epochs);
      job.log_path = core::join_path(core::join_path(dir_, "logs"), t.id + ".log");
      jobs.push_back(std::move(job));
    }
    save();
    auto on_start = [&](const Job& job) {
      TrialRecord& t = state_.trials[job.index];
      t.status = "running";
      save();
      std::cout << "start " << t.id << " (" << ++started_ << "): " << point_text(t.params)
                << (epochs_of[job.index] > 0
                        ? ", " + std::to_string(epochs_of[job.index]) + " epochs"
                        : "")
                << std::endl;
    };
    auto on_end = [&](const Job& job, int code, double seconds) {
      TrialRecord& t = state_.trials[job.index];
      record(t, epochs_of[job.index], code, seconds);
      save();
      print_end(t, code);
    };
    const int sig = run_jobs(o_.program, jobs, parallel_, on_start, on_end);
    return sync_ ? share_round(steps, sig) : sig;
  }

  // Every rank sends the trials it ran and whether it was stopped; every rank merges them, so
  // all hold the same state for the next round. Returns a stop signal if any rank had one.
  int share_round(const std::vector<std::pair<size_t, int>>& mine, int sig) {
    json out = {{"signal", sig}, {"trials", json::object()}};
    for (const auto& [i, epochs] : mine)
      out["trials"][std::to_string(i)] = to_json(state_.trials[i]);
    int any = 0;
    for (const auto& text : sync_->exchange(out.dump())) {
      const json in = core::parse_json(text);
      if (in.is_discarded()) throw core::RuntimeError("distributed search: a malformed round");
      any = std::max(any, in.value("signal", 0));
      for (auto it = in["trials"].begin(); it != in["trials"].end(); ++it) {
        const size_t i = std::stoul(it.key());
        if (i < state_.trials.size()) state_.trials[i] = trial_from_json(*it);
      }
    }
    save();
    return sig ? sig : any;
  }

  void print_end(const TrialRecord& t, int code) const {
    const std::string& obj = state_.space.tuner.objective;
    std::ostringstream line;
    line << "end   " << t.id << ": ";
    if (t.status == "done" && t.score) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.4f", *t.score);
      line << obj << " " << buf << " (epoch " << t.best_epoch << " of " << t.epochs
           << (t.stopped_early ? ", stopped early" : "") << ", "
           << train::format_duration(t.seconds) << ")";
    } else if (t.status == "running") {
      line << "interrupted (exit " << code << "); saved for --resume";
    } else {
      line << "failed (exit " << code << "): " << t.error;
    }
    const auto order = ranked(state_);
    if (!order.empty() && order.front()->score) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.4f", *order.front()->score);
      line << "; best so far " << buf << " (" << order.front()->id << ")";
    }
    std::cout << line.str() << std::endl;
  }

  std::string dir_;
  SearchState state_;
  const TuneOptions& o_;
  Sync* sync_ = nullptr;
  int parallel_ = 1, threads_ = 1;
  int started_ = 0;
};

void print_space(const SearchState& s) {
  const auto& t = s.space.tuner;
  std::cout << "Search space summary\nDefault search space size: " << s.space.params.size() << "\n";
  for (const auto& p : s.space.params) std::cout << describe(p) << "\n";
  std::cout << "Tuner " << t.tuner << ", objective " << t.objective << ", " << s.trials.size()
            << " trials";
  if (t.tuner == "hyperband") {
    const auto bs = hyperband_brackets(t.max_epochs, t.factor);
    std::cout << " in " << bs.size() * size_t(t.iterations) << " brackets (max_epochs "
              << t.max_epochs << ", factor " << t.factor << ", iterations " << t.iterations
              << "; at most " << hyperband_epochs(bs) * t.iterations << " epochs)";
  }
  std::cout << "\n" << std::flush;
}

}  // namespace

int tune_command(const TuneOptions& o) {
  if (o.program.empty()) throw core::RuntimeError("tune: the digitlab program was not found");
  if (o.parallel < 1 || o.parallel > 64) throw core::UsageError("--parallel: must be 1 to 64");
  if (o.threads < 0 || o.threads > 1024) throw core::UsageError("--threads: must be 0 to 1024");
  const bool lead = !o.sync || o.sync->rank() == 0;
  std::string dir;
  SearchState state;
  if (!o.resume.empty()) {
    if (o.resume_flags_given || !o.space_file.empty() || !o.params.empty() || !o.fixed.empty()) {
      throw core::UsageError(
          "--resume: the search's own space and settings are used; only --parallel and "
          "--threads may be given");
    }
    dir = o.resume;
    state = load_state(dir);
    if (lead) std::cout << "resuming the search in " << dir << "\n";
  } else {
    if (o.space_file.empty() && o.params.empty()) {
      throw core::UsageError("tune: give a search space (--space FILE or --param NAME=...)");
    }
    dir = o.out.empty() ? default_out() : o.out;
    // Every rank plans the same search; rank 0's directory name is the one (the clocks differ).
    if (o.sync) dir = o.sync->exchange(dir).at(0);
    if (core::file_exists(state_path(dir))) {
      throw core::UsageError("--out: " + dir +
                             " already holds a search; continue it with --resume or choose "
                             "another directory");
    }
    state.space = build_space(o);
    state.trials = plan_trials(state.space, o);
    if (state.trials.empty()) throw core::UsageError("search space: no trials to run");
    // Every rank has checked the same plan; only now does rank 0 write.
    if (o.sync) o.sync->exchange("planned");
    if (lead) {
      core::make_dirs(core::join_path(dir, "logs"));
      core::write_file_atomic(core::join_path(dir, "train.toml"),
                              "# Fixed options of every trial (the search space's [train]).\n" +
                                  state.space.train_toml);
      save_state(dir, state);
    }
  }
  if (lead) {
    core::make_dirs(core::join_path(dir, "logs"));
    if (!core::file_exists(core::join_path(dir, "train.toml"))) {
      core::write_file_atomic(core::join_path(dir, "train.toml"), state.space.train_toml);
    }
    print_space(state);
  }
  if (o.sync) o.sync->exchange("ready");  // the directory exists for every rank

  core::InterruptGuard interrupts;  // trials save on Ctrl-C/SIGTERM; the search records them
  const auto start = std::chrono::steady_clock::now();
  Search search(dir, std::move(state), o, std::max(1, o.local_ranks));
  const int sig = search.run();
  search.save();
  const SearchState& done = search.state();
  if (!lead) {
    if (sig) {
      throw core::Interrupted(sig, std::string(sig == SIGINT ? "interrupted" : "terminated") +
                                       "; rank 0 records the search");
    }
    return 0;
  }
  core::write_file_atomic(core::join_path(dir, "leaderboard.md"), leaderboard_markdown(done, dir));
  core::write_file_atomic(core::join_path(dir, "leaderboard.json"),
                          leaderboard_json(done, dir).dump(2) + "\n");
  size_t finished = 0, failed = 0;
  for (const auto& t : done.trials) {
    finished += t.status == "done";
    failed += t.status == "failed";
  }
  if (sig) {
    throw core::Interrupted(sig, std::string(sig == SIGINT ? "interrupted" : "terminated") +
                                     " with " + std::to_string(finished) + " of " +
                                     std::to_string(done.trials.size()) +
                                     " trials done; continue with: digitlab tune --resume " + dir);
  }
  std::cout << "\n" << results_summary(done, dir);
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "\n"
            << done.trials.size() << " trials (" << failed << " failed), " << total_epochs(done)
            << " epochs in all, " << train::format_duration(secs) << "\n";
  if (finished == 0) {
    throw core::RuntimeError("every trial failed; see " + core::join_path(dir, "logs"));
  }
  core::write_file_atomic(core::join_path(dir, "best.toml"), best_config_toml(done, dir));
  std::cout << "leaderboard: " << core::join_path(dir, "leaderboard.md")
            << "\nbest config: " << core::join_path(dir, "best.toml")
            << " (digitlab train --config " << core::join_path(dir, "best.toml") << ")\n";
  return 0;
}

}  // namespace digitlab::tune
