// Fuzz target for search spaces: a space file or --param lines, then grid, samples, trial flags.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/settings.h"
#include "fuzz_check.h"
#include "train/options.h"
#include "tune/space.h"

using digitlab::fuzz::check;
using nlohmann::json;
namespace core = digitlab::core;
namespace train = digitlab::train;
namespace tune = digitlab::tune;

namespace {

constexpr size_t kGridLimit = 2000;
constexpr int kSamples = 8;
constexpr size_t kCheckedTrials = 4;  // check_trial (a TOML parse and train's validation) per kind

bool is_train_key(const std::string& key) {
  const auto& keys = train::train_option_keys();
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

// Odd mode: each line is a --param NAME=SPEC, or, after a '+', a --set KEY=VALUE; empty lines are
// skipped.
tune::Space space_from_lines(const std::string& text) {
  tune::Space space;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(start, end - start);
    if (!line.empty() && line[0] == '+') {
      const auto [key, value] = tune::parse_fixed_shorthand(line.substr(1));
      tune::set_fixed(space, key, value);
    } else if (!line.empty()) {
      tune::add_param(space, tune::parse_param_shorthand(line));
    }
    start = end + 1;
  }
  return space;
}

// What the parsers promise of every parameter they return.
void check_params(const tune::Space& space) {
  for (size_t i = 0; i < space.params.size(); ++i) {
    const tune::Param& p = space.params[i];
    check(!p.name.empty(), "a parameter without a name");
    check(i == 0 || space.params[i - 1].name < p.name,
          "parameters not sorted by name or not unique at " + p.name);
    if (p.kind == tune::Param::Kind::kChoice) {
      check(!p.values.empty(), p.name + ": an empty list of choices");
      continue;
    }
    check(std::isfinite(p.min) && std::isfinite(p.max) && std::isfinite(p.step),
          p.name + ": bounds not finite");
    check(p.min <= p.max, p.name + ": empty range accepted");
    check(p.step >= 0, p.name + ": negative step accepted");
    if (p.log) {
      check(p.min > 0, p.name + ": log range reaching 0 accepted");
      check(p.step == 0 || p.step > 1, p.name + ": log step <= 1 accepted");
    }
    if (p.kind == tune::Param::Kind::kInt) {
      check(
          p.min == std::floor(p.min) && p.max == std::floor(p.max) && p.step == std::floor(p.step),
          p.name + ": integer range with a fractional bound or step");
    }
  }
}

// Every point holds exactly one value per parameter, each a value the parameter allows: one of
// the choices, an integer within [min, max] (int ranges), or a finite number within [min, max]
// (float ranges, with the 1e-9 relative slack the implementation allows for steps).
void check_point(const tune::Space& space, const tune::Point& point, const std::string& what) {
  check(point.size() == space.params.size(),
        what + ": " + std::to_string(point.size()) + " values for " +
            std::to_string(space.params.size()) + " parameters");
  for (const auto& p : space.params) {
    const auto it = point.find(p.name);
    check(it != point.end(), what + ": no value for " + p.name);
    const json& v = it->second;
    const std::string where = what + ": " + p.name + "=" + v.dump();
    switch (p.kind) {
      case tune::Param::Kind::kChoice:
        check(std::find(p.values.begin(), p.values.end(), v) != p.values.end(),
              where + " is not one of the choices");
        break;
      case tune::Param::Kind::kInt: {
        check(v.is_number_integer(), where + " is not an integer");
        const double d = double(v.get<long long>());
        check(d >= p.min && d <= p.max, where + " is outside [min, max]");
        break;
      }
      case tune::Param::Kind::kFloat: {
        check(v.is_number(), where + " is not a number");
        const double d = v.get<double>();
        const double slack = 2e-9 * (std::fabs(p.min) + std::fabs(p.max));
        check(std::isfinite(d), where + " is not finite");
        check(d >= p.min - slack && d <= p.max + slack, where + " is outside [min, max]");
        break;
      }
    }
  }
}

// trial_flags throws only core::Error, and passes every train-option parameter (not also a fixed
// option) as its value's text.
void check_flags(const tune::Space& space, const tune::Point& point) {
  std::map<std::string, std::string> flags;
  try {
    flags = tune::trial_flags(space, point);
  } catch (const core::Error&) {
    return;
  } catch (const std::exception& e) {
    digitlab::fuzz::unexpected("trial_flags", e);
  }
  for (const auto& [name, value] : point) {
    if (!is_train_key(name) || space.fixed.count(name)) continue;
    const auto it = flags.find(name);
    check(it != flags.end(), "trial_flags lost the parameter " + name);
    check(it->second == tune::value_text(value), "trial_flags changed " + name + "'s value");
  }
}

void check_one_trial(const tune::Space& space, const tune::Point& point) {
  try {
    tune::check_trial(space, point, {});
  } catch (const core::Error&) {
    // a value train refuses: what check_trial is for
  } catch (const std::exception& e) {
    digitlab::fuzz::unexpected("check_trial", e);
  }
}

}  // namespace

// The first byte picks the mode (even: a space file's text, odd: --param / --set lines); the rest
// is the text.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool lines = data[0] & 1;
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  tune::Space space;
  try {
    space = lines ? space_from_lines(text) : tune::parse_space_text(text, "fuzz.toml");
  } catch (const core::Error&) {
    return 0;
  } catch (const std::exception& e) {
    digitlab::fuzz::unexpected(lines ? "parse_param_shorthand" : "parse_space_text", e);
  }
  check_params(space);
  for (const auto& p : space.params) {
    check(tune::describe(p).rfind(p.name, 0) == 0, "describe does not start with " + p.name);
  }

  // The space survives the search state: to JSON and back, also through text as on disk.
  try {
    const json j = tune::to_json(space);
    const tune::Space back = tune::space_from_json(j);
    check(tune::to_json(back) == j, "to_json(space_from_json(j)) differs from j");
    check(back.train_toml == space.train_toml, "train_toml differs after the JSON round trip");
    check(tune::to_json(tune::space_from_json(json::parse(j.dump()))) == j,
          "the space changed through JSON text");
  } catch (const core::Error& e) {
    digitlab::fuzz::fail(std::string("space_from_json refused to_json's output: ") + e.what());
  } catch (const std::exception& e) {
    digitlab::fuzz::unexpected("space JSON round trip", e);
  }

  // A space file's fixed options, as TOML text, read back through core::Settings as `train
  // --config` reads them, to the same strings, integers and booleans.
  if (!lines) {
    core::Settings s;
    try {
      s.load_config_text(space.train_toml, false, train::train_option_keys(), "train.toml");
    } catch (const std::exception& e) {
      digitlab::fuzz::fail("the fixed options' TOML does not read back: " + std::string(e.what()) +
                           "\n" + space.train_toml);
    }
    for (const auto& [key, value] : space.fixed) {
      check(s.has(key), "train.toml lost " + key);
      if (value.is_string()) {
        check(*s.raw(key) == value.get<std::string>(), "train.toml changed " + key);
      } else if (value.is_number_integer() || value.is_boolean()) {
        check(*s.raw(key) == value.dump(), "train.toml changed " + key);
      }
    }
  }

  bool valid = true;
  try {
    tune::check_space(space);
  } catch (const core::Error&) {
    valid = false;
  } catch (const std::exception& e) {
    digitlab::fuzz::unexpected("check_space", e);
  }

  std::vector<tune::Point> grid;
  try {
    grid = tune::grid_points(space, kGridLimit);
  } catch (const core::Error&) {
    // a float range without a step, or too many points
  } catch (const std::exception& e) {
    digitlab::fuzz::unexpected("grid_points", e);
  }
  check(grid.size() <= kGridLimit,
        "grid_points gave " + std::to_string(grid.size()) + " points over its limit");
  for (size_t i = 0; i < grid.size(); ++i) {
    check_point(space, grid[i], "grid point " + std::to_string(i));
    check_flags(space, grid[i]);
    if (valid && i < kCheckedTrials) check_one_trial(space, grid[i]);
  }

  // Samples: deterministic for a seed, and as valid as grid points.
  std::mt19937_64 rng(data[0] >> 1), again(data[0] >> 1);
  for (int i = 0; i < kSamples; ++i) {
    tune::Point point, repeat;
    try {
      point = tune::sample_point(space, rng);
      repeat = tune::sample_point(space, again);
    } catch (const core::Error&) {
      break;
    } catch (const std::exception& e) {
      digitlab::fuzz::unexpected("sample_point", e);
    }
    check(point == repeat, "sample_point differs for the same seed");
    check_point(space, point, "sample " + std::to_string(i));
    check_flags(space, point);
    if (valid && size_t(i) < kCheckedTrials) check_one_trial(space, point);
    (void)tune::point_text(point);
  }
  return 0;
}
