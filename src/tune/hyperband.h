// Hyperband's brackets (Li et al. 2018): how many configurations, rungs and epochs; no torch.
#pragma once

#include <cstdint>
#include <vector>

namespace digitlab::tune {

// One rung of successive halving: `trials` configurations trained (or resumed) up to `epochs`.
struct Rung {
  int trials = 0;
  int epochs = 0;
};

// One bracket: `configs` random configurations start in rung 0; each later rung keeps the best
// 1/factor of the one before.
struct Bracket {
  int s = 0;  // Li et al.'s s: the bracket's number of halvings
  int configs = 0;
  std::vector<Rung> rungs;
};

// The brackets of one Hyperband iteration, most exploratory first: s_max = floor(log_factor(R)),
// bracket s starts n = ceil((s_max + 1) / (s + 1) * factor^s) configurations at
// r = R * factor^-s epochs; rung i keeps floor(n * factor^-i) of them for round(r * factor^i)
// epochs (at least 1; the last rung is R). Requires max_epochs >= 1 and factor >= 2.
std::vector<Bracket> hyperband_brackets(int max_epochs, int factor);

// Epochs the brackets train when promoted trials resume from their checkpoints (each trial's
// rung i costs epochs_i - epochs_{i-1}), assuming no trial stops early.
int64_t hyperband_epochs(const std::vector<Bracket>& brackets);

// Configurations the brackets try.
int hyperband_configs(const std::vector<Bracket>& brackets);

}  // namespace digitlab::tune
