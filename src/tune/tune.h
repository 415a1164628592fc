// `digitlab tune`: grid, random and Hyperband search, each trial a `digitlab train` run; no torch.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace digitlab::tune {

class Sync;

struct TuneOptions {
  std::string space_file;           // TOML search space; may be empty when params are given
  std::vector<std::string> params;  // --param shorthand, added to (or replacing) the file's
  std::vector<std::string> fixed;   // --set KEY=VALUE fixed train options
  // Tuner settings from flags; empty or negative: the file's, or the defaults.
  std::string tuner, objective;
  int trials = -1, max_epochs = -1, factor = -1, iterations = -1;
  long long seed = -1;
  int parallel = 1;    // trials at once
  int threads = 0;     // compute threads per trial; 0: the cores divided among parallel trials
  std::string out;     // search directory (default runs/tune-<time>)
  std::string resume;  // search directory to continue
  bool resume_flags_given = false;  // a flag besides --parallel/--threads came with --resume
  std::string program;              // the digitlab executable that trains each trial
  // DIGITLAB_* values of train options in the environment: the trials see them too, so
  // checking a trial's options needs them.
  std::map<std::string, std::string> env;
  // A distributed search (tune under `digitlab launch`): the ranks split the trials of every
  // round, rank 0 keeps the state and writes the results. Needs the search directory on storage
  // every rank sees.
  Sync* sync = nullptr;
  int local_ranks = 1;  // ranks of the search on this machine, which share its cores
};

// Runs or resumes a search and writes DIR/search.json (after every trial), DIR/trial-NNNN/ (run
// directories), DIR/logs/, DIR/leaderboard.md, DIR/leaderboard.json and DIR/best.toml; prints
// the search space, a line per trial and Keras Tuner's results summary. Returns 0.
// Throws core::UsageError (exit 2) for a bad space, naming the entry, before any trial runs;
// core::Interrupted (130/143) after Ctrl-C or SIGTERM, once running trials have saved;
// core::RuntimeError when every trial failed.
int tune_command(const TuneOptions& options);

}  // namespace digitlab::tune
