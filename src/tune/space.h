// Search spaces: the TOML file and CLI shorthand, grid and random points, trial flags; no torch.
#pragma once

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace digitlab::tune {

// One searched hyperparameter: a list of choices, or an integer or float range sampled linearly or
// on a log scale. A range's `step` quantizes it (additive for linear, multiplicative for log) and
// is what a grid needs to enumerate a float range.
struct Param {
  enum class Kind { kChoice, kInt, kFloat };
  std::string name;
  Kind kind = Kind::kChoice;
  std::vector<nlohmann::json> values;  // kChoice: numbers, strings or booleans
  double min = 0, max = 0, step = 0;   // ranges; step 0 = none (ints enumerate by 1)
  bool log = false;
};

// What the tuner itself is asked to do ([tune] in a space file; flags override).
struct TunerSettings {
  std::string tuner = "grid";         // grid, random or hyperband
  std::string objective = "val_acc";  // val_acc (maximized) or val_loss (minimized)
  int trials = 0;      // random: trials to run (0: 10, Keras Tuner's max_trials); grid: cap
  int max_epochs = 0;  // hyperband: epochs of a fully trained trial
  int factor = 3;      // hyperband: keep 1/factor of each rung
  int iterations = 1;  // hyperband: times the whole set of brackets is run
  uint64_t seed = 42;  // sampling of random and hyperband
};

// A parsed space: the searched parameters (by name, sorted), the fixed train options (the space
// file's [train] table as TOML text, for `train --config`), and the tuner settings.
struct Space {
  std::vector<Param> params;
  std::string train_toml;  // fixed options; may hold {name} placeholders in string values
  std::map<std::string, nlohmann::json> fixed;  // the same, flattened key -> typed value
  TunerSettings tuner;
  // Which tuner keys the file set, so flags can tell what they override.
  std::map<std::string, bool> tuner_set;
};

// One trial's hyperparameters: name -> typed value.
using Point = std::map<std::string, nlohmann::json>;

// Parses a space file's text. `origin` names it in messages. Requires: nothing (any bytes).
// Guarantees: throws only core::Error: RuntimeError for text that is not TOML, UsageError naming
// the entry ("space.lr: ...") for an unknown table or key, an empty range or choice list, an
// unknown sampling, log sampling of a range that reaches 0, a bad step or a bad tuner setting.
// Parameter names are not yet checked against train options (see check_space).
Space parse_space_text(const std::string& text, const std::string& origin);

// Parses the CLI shorthand "NAME=a,b,c" (choices), "NAME=MIN..MAX", "NAME=MIN..MAX/STEP",
// optionally followed by ":log". Throws core::UsageError naming `text` for anything else.
Param parse_param_shorthand(const std::string& text);

// Parses "KEY=VALUE" (a fixed train option from the CLI) into a typed value (number, boolean or
// string). Throws core::UsageError for text without '='.
std::pair<std::string, nlohmann::json> parse_fixed_shorthand(const std::string& text);

// Adds `p` to `space`, replacing a parameter of the same name; and a fixed option, replacing one.
// The fixed TOML text is rebuilt from `fixed`.
void add_param(Space& space, Param p);
void set_fixed(Space& space, const std::string& key, const nlohmann::json& value);

// The {name} placeholders in a string.
std::vector<std::string> placeholders(const std::string& text);

// Checks the parameters against what `train` accepts: every name is a train option or a
// placeholder in a fixed string option, every placeholder has a parameter, the tuner owns `out`
// and `resume` (and `epochs` under hyperband), and the objective is measured (a validation
// split). Throws core::UsageError naming the entry.
void check_space(const Space& space);

// Every point of the grid, in parameter-name order with the last name varying fastest. Throws
// core::UsageError naming a float range without a step, or a grid of more than `limit` points.
std::vector<Point> grid_points(const Space& space, size_t limit = 100000);

// One point drawn uniformly (log-uniformly for log ranges) from `rng`.
Point sample_point(const Space& space, std::mt19937_64& rng);

// The values a trial passes to `train` as flags (settings keys): each parameter that is a train
// option, plus every fixed string option with placeholders, filled in. Throws core::UsageError
// when a filled-in architecture spec does not parse or fit.
std::map<std::string, std::string> trial_flags(const Space& space, const Point& point);

// Checks a trial's options the way `train` will: fixed options < DIGITLAB_* environment (given as
// key -> value) < the trial's flags, through train::train_options_from. Throws core::UsageError
// naming the trial's hyperparameters and the problem.
void check_trial(const Space& space, const Point& point,
                 const std::map<std::string, std::string>& env);

// A value as flag text: integers plainly, floats in the shortest form that reads back the same.
std::string value_text(const nlohmann::json& v);

// Flattened options (dotted keys) as TOML text that core::Settings reads back to the same values.
std::string options_toml(const std::map<std::string, nlohmann::json>& options);

// "filters=64 units=128 lr=0.001".
std::string point_text(const Point& p);

// The space as JSON (for the search's state file) and back. from_json throws core::RuntimeError
// for a document this version did not write.
nlohmann::json to_json(const Space& s);
Space space_from_json(const nlohmann::json& j);

// "lr (float, log): 0.0001 .. 0.01", "units (int): 64 .. 128 step 32", for the space summary.
std::string describe(const Param& p);

}  // namespace digitlab::tune
