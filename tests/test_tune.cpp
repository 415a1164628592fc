// Unit tests of the tune module: spaces, shorthand, errors, points, Hyperband, search results.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/files.h"
#include "core/settings.h"
#include "test_util.h"
#include "train/options.h"
#include "tune/hyperband.h"
#include "tune/search.h"
#include "tune/space.h"

namespace digitlab::tune {
namespace {

using nlohmann::json;
using testing::TempDir;

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// The message of the core::UsageError that `f` throws; a test failure when it throws nothing or
// another type (a core::RuntimeError would end the program with exit code 1, not 2).
template <typename F>
std::string usage_error(F f) {
  try {
    f();
  } catch (const core::UsageError& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected core::UsageError, got another exception: " << e.what();
    return "";
  }
  ADD_FAILURE() << "expected core::UsageError, nothing was thrown";
  return "";
}

Space parse(const std::string& text) { return parse_space_text(text, "s.toml"); }

std::string space_error(const std::string& text) {
  return usage_error([&] { parse(text); });
}

// The check_space error of a space that parses.
std::string check_error(const std::string& text) {
  const Space s = parse(text);
  return usage_error([&] { check_space(s); });
}

std::string shorthand_error(const std::string& text) {
  return usage_error([&] { parse_param_shorthand(text); });
}

const Param* param_named(const Space& s, const std::string& name) {
  for (const auto& p : s.params) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

// A point from a JSON object: point_of({{"filters", 64}, {"lr", 0.001}}).
Point point_of(const json& j) {
  Point p;
  for (auto it = j.begin(); it != j.end(); ++it) p[it.key()] = *it;
  return p;
}

const char* const kFullSpace = R"(# every kind of entry
[tune]
tuner = "random"
objective = "val_accuracy"
trials = 12
seed = 7

[train]
arch = "C{filters}v-P-{units}-10"
epochs = 3
val_split = 1000
early-stopping = 2

[space]
filters = [16, 32]
units = { min = 64, max = 128, step = 32 }
lr = { min = 1e-4, max = 1e-2, sampling = "log" }
momentum = { values = [0.0, 0.9] }
optimizer = ["adam", "sgd"]
weight_decay = [0.0, 1e-4]
)";

TEST(TuneSpace, ParsesAFullFile) {
  const Space s = parse(kFullSpace);
  std::vector<std::string> names;
  for (const auto& p : s.params) names.push_back(p.name);
  EXPECT_EQ(names, (std::vector<std::string>{"filters", "lr", "momentum", "optimizer", "units",
                                             "weight_decay"}));  // sorted by name

  const Param* filters = param_named(s, "filters");
  ASSERT_NE(filters, nullptr);
  EXPECT_EQ(filters->kind, Param::Kind::kChoice);
  EXPECT_EQ(filters->values, (std::vector<json>{16, 32}));
  EXPECT_TRUE(filters->values[0].is_number_integer());

  const Param* units = param_named(s, "units");
  ASSERT_NE(units, nullptr);
  EXPECT_EQ(units->kind, Param::Kind::kInt);
  EXPECT_EQ(units->min, 64);
  EXPECT_EQ(units->max, 128);
  EXPECT_EQ(units->step, 32);
  EXPECT_FALSE(units->log);
  EXPECT_TRUE(units->values.empty());

  const Param* lr = param_named(s, "lr");
  ASSERT_NE(lr, nullptr);
  EXPECT_EQ(lr->kind, Param::Kind::kFloat);
  EXPECT_DOUBLE_EQ(lr->min, 1e-4);
  EXPECT_DOUBLE_EQ(lr->max, 1e-2);
  EXPECT_EQ(lr->step, 0);
  EXPECT_TRUE(lr->log);

  const Param* momentum = param_named(s, "momentum");  // the {values = [...]} form
  ASSERT_NE(momentum, nullptr);
  EXPECT_EQ(momentum->kind, Param::Kind::kChoice);
  ASSERT_EQ(momentum->values.size(), 2u);
  EXPECT_TRUE(momentum->values[0].is_number_float());
  EXPECT_EQ(momentum->values[0].get<double>(), 0.0);
  EXPECT_EQ(momentum->values[1].get<double>(), 0.9);

  const Param* optimizer = param_named(s, "optimizer");
  ASSERT_NE(optimizer, nullptr);
  EXPECT_EQ(optimizer->kind, Param::Kind::kChoice);
  EXPECT_EQ(optimizer->values, (std::vector<json>{"adam", "sgd"}));

  const Param* wd = param_named(s, "weight_decay");
  ASSERT_NE(wd, nullptr);
  ASSERT_EQ(wd->values.size(), 2u);
  EXPECT_DOUBLE_EQ(wd->values[1].get<double>(), 1e-4);

  // [train], flattened and with '-' read as '_'.
  EXPECT_EQ(s.fixed.size(), 4u);
  EXPECT_EQ(s.fixed.at("arch"), "C{filters}v-P-{units}-10");
  EXPECT_EQ(s.fixed.at("epochs"), 3);
  EXPECT_TRUE(s.fixed.at("epochs").is_number_integer());
  EXPECT_EQ(s.fixed.at("val_split"), 1000);
  EXPECT_EQ(s.fixed.at("early_stopping"), 2);
  EXPECT_EQ(s.fixed.count("early-stopping"), 0u);
  EXPECT_EQ(s.train_toml,
            "arch = \"C{filters}v-P-{units}-10\"\nearly_stopping = 2\nepochs = 3\nval_split = "
            "1000\n");

  // [tune]: "val_accuracy" is read as val_acc; keys not given keep their defaults.
  EXPECT_EQ(s.tuner.tuner, "random");
  EXPECT_EQ(s.tuner.objective, "val_acc");
  EXPECT_EQ(s.tuner.trials, 12);
  EXPECT_EQ(s.tuner.seed, 7u);
  EXPECT_EQ(s.tuner.max_epochs, 0);
  EXPECT_EQ(s.tuner.factor, 3);
  EXPECT_EQ(s.tuner.iterations, 1);
  EXPECT_TRUE(s.tuner_set.count("tuner") && s.tuner_set.at("tuner"));
  EXPECT_TRUE(s.tuner_set.count("objective") && s.tuner_set.at("objective"));
  EXPECT_TRUE(s.tuner_set.count("trials") && s.tuner_set.at("trials"));
  EXPECT_TRUE(s.tuner_set.count("seed") && s.tuner_set.at("seed"));
  EXPECT_EQ(s.tuner_set.count("factor"), 0u);
  EXPECT_EQ(s.tuner_set.count("max_epochs"), 0u);

  // Every name is a train option or a placeholder of arch.
  EXPECT_NO_THROW(check_space(s));
}

TEST(TuneSpace, ObjectiveAndHyperbandSettings) {
  const Space s = parse(
      "[tune]\ntuner = \"hyperband\"\nobjective = \"val_loss\"\nmax_epochs = 27\nfactor = 4\n"
      "iterations = 2\n[space]\nlr = [0.1, 0.01]\n");
  EXPECT_EQ(s.tuner.tuner, "hyperband");
  EXPECT_EQ(s.tuner.objective, "val_loss");
  EXPECT_EQ(s.tuner.max_epochs, 27);
  EXPECT_EQ(s.tuner.factor, 4);
  EXPECT_EQ(s.tuner.iterations, 2);
  EXPECT_EQ(s.tuner.seed, 42u);
  EXPECT_EQ(s.tuner.trials, 0);
  EXPECT_NO_THROW(check_space(s));
  // An empty file is an empty space with the default tuner.
  const Space empty = parse("");
  EXPECT_TRUE(empty.params.empty());
  EXPECT_TRUE(empty.fixed.empty());
  EXPECT_EQ(empty.train_toml, "");
  EXPECT_EQ(empty.tuner.tuner, "grid");
  EXPECT_EQ(empty.tuner.objective, "val_acc");
}

TEST(TuneSpace, NotTomlIsARuntimeError) {
  EXPECT_THROW(parse("[space\nlr = [0.1,\n"), core::RuntimeError);
  try {
    parse("[space]\nlr = [0.1,\n");
    ADD_FAILURE() << "no error for text that is not TOML";
  } catch (const core::RuntimeError& e) {
    EXPECT_TRUE(has(e.what(), "s.toml:")) << e.what();
    EXPECT_TRUE(has(e.what(), "not valid TOML")) << e.what();
  }
}

TEST(TuneSpace, ErrorsNameTheEntry) {
  // Tables.
  EXPECT_EQ(space_error("[bogus]\nx = 1\n"), "s.toml: bogus: unknown table (tune, train or space)");
  EXPECT_EQ(space_error("epochs = 3\n"),
            "s.toml: epochs: expected a table ([tune], [train] or [space])");
  // [tune].
  EXPECT_EQ(space_error("[tune]\nbogus = 1\n"),
            "s.toml: tune.bogus: unknown key (tuner, objective, trials, max_epochs, factor, "
            "iterations or seed)");
  EXPECT_EQ(space_error("[tune]\ntuner = \"bayes\"\n"),
            "s.toml: tune.tuner: unknown tuner 'bayes' (grid, random or hyperband)");
  EXPECT_EQ(space_error("[tune]\nobjective = \"accuracy\"\n"),
            "s.toml: tune.objective: unknown objective 'accuracy' (val_acc or val_loss)");
  EXPECT_EQ(space_error("[tune]\nfactor = 1\n"),
            "s.toml: tune.factor: expected an integer from 2 to 100, got 1");
  EXPECT_EQ(space_error("[tune]\ntrials = 2.5\n"),
            "s.toml: tune.trials: expected an integer from 1 to 100000, got 2.5");
  EXPECT_EQ(space_error("[tune]\ntuner = 3\n"), "s.toml: tune.tuner: expected a string, got 3");
  // [train].
  EXPECT_EQ(space_error("[train]\nlearning_rate = 0.1\n"),
            "s.toml: train.learning_rate: unknown train option");
  EXPECT_EQ(space_error("[train]\nout = \"runs/x\"\n"),
            "s.toml: train.out: the tuner gives each trial its own run directory");
  // [space].
  EXPECT_EQ(space_error("[space]\nlr = []\n"), "s.toml: space.lr: empty list of choices");
  EXPECT_EQ(space_error("[space]\nlr = { values = [] }\n"),
            "s.toml: space.lr: empty list of choices");
  EXPECT_EQ(space_error("[space]\nlr = [[1], [2]]\n"),
            "s.toml: space.lr: a choice must be a number, string or boolean, not [1]");
  const std::string empty_range = space_error("[space]\nlr = { min = 0.1, max = 0.01 }\n");
  EXPECT_TRUE(has(empty_range, "empty range")) << empty_range;
  EXPECT_EQ(empty_range, "s.toml: space.lr: empty range (min 0.1 > max 0.01)");
  const std::string sampling =
      space_error("[space]\nlr = { min = 0.001, max = 0.1, sampling = \"gaussian\" }\n");
  EXPECT_TRUE(has(sampling, "unknown sampling 'gaussian'")) << sampling;
  EXPECT_EQ(sampling, "s.toml: space.lr: unknown sampling 'gaussian' (linear or log)");
  EXPECT_EQ(space_error("[space]\nlr = { min = 0.0, max = 0.1, sampling = \"log\" }\n"),
            "s.toml: space.lr: log sampling needs min > 0 (got 0)");
  EXPECT_EQ(space_error("[space]\nlr = { min = -1.0, max = 0.1, sampling = \"log\" }\n"),
            "s.toml: space.lr: log sampling needs min > 0 (got -1)");
  EXPECT_EQ(space_error("[space]\nunits = { min = 16, max = 256, step = 1, sampling = \"log\" }\n"),
            "s.toml: space.units: a log range's step multiplies, so it must be > 1 (got 1)");
  EXPECT_EQ(space_error("[space]\nlr = { min = 0.1, max = 0.5, step = 0 }\n"),
            "s.toml: space.lr: step must be > 0");
  EXPECT_EQ(space_error("[space]\nlr = { min = 0.001, max = 0.1, mean = 0.01 }\n"),
            "s.toml: space.lr: unknown key 'mean' (min, max, step, sampling or values)");
  EXPECT_EQ(space_error("[space]\nlr = { values = [0.1], min = 0.0 }\n"),
            "s.toml: space.lr: 'min' does not go with 'values'");
  EXPECT_EQ(space_error("[space]\nlr = { min = 0.001 }\n"),
            "s.toml: space.lr: a range needs both min and max");
  EXPECT_EQ(space_error("[space]\nlr = { min = \"a\", max = 1 }\n"),
            "s.toml: space.lr.min: expected a number, got \"a\"");
  EXPECT_EQ(space_error("[space]\nlr = { min = 0.001, max = 0.1, sampling = 2 }\n"),
            "s.toml: space.lr: sampling must be a string");
  EXPECT_EQ(space_error("[space]\nlr = 0.01\n"),
            "s.toml: space.lr: expected a list of choices or a table {min, max}; a fixed value "
            "belongs in [train]");
}

// Settings reads the fixed options' TOML text back to the same values (or the file is refused).
TEST(TuneSpace, FixedOptionsReadBack) {
  const Space s = parse(
      "[train]\narch = \"C{filters}v-P-10\"\ntensorboard = false\nlr = 0.001\nmomentum = 3.0\n"
      "[train.augment]\nrotate = 10\n[space]\nfilters = [8]\n");
  EXPECT_EQ(s.train_toml,
            "arch = \"C{filters}v-P-10\"\naugment.rotate = 10\nlr = 0.001\nmomentum = 3.0\n"
            "tensorboard = false\n");
  core::Settings st;
  ASSERT_NO_THROW(st.load_config_text(s.train_toml, false, train::train_option_keys(), "t"));
  EXPECT_EQ(st.get_string("arch", ""), "C{filters}v-P-10");
  EXPECT_EQ(st.get_int("augment.rotate", 0), 10);
  EXPECT_DOUBLE_EQ(st.get_double("lr", 0), 0.001);
  EXPECT_DOUBLE_EQ(st.get_double("momentum", 0), 3.0);
  EXPECT_FALSE(st.get_bool("tensorboard", true));
}

// A quoted dotted key beside the plain key of the same table: either the file is refused, or the
// fixed options' TOML text still parses.
TEST(TuneSpace, QuotedDottedKeysStayReadable) {
  try {
    const Space q = parse("[train]\naugment = \"rotate=5\"\n\"augment.scale\" = 0.1\n");
    core::Settings back;
    EXPECT_NO_THROW(back.load_config_text(q.train_toml, false, {}, "train.toml")) << q.train_toml;
  } catch (const core::UsageError&) {
    // refusing it is fine too
  }
}

TEST(TuneValues, ValueTextAndOptionsToml) {
  EXPECT_EQ(value_text(json(0.001)), "0.001");
  EXPECT_EQ(value_text(json(1e-4)), "0.0001");
  EXPECT_EQ(value_text(json(64)), "64");
  EXPECT_EQ(value_text(json(3.0)), "3");
  EXPECT_EQ(value_text(json("adam")), "adam");
  EXPECT_EQ(value_text(json(true)), "true");
  const double sum = 0.1 + 0.2;
  EXPECT_EQ(value_text(json(sum)), "0.30000000000000004");
  EXPECT_EQ(std::strtod(value_text(json(sum)).c_str(), nullptr), sum);
  EXPECT_EQ(value_text(json(0.3)), "0.3");

  std::map<std::string, json> o;
  o["arch"] = "a\"b\\c\nd";
  o["lr"] = 3.0;  // stays a float
  o["epochs"] = 2;
  o["augment.rotate"] = 10;
  o["tensorboard"] = false;
  const std::string text = options_toml(o);
  EXPECT_EQ(text,
            "arch = \"a\\\"b\\\\c\\nd\"\naugment.rotate = 10\nepochs = 2\nlr = 3.0\n"
            "tensorboard = false\n");
  core::Settings s;
  ASSERT_NO_THROW(s.load_config_text(text, false, train::train_option_keys(), "o"));
  EXPECT_EQ(s.get_string("arch", ""), "a\"b\\c\nd");
  EXPECT_EQ(s.get_int("augment.rotate", 0), 10);
  EXPECT_EQ(s.get_int("epochs", 0), 2);
  EXPECT_DOUBLE_EQ(s.get_double("lr", 0), 3.0);
  EXPECT_FALSE(s.get_bool("tensorboard", true));

  EXPECT_EQ(point_text(point_of({{"units", 128}, {"filters", 64}, {"lr", 0.001}})),
            "filters=64 lr=0.001 units=128");
  EXPECT_EQ(placeholders("C{filters}v-P-{units}-10"),
            (std::vector<std::string>{"filters", "units"}));
  EXPECT_EQ(placeholders("{drop-rate}x{"), (std::vector<std::string>{"drop_rate"}));
  EXPECT_TRUE(placeholders("C32-P-10").empty());

  const Space s2 = parse(kFullSpace);
  const std::string lr = describe(*param_named(s2, "lr"));
  EXPECT_TRUE(has(lr, "lr") && has(lr, "0.0001") && has(lr, "0.01") && has(lr, "log")) << lr;
  const std::string units = describe(*param_named(s2, "units"));
  EXPECT_TRUE(has(units, "64") && has(units, "128") && has(units, "32")) << units;
  const std::string opt = describe(*param_named(s2, "optimizer"));
  EXPECT_TRUE(has(opt, "adam") && has(opt, "sgd")) << opt;
}

TEST(TuneShorthand, Forms) {
  const Param units = parse_param_shorthand("units=16,32,64");
  EXPECT_EQ(units.name, "units");
  EXPECT_EQ(units.kind, Param::Kind::kChoice);
  EXPECT_EQ(units.values, (std::vector<json>{16, 32, 64}));
  EXPECT_TRUE(units.values[0].is_number_integer());

  const Param lr = parse_param_shorthand("lr=1e-4..1e-2:log");
  EXPECT_EQ(lr.name, "lr");
  EXPECT_EQ(lr.kind, Param::Kind::kFloat);
  EXPECT_TRUE(lr.log);
  EXPECT_DOUBLE_EQ(lr.min, 1e-4);
  EXPECT_DOUBLE_EQ(lr.max, 1e-2);
  EXPECT_EQ(lr.step, 0);

  const Param range = parse_param_shorthand("units=64..128/32");
  EXPECT_EQ(range.kind, Param::Kind::kInt);
  EXPECT_FALSE(range.log);
  EXPECT_EQ(range.min, 64);
  EXPECT_EQ(range.max, 128);
  EXPECT_EQ(range.step, 32);

  const Param act = parse_param_shorthand("act=relu,tanh");
  EXPECT_EQ(act.kind, Param::Kind::kChoice);
  EXPECT_EQ(act.values, (std::vector<json>{"relu", "tanh"}));

  const Param bs = parse_param_shorthand("batch-size=32,64");
  EXPECT_EQ(bs.name, "batch_size");
  const Param flag = parse_param_shorthand("tensorboard=true,false");
  EXPECT_EQ(flag.values, (std::vector<json>{true, false}));
  const Param dropout = parse_param_shorthand("dropout=0..0.5/0.1");
  EXPECT_EQ(dropout.kind, Param::Kind::kFloat);
  EXPECT_DOUBLE_EQ(dropout.step, 0.1);
  const Param pow2 = parse_param_shorthand("units=16..256/2:log");
  EXPECT_EQ(pow2.kind, Param::Kind::kInt);
  EXPECT_TRUE(pow2.log);
  EXPECT_EQ(pow2.step, 2);
}

TEST(TuneShorthand, BadOnesAreUsageErrors) {
  const std::string expected = ": expected NAME=a,b,c or NAME=MIN..MAX[/STEP][:log]";
  EXPECT_EQ(shorthand_error("units"), "--param 'units'" + expected);
  EXPECT_EQ(shorthand_error("units="), "--param 'units='" + expected);
  EXPECT_EQ(shorthand_error("=1,2"), "--param '=1,2'" + expected);
  EXPECT_EQ(shorthand_error("units=1..x"), "--param 'units=1..x': max 'x' is not a number");
  EXPECT_EQ(shorthand_error("units=1..2/x"), "--param 'units=1..2/x': step 'x' is not a number");
  const std::string empty = shorthand_error("units=5..1");
  EXPECT_TRUE(has(empty, "--param 'units=5..1'")) << empty;
  EXPECT_TRUE(has(empty, "empty range")) << empty;
  EXPECT_EQ(shorthand_error("units=1,,2"), "--param 'units=1,,2': an empty choice");
  EXPECT_EQ(shorthand_error("units=1,2,"), "--param 'units=1,2,': an empty choice");
  EXPECT_EQ(shorthand_error("lr=0..1:log"),
            "--param 'lr=0..1:log': log sampling needs min > 0 (got 0)");
  EXPECT_EQ(shorthand_error("lr=0.1..1/0"), "--param 'lr=0.1..1/0': step must be > 0");
  EXPECT_EQ(shorthand_error("--=1,2"), "--param '--=1,2': empty parameter name");
}

// Booleans are not numbers: a bound of true is a usage error like a bound of x.
TEST(TuneShorthand, NonNumericBoundsAreUsageErrors) {
  EXPECT_TRUE(has(shorthand_error("units=true..2"), "--param 'units=true..2'"));
  EXPECT_TRUE(has(shorthand_error("units=1..false"), "--param 'units=1..false'"));
  EXPECT_TRUE(has(shorthand_error("units=1..8/true"), "--param 'units=1..8/true'"));
}

TEST(TuneShorthand, FixedOptionsAndAddingParameters) {
  EXPECT_EQ(parse_fixed_shorthand("batch-size=32"),
            (std::pair<std::string, json>{"batch_size", 32}));
  const auto lr = parse_fixed_shorthand("lr=1e-3");
  EXPECT_TRUE(lr.second.is_number_float());
  EXPECT_DOUBLE_EQ(lr.second.get<double>(), 0.001);
  EXPECT_EQ(parse_fixed_shorthand("arch=C8-10").second, "C8-10");
  EXPECT_EQ(parse_fixed_shorthand("tensorboard=false").second, false);
  EXPECT_EQ(usage_error([] { parse_fixed_shorthand("epochs"); }),
            "--set 'epochs': expected KEY=VALUE");

  Space s;
  set_fixed(s, "arch", "{units}-10");
  set_fixed(s, "epochs", 5);
  add_param(s, parse_param_shorthand("units=64..512/64"));
  add_param(s, parse_param_shorthand("lr=1e-4..1e-2:log"));
  add_param(s, parse_param_shorthand("units=32,64"));  // replaces the range
  ASSERT_EQ(s.params.size(), 2u);
  EXPECT_EQ(s.params[0].name, "lr");
  EXPECT_EQ(s.params[1].name, "units");
  EXPECT_EQ(s.params[1].kind, Param::Kind::kChoice);
  EXPECT_EQ(s.train_toml, "arch = \"{units}-10\"\nepochs = 5\n");
  EXPECT_NO_THROW(check_space(s));
  // A dotted key replaces its table's plain key, and the other way round.
  set_fixed(s, "augment", "rotate=5");
  set_fixed(s, "augment.scale", 0.1);
  EXPECT_EQ(s.fixed.count("augment"), 0u);
  EXPECT_EQ(s.fixed.count("augment.scale"), 1u);
  set_fixed(s, "augment", "rotate=10");
  EXPECT_EQ(s.fixed.count("augment.scale"), 0u);
  EXPECT_EQ(s.fixed.at("augment"), "rotate=10");
  EXPECT_EQ(usage_error([&] { set_fixed(s, "bogus", 1); }), "--set bogus: unknown train option");
  EXPECT_EQ(usage_error([&] { set_fixed(s, "out", "x"); }),
            "--set out: the tuner gives each trial its own run directory");
}

TEST(TuneCheck, ParametersMustBeTrainOptionsOrPlaceholders) {
  const std::string unknown = check_error("[space]\nwidth = [1, 2]\n");
  EXPECT_TRUE(has(unknown, "unknown parameter")) << unknown;
  EXPECT_EQ(unknown,
            "space.width: unknown parameter: not a train option and not a {width} placeholder in "
            "a [train] value");
  EXPECT_EQ(check_error("[train]\narch = \"C{filters}v-P-{units}-10\"\n[space]\nunits = [64]\n"),
            "train.arch: placeholder {filters} has no entry in [space]");
  // A train option needs no placeholder.
  EXPECT_NO_THROW(check_space(parse("[space]\nlr = [0.01, 0.001]\n")));
  EXPECT_EQ(check_error("[train]\nlr = 0.1\n[space]\nlr = [0.1, 0.01]\n"),
            "space.lr: also fixed in [train]; keep one");
  EXPECT_EQ(check_error("[space]\nout = [\"a\", \"b\"]\n"),
            "space.out: not searchable (the tuner owns it)");
  EXPECT_EQ(check_error("[space]\ndrop_last = [true, false]\n"),
            "space.drop_last: not searchable (the tuner owns it)");
}

TEST(TuneCheck, TunerAndObjectiveRules) {
  EXPECT_EQ(
      check_error("[tune]\ntuner = \"hyperband\"\nmax_epochs = 9\n[space]\nepochs = [1, 2]\n"),
      "space.epochs: hyperband sets each trial's epochs itself (max_epochs)");
  // epochs is searchable under the other tuners.
  EXPECT_NO_THROW(check_space(parse("[space]\nepochs = [1, 2]\n")));
  EXPECT_TRUE(has(check_error("[tune]\ntuner = \"hyperband\"\n[space]\nlr = [0.1]\n"),
                  "hyperband: give max_epochs"));
  EXPECT_NO_THROW(
      check_space(parse("[tune]\ntuner = \"hyperband\"\nmax_epochs = 9\n[space]\nlr = [0.1]\n")));
  EXPECT_EQ(check_error("[train]\nval_split = 0\n[space]\nlr = [0.1]\n"),
            "train.val_split: 0 leaves no validation data for the objective val_acc");
  EXPECT_EQ(check_error(""),
            "search space: no parameters to search ([space] in the file, or --param)");
  EXPECT_EQ(check_error("[train]\nepochs = 2\n"),
            "search space: no parameters to search ([space] in the file, or --param)");
}

TEST(TuneGrid, LastNameVariesFastest) {
  const Space s = parse("[space]\nbatch_size = [32, 48, 64]\nlr = [0.01, 0.001]\n");
  const std::vector<Point> pts = grid_points(s);
  ASSERT_EQ(pts.size(), 6u);
  const std::vector<std::pair<long long, double>> want = {{32, 0.01},  {32, 0.001}, {48, 0.01},
                                                          {48, 0.001}, {64, 0.01},  {64, 0.001}};
  for (size_t i = 0; i < pts.size(); ++i) {
    EXPECT_EQ(pts[i].size(), 2u) << i;
    EXPECT_EQ(pts[i].at("batch_size"), json(want[i].first)) << i;
    EXPECT_EQ(pts[i].at("lr").get<double>(), want[i].second) << i;
  }
}

TEST(TuneGrid, RangesEnumerateExactly) {
  // 0.1 steps from 0 to 0.3: exactly 0, 0.1, 0.2, 0.3 (no 0.30000000000000004).
  const std::vector<Point> m =
      grid_points(parse("[space]\nmomentum = { min = 0.0, max = 0.3, step = 0.1 }\n"));
  ASSERT_EQ(m.size(), 4u);
  const double want[] = {0.0, 0.1, 0.2, 0.3};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_TRUE(m[i].at("momentum").is_number_float()) << i;
    EXPECT_EQ(m[i].at("momentum").get<double>(), want[i]) << i;
  }
  EXPECT_EQ(value_text(m[3].at("momentum")), "0.3");

  auto ints = [](const std::vector<Point>& pts, const std::string& name) {
    std::vector<long long> out;
    for (const auto& p : pts) {
      EXPECT_TRUE(p.at(name).is_number_integer());
      out.push_back(p.at(name).get<long long>());
    }
    return out;
  };
  EXPECT_EQ(
      ints(grid_points(parse("[space]\nunits = { min = 64, max = 128, step = 32 }\n")), "units"),
      (std::vector<long long>{64, 96, 128}));
  EXPECT_EQ(ints(grid_points(parse("[space]\nepochs = { min = 1, max = 4 }\n")), "epochs"),
            (std::vector<long long>{1, 2, 3, 4}));  // ints step by 1
  EXPECT_EQ(ints(grid_points(parse("[space]\nbatch_size = { min = 16, max = 256, step = 2, "
                                   "sampling = \"log\" }\n")),
                 "batch_size"),
            (std::vector<long long>{16, 32, 64, 128, 256}));  // a log step multiplies
  const std::vector<Point> lr = grid_points(
      parse("[space]\nlr = { min = 1e-4, max = 1e-2, step = 10, sampling = \"log\" }\n"));
  ASSERT_EQ(lr.size(), 3u);
  EXPECT_EQ(lr[0].at("lr").get<double>(), 1e-4);
  EXPECT_EQ(lr[1].at("lr").get<double>(), 1e-3);
  EXPECT_EQ(lr[2].at("lr").get<double>(), 1e-2);
}

TEST(TuneGrid, FloatRangesNeedAStepAndTheGridALimit) {
  EXPECT_EQ(usage_error([] { grid_points(parse("[space]\nlr = { min = 0.001, max = 0.1 }\n")); }),
            "space.lr: a grid needs a step for this float range");
  EXPECT_EQ(usage_error([] {
              grid_points(parse("[space]\nlr = { min = 0.001, max = 0.1, sampling = \"log\" }\n"));
            }),
            "space.lr: a grid needs a step for this float log range");
  const Space s = parse("[space]\nbatch_size = [16, 32, 64]\nlr = [0.1, 0.01, 0.001]\n");
  EXPECT_EQ(usage_error([&] { grid_points(s, 8); }),
            "search space: the grid has 9 points (at most 8)");
  EXPECT_EQ(grid_points(s, 9).size(), 9u);
  const std::string big =
      usage_error([] { grid_points(parse("[space]\nseed = { min = 1, max = 1000000 }\n")); });
  EXPECT_TRUE(has(big, "(at most 100000)")) << big;
}

// Grid values never leave [min, max], and a grid holds at most its counted points.
TEST(TuneGrid, ValuesStayInsideTheRange) {
  // Integer log range: the next step, 1000000002, is within 1e-9 of max but not an allowed value.
  for (const auto& p : grid_points(parse("[space]\nunits = { min = 500000001, max = 1000000001, "
                                         "step = 2, sampling = \"log\" }\n"))) {
    EXPECT_LE(p.at("units").get<long long>(), 1000000001);
  }
  // Integer range whose step is almost its whole width.
  for (const auto& p :
       grid_points(parse("[space]\nunits = { min = 0, max = 9999999999, step = 10000000000 }\n"))) {
    EXPECT_LE(p.at("units").get<long long>(), 9999999999LL);
  }
  // A log step so close to 1 that 12 significant digits cannot tell v * step from v.
  EXPECT_EQ(grid_points(parse("[space]\nlr = { min = 1.0, max = 1.0, step = 1.0000000000001, "
                              "sampling = \"log\" }\n"),
                        100)
                .size(),
            1u);
}

const char* const kSampleSpace = R"([space]
lr = { min = 1e-4, max = 1e-1, sampling = "log" }
units = { min = 32, max = 256, step = 32 }
momentum = { min = 0.0, max = 0.9 }
epochs = { min = 1, max = 3 }
optimizer = ["adam", "sgd"]
)";

TEST(TuneSample, DeterministicForASeed) {
  const Space s = parse(kSampleSpace);
  std::mt19937_64 a(5), b(5);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(sample_point(s, a), sample_point(s, b)) << i;
  std::mt19937_64 c(5), d(6);
  bool differs = false;
  for (int i = 0; i < 20; ++i) differs = differs || sample_point(s, c) != sample_point(s, d);
  EXPECT_TRUE(differs);
}

TEST(TuneSample, ValuesInsideTheRangesAndLogSpreadOverDecades) {
  const Space s = parse(kSampleSpace);
  std::mt19937_64 rng(11);
  int decades[3] = {0, 0, 0};
  std::set<long long> units, epochs;
  std::set<std::string> optimizers;
  for (int i = 0; i < 2000; ++i) {
    const Point p = sample_point(s, rng);
    ASSERT_EQ(p.size(), 5u);
    const double lr = p.at("lr").get<double>();
    ASSERT_TRUE(p.at("lr").is_number_float());
    ASSERT_GE(lr, 1e-4);
    ASSERT_LE(lr, 1e-1);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", lr);
    ASSERT_EQ(std::strtod(buf, nullptr), lr) << "not rounded to 6 significant digits";
    ++decades[lr < 1e-3 ? 0 : lr < 1e-2 ? 1 : 2];
    ASSERT_TRUE(p.at("units").is_number_integer());
    const long long u = p.at("units").get<long long>();
    ASSERT_EQ(u % 32, 0) << u;
    ASSERT_GE(u, 32);
    ASSERT_LE(u, 256);
    units.insert(u);
    const double m = p.at("momentum").get<double>();
    ASSERT_GE(m, 0.0);
    ASSERT_LE(m, 0.9);
    ASSERT_TRUE(p.at("epochs").is_number_integer());
    epochs.insert(p.at("epochs").get<long long>());
    optimizers.insert(p.at("optimizer").get<std::string>());
  }
  // Log-uniform: each decade a third of the draws (uniform would give the first under 1%).
  for (int n : decades) {
    EXPECT_GE(n, 400);  // 20%
    EXPECT_LE(n, 940);  // 47%
  }
  EXPECT_EQ(units.size(), 8u);  // 32, 64, ..., 256
  EXPECT_EQ(epochs, (std::set<long long>{1, 2, 3}));
  EXPECT_EQ(optimizers, (std::set<std::string>{"adam", "sgd"}));
}

TEST(TuneSample, LogStepsGiveOnlyPowers) {
  const Space s =
      parse("[space]\nbatch_size = { min = 16, max = 256, step = 2, sampling = \"log\" }\n");
  std::mt19937_64 rng(3);
  std::set<long long> seen;
  for (int i = 0; i < 500; ++i) seen.insert(sample_point(s, rng).at("batch_size").get<long long>());
  EXPECT_EQ(seen, (std::set<long long>{16, 32, 64, 128, 256}));
}

const char* const kArchSpace = R"([train]
arch = "C{filters}v-P-{units}-10"
epochs = 2
[space]
filters = [32, 64]
units = [128]
lr = [0.001, 0.01]
)";

TEST(TuneTrial, FlagsFillPlaceholders) {
  const Space s = parse(kArchSpace);
  EXPECT_NO_THROW(check_space(s));
  const auto flags = trial_flags(s, point_of({{"filters", 64}, {"units", 128}, {"lr", 0.001}}));
  // Placeholders are filled; train options are passed as text; the rest are no flags.
  EXPECT_EQ(flags,
            (std::map<std::string, std::string>{{"arch", "C64v-P-128-10"}, {"lr", "0.001"}}));
  // A grid's points all give architectures that parse.
  for (const auto& p : grid_points(s)) EXPECT_NO_THROW(trial_flags(s, p)) << point_text(p);
}

TEST(TuneTrial, ABadArchitectureNamesTheTrial) {
  const Space s = parse(kArchSpace);
  const std::string msg = usage_error([&] {
    trial_flags(s, point_of({{"filters", 0}, {"units", 128}, {"lr", 0.001}}));
  });
  EXPECT_EQ(msg.rfind("trial filters=0 lr=0.001 units=128: ", 0), 0u) << msg;
  EXPECT_TRUE(has(msg, "C0v")) << msg;
  EXPECT_EQ(usage_error([&] {
              trial_flags(s, point_of({{"units", 128}, {"lr", 0.001}}));
            }),
            "train.arch: placeholder {filters} has no entry in [space]");
}

TEST(TuneTrial, CheckTrialValidatesLikeTrain) {
  const Space s = parse("[train]\nepochs = 2\n[space]\noptimizer = [\"adam\", \"nosuch\"]\n");
  EXPECT_NO_THROW(check_space(s));  // names are checked, values are not
  const Point adam = point_of({{"optimizer", "adam"}});
  EXPECT_NO_THROW(check_trial(s, adam, {}));
  EXPECT_EQ(usage_error([&] {
              check_trial(s, point_of({{"optimizer", "nosuch"}}), {});
            }),
            "trial optimizer=nosuch: --optimizer: unknown 'nosuch' (allowed: adam, adamw, sgd, "
            "rmsprop)");
  // The environment overrides the fixed options, the trial's values override the environment.
  EXPECT_EQ(usage_error([&] {
              check_trial(s, adam, {{"epochs", "0"}});
            }),
            "trial optimizer=adam: --epochs: must be 1 to 100000");
  EXPECT_NO_THROW(check_trial(s, adam, {{"optimizer", "nosuch"}}));
}

TEST(TuneTrial, NewScheduleKeysAndLabelSmoothingAreChecked) {
  const Space s = parse(
      "[train]\nepochs = 2\nlr_schedule = \"plateau\"\n[space]\nlr_gamma = [0.5, 2]\n"
      "label_smoothing = [0.0, 0.1]\nmodel = [\"seed002-cnn\", \"linear-svm\"]\n");
  EXPECT_NO_THROW(check_space(s));
  EXPECT_NO_THROW(check_trial(
      s, point_of({{"lr_gamma", 0.5}, {"label_smoothing", 0.1}, {"model", "seed002-cnn"}}), {}));
  EXPECT_NO_THROW(check_trial(
      s, point_of({{"lr_gamma", 0.5}, {"label_smoothing", 0.0}, {"model", "linear-svm"}}), {}));
  EXPECT_EQ(
      usage_error([&] {
        check_trial(
            s, point_of({{"lr_gamma", 2}, {"label_smoothing", 0.0}, {"model", "seed002-cnn"}}), {});
      }),
      "trial label_smoothing=0 lr_gamma=2 model=seed002-cnn: --lr-gamma: must be above 0 and "
      "at most 1");
  // The head is checked before any trial trains.
  EXPECT_EQ(usage_error([&] {
              check_trial(
                  s,
                  point_of({{"lr_gamma", 0.5}, {"label_smoothing", 0.1}, {"model", "linear-svm"}}),
                  {});
            }),
            "trial label_smoothing=0.1 lr_gamma=0.5 model=linear-svm: --label-smoothing: the svm "
            "head has no smoothed loss (use a softmax or logsoftmax head)");
  const Point ok =
      point_of({{"lr_gamma", 0.5}, {"label_smoothing", 0.0}, {"model", "seed002-cnn"}});
  EXPECT_EQ(
      usage_error([&] {
        check_trial(s, ok, {{"val_split", "0"}});
      }),
      "trial label_smoothing=0 lr_gamma=0.5 model=seed002-cnn: --lr-schedule: plateau needs a "
      "validation split (--val-split above 0)");
}

TEST(TuneSpace, JsonRoundTrip) {
  Space s = parse(kFullSpace);
  const json j = to_json(s);
  const Space back = space_from_json(j);
  EXPECT_EQ(to_json(back), j);
  EXPECT_EQ(to_json(space_from_json(json::parse(j.dump()))), j);  // through text, as on disk
  ASSERT_EQ(back.params.size(), s.params.size());
  for (size_t i = 0; i < s.params.size(); ++i) {
    const Param &a = s.params[i], &b = back.params[i];
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.kind, b.kind) << a.name;
    EXPECT_EQ(a.values, b.values) << a.name;
    EXPECT_EQ(a.min, b.min) << a.name;
    EXPECT_EQ(a.max, b.max) << a.name;
    EXPECT_EQ(a.step, b.step) << a.name;
    EXPECT_EQ(a.log, b.log) << a.name;
  }
  EXPECT_EQ(back.fixed, s.fixed);
  EXPECT_EQ(back.train_toml, s.train_toml);
  EXPECT_EQ(back.tuner.tuner, "random");
  EXPECT_EQ(back.tuner.objective, "val_acc");
  EXPECT_EQ(back.tuner.trials, 12);
  EXPECT_EQ(back.tuner.seed, 7u);
  // Hyperband settings too.
  s.tuner.tuner = "hyperband";
  s.tuner.max_epochs = 81;
  s.tuner.factor = 4;
  s.tuner.iterations = 2;
  const Space hb = space_from_json(to_json(s));
  EXPECT_EQ(hb.tuner.tuner, "hyperband");
  EXPECT_EQ(hb.tuner.max_epochs, 81);
  EXPECT_EQ(hb.tuner.factor, 4);
  EXPECT_EQ(hb.tuner.iterations, 2);
  // What this version did not write.
  EXPECT_THROW(space_from_json(json::object()), core::RuntimeError);
  json broken = j;
  broken["params"][0].erase("kind");
  EXPECT_THROW(space_from_json(broken), core::RuntimeError);
}

std::string rungs_text(const Bracket& b) {
  std::string out;
  for (const auto& r : b.rungs) {
    out += (out.empty() ? "" : " ") + std::to_string(r.trials) + "@" + std::to_string(r.epochs);
  }
  return out;
}

TEST(Hyperband, NineEpochsFactorThree) {
  const auto b = hyperband_brackets(9, 3);
  ASSERT_EQ(b.size(), 3u);
  EXPECT_EQ(b[0].s, 2);
  EXPECT_EQ(b[0].configs, 9);
  EXPECT_EQ(rungs_text(b[0]), "9@1 3@3 1@9");
  EXPECT_EQ(b[1].s, 1);
  EXPECT_EQ(b[1].configs, 5);
  EXPECT_EQ(rungs_text(b[1]), "5@3 1@9");
  EXPECT_EQ(b[2].s, 0);
  EXPECT_EQ(b[2].configs, 3);
  EXPECT_EQ(rungs_text(b[2]), "3@9");
  EXPECT_EQ(hyperband_epochs(b), 69);  // 9 + 6 + 6, 15 + 6, 27
  EXPECT_EQ(hyperband_configs(b), 17);
}

TEST(Hyperband, SmallAndUnevenBudgets) {
  const auto three = hyperband_brackets(3, 3);
  ASSERT_EQ(three.size(), 2u);
  EXPECT_EQ(three[0].configs, 3);
  EXPECT_EQ(rungs_text(three[0]), "3@1 1@3");
  EXPECT_EQ(three[1].configs, 2);
  EXPECT_EQ(rungs_text(three[1]), "2@3");
  EXPECT_EQ(hyperband_epochs(three), 11);
  EXPECT_EQ(hyperband_configs(three), 5);

  const auto one = hyperband_brackets(1, 3);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].configs, 1);
  EXPECT_EQ(rungs_text(one[0]), "1@1");
  EXPECT_EQ(hyperband_epochs(one), 1);

  // 10 epochs: the rounded rungs of 9, with every bracket's last rung at 10.
  const auto ten = hyperband_brackets(10, 3);
  ASSERT_EQ(ten.size(), 3u);
  for (const auto& b : ten) {
    ASSERT_FALSE(b.rungs.empty());
    EXPECT_EQ(b.rungs.back().epochs, 10) << b.s;
  }
  EXPECT_EQ(rungs_text(ten[0]), "9@1 3@3 1@10");
  EXPECT_EQ(rungs_text(ten[1]), "5@3 1@10");
  EXPECT_EQ(rungs_text(ten[2]), "3@10");
  EXPECT_EQ(hyperband_epochs(ten), 74);

  EXPECT_TRUE(hyperband_brackets(0, 3).empty());
  EXPECT_TRUE(hyperband_brackets(9, 1).empty());
}

TEST(Hyperband, LiEtAlTableForR81) {
  // Li et al. 2018, Table 1 (R = 81, eta = 3).
  const auto b = hyperband_brackets(81, 3);
  ASSERT_EQ(b.size(), 5u);
  EXPECT_EQ(rungs_text(b[0]), "81@1 27@3 9@9 3@27 1@81");
  EXPECT_EQ(rungs_text(b[1]), "34@3 11@9 3@27 1@81");
  EXPECT_EQ(rungs_text(b[2]), "15@9 5@27 1@81");
  EXPECT_EQ(rungs_text(b[3]), "8@27 2@81");
  EXPECT_EQ(rungs_text(b[4]), "5@81");
  EXPECT_EQ(hyperband_configs(b), 143);
}

// Four trials over filters x lr: two tie at 0.98 (trial 4 in fewer epochs), one failed.
SearchState sample_state() {
  SearchState st;
  st.space = parse(
      "[train]\narch = \"C{filters}v-P-128-10\"\nepochs = 3\n[space]\nfilters = [32, 64]\n"
      "lr = [0.01, 0.001]\n");
  auto add = [&](const std::string& id, int filters, double lr, std::optional<double> score,
                 int epochs) {
    TrialRecord t;
    t.id = id;
    t.params = point_of({{"filters", filters}, {"lr", lr}});
    t.score = score;
    t.epochs = epochs;
    t.best_epoch = score ? epochs : 0;
    t.status = score ? "done" : "failed";
    t.seconds = 65;
    st.trials.push_back(t);
  };
  add("trial-0001", 32, 0.01, 0.95, 3);
  add("trial-0002", 64, 0.01, 0.98, 3);
  add("trial-0003", 32, 0.001, std::nullopt, 0);
  add("trial-0004", 64, 0.001, 0.98, 2);
  st.trials[1].stopped_early = true;
  st.trials[2].error = "boom | bang";
  st.trials[3].bracket = 0;
  st.trials[3].rung_scores = {0.9, 0.98};
  st.trials[3].target_epochs = 3;
  return st;
}

std::vector<std::string> ids(const std::vector<const TrialRecord*>& trials) {
  std::vector<std::string> out;
  for (const auto* t : trials) out.push_back(t->id);
  return out;
}

TEST(TuneSearch, StateRoundTrip) {
  const SearchState st = sample_state();
  const json j = to_json(st);
  EXPECT_EQ(j["format"], "digitlab-search");
  EXPECT_EQ(j["version"], 1);
  const SearchState back = state_from_json(j, "search.json");
  EXPECT_EQ(to_json(back), j);
  ASSERT_EQ(back.trials.size(), 4u);
  EXPECT_EQ(back.trials[0].id, "trial-0001");
  EXPECT_EQ(back.trials[0].params, st.trials[0].params);
  EXPECT_FALSE(back.trials[2].score.has_value());
  EXPECT_EQ(back.trials[2].status, "failed");
  EXPECT_EQ(back.trials[2].error, "boom | bang");
  EXPECT_TRUE(back.trials[1].stopped_early);
  ASSERT_TRUE(back.trials[3].score.has_value());
  EXPECT_EQ(*back.trials[3].score, 0.98);
  EXPECT_EQ(back.trials[3].bracket, 0);
  EXPECT_EQ(back.trials[3].rung_scores, (std::vector<double>{0.9, 0.98}));
  EXPECT_EQ(back.trials[3].target_epochs, 3);
  EXPECT_EQ(back.trials[3].seconds, 65);

  // Through the file.
  TempDir dir;
  EXPECT_EQ(state_path(dir.path()), dir / "search.json");
  save_state(dir.path(), st);
  EXPECT_TRUE(core::file_exists(dir / "search.json"));
  EXPECT_EQ(to_json(load_state(dir.path())), j);
  TempDir empty;
  EXPECT_THROW(load_state(empty.path()), core::RuntimeError);
  core::write_file_atomic(empty / "search.json", "{not json");
  EXPECT_THROW(load_state(empty.path()), core::RuntimeError);

  // Documents this version did not write.
  json other = j;
  other["format"] = "digitlab-run";
  EXPECT_THROW(state_from_json(other, "x.json"), core::RuntimeError);
  try {
    state_from_json(other, "x.json");
  } catch (const core::RuntimeError& e) {
    EXPECT_TRUE(has(e.what(), "x.json: not a digitlab search state")) << e.what();
  }
  json newer = j;
  newer["version"] = 2;
  EXPECT_THROW(state_from_json(newer, "x.json"), core::RuntimeError);
  EXPECT_THROW(state_from_json(json::array(), "x.json"), core::RuntimeError);
  json bad_trial = j;
  bad_trial["trials"][0].erase("status");
  EXPECT_THROW(state_from_json(bad_trial, "x.json"), core::RuntimeError);
}

// Right format, wrong insides: still a RuntimeError, never a JSON library exception.
TEST(TuneSearch, MalformedStateIsARuntimeError) {
  json no_space = to_json(sample_state());
  no_space.erase("space");
  EXPECT_THROW(state_from_json(no_space, "x.json"), core::RuntimeError);
  EXPECT_THROW(state_from_json(json{{"format", 1}, {"version", 1}}, "x.json"), core::RuntimeError);
  EXPECT_THROW(state_from_json(json{{"format", "digitlab-search"}, {"version", "1"}}, "x.json"),
               core::RuntimeError);
}

TEST(TuneSearch, ReadTrialMetrics) {
  TempDir dir;
  core::write_file_atomic(
      dir / "metrics.jsonl",
      "{\"epoch\": 1, \"train_loss\": 0.5, \"val_loss\": 0.30, \"val_acc\": 0.90}\n"
      "{\"epoch\": 2, \"train_loss\": 0.3, \"val_loss\": 0.20, \"val_acc\": 0.95}\n"
      "{\"epoch\": 3, \"train_loss\": 0.2, \"val_loss\": 0.25, \"val_acc\": 0.96}\n"
      "{\"epoch\": 4, \"train_loss\": 0.1, \"val_lo");  // a run killed mid-write
  const TrialMetrics acc = read_trial_metrics(dir.path(), "val_acc");
  EXPECT_EQ(acc.epochs, 3);
  ASSERT_TRUE(acc.score.has_value());
  EXPECT_DOUBLE_EQ(*acc.score, 0.96);
  EXPECT_EQ(acc.best_epoch, 3);
  const TrialMetrics loss = read_trial_metrics(dir.path(), "val_loss");
  EXPECT_EQ(loss.epochs, 3);
  ASSERT_TRUE(loss.score.has_value());
  EXPECT_DOUBLE_EQ(*loss.score, 0.20);
  EXPECT_EQ(loss.best_epoch, 2);

  const TrialMetrics none = read_trial_metrics(dir / "absent", "val_acc");
  EXPECT_EQ(none.epochs, 0);
  EXPECT_FALSE(none.score.has_value());
  EXPECT_EQ(none.best_epoch, 0);

  // Without validation the epochs count, with no score.
  TempDir noval;
  core::write_file_atomic(noval / "metrics.jsonl",
                          "{\"epoch\": 1, \"val_loss\": null, \"val_acc\": null}\n");
  const TrialMetrics nv = read_trial_metrics(noval.path(), "val_acc");
  EXPECT_EQ(nv.epochs, 1);
  EXPECT_FALSE(nv.score.has_value());

  EXPECT_TRUE(better("val_acc", 0.9, 0.8));
  EXPECT_FALSE(better("val_acc", 0.8, 0.9));
  EXPECT_TRUE(better("val_loss", 0.1, 0.2));
  EXPECT_FALSE(better("val_loss", 0.2, 0.1));
}

// A line that is JSON but not a metrics record is skipped like one that is not JSON.
TEST(TuneSearch, MetricsWithABadEpochAreSkipped) {
  TempDir dir;
  core::write_file_atomic(
      dir / "metrics.jsonl",
      "{\"epoch\": 1, \"val_acc\": 0.9}\n{\"epoch\": \"2\", \"val_acc\": 0.95}\n");
  TrialMetrics m;
  EXPECT_NO_THROW(m = read_trial_metrics(dir.path(), "val_acc"));
  EXPECT_GE(m.epochs, 1);
}

TEST(TuneSearch, RankedByObjective) {
  SearchState st = sample_state();
  // val_acc: higher first; the tie goes to fewer epochs; unscored last.
  EXPECT_EQ(ids(ranked(st)),
            (std::vector<std::string>{"trial-0004", "trial-0002", "trial-0001", "trial-0003"}));
  st.space.tuner.objective = "val_loss";
  EXPECT_EQ(ids(ranked(st)),
            (std::vector<std::string>{"trial-0001", "trial-0004", "trial-0002", "trial-0003"}));
  EXPECT_EQ(total_epochs(st), 8);
}

TEST(TuneSearch, ResultsSummary) {
  const SearchState st = sample_state();
  const std::string text = results_summary(st, "runs/search");
  EXPECT_TRUE(has(text, "Results summary"));
  EXPECT_TRUE(has(text,
                  "Results summary\nResults in runs/search\nShowing 3 best trials\n"
                  "Objective(name=\"val_acc\", direction=\"max\")\n"))
      << text;
  EXPECT_TRUE(has(text,
                  "\nTrial 0004 summary\nHyperparameters:\nfilters: 64\nlr: 0.001\nScore: 0.98\n"
                  "Epochs: 2\n"))
      << text;
  EXPECT_TRUE(has(text, "Trial 0002 summary")) << text;
  EXPECT_TRUE(has(text, "Epochs: 3 (stopped early)")) << text;
  EXPECT_TRUE(has(text, "Score:")) << text;
  EXPECT_FALSE(has(text, "Trial 0003")) << text;  // no score, not shown
  EXPECT_LT(text.find("Trial 0004"), text.find("Trial 0002"));
  EXPECT_LT(text.find("Trial 0002"), text.find("Trial 0001"));
  const std::string top1 = results_summary(st, "runs/search", 1);
  EXPECT_TRUE(has(top1, "Showing 1 best trials")) << top1;
  EXPECT_TRUE(has(top1, "Trial 0004 summary")) << top1;
  EXPECT_FALSE(has(top1, "Trial 0002")) << top1;

  SearchState loss = st;
  loss.space.tuner.objective = "val_loss";
  EXPECT_TRUE(has(results_summary(loss, "d"), "Objective(name=\"val_loss\", direction=\"min\")"));
}

TEST(TuneSearch, Leaderboards) {
  const SearchState st = sample_state();
  const std::string md = leaderboard_markdown(st, "runs/search");
  EXPECT_TRUE(has(md,
                  "# Search results: runs/search\n\nTuner grid, objective val_acc (higher is "
                  "better), 4 trials, 8 epochs in all.\n\n"))
      << md;
  EXPECT_TRUE(has(md,
                  "| rank | trial | filters | lr | val_acc | epochs | best epoch | time | status "
                  "|\n|---:|---|---|---|---:|---:|---:|---:|---|\n"))
      << md;
  EXPECT_TRUE(has(md, "| 1 | trial-0004 | 64 | 0.001 | 0.9800 | 2 | 2 | 1:05 | done |\n")) << md;
  EXPECT_TRUE(
      has(md, "| 2 | trial-0002 | 64 | 0.01 | 0.9800 | 3 | 3 | 1:05 | done, stopped early |\n"))
      << md;
  EXPECT_TRUE(has(md, "| 3 | trial-0001 | 32 | 0.01 | 0.9500 | 3 | 3 | 1:05 | done |\n")) << md;
  EXPECT_TRUE(
      has(md, "| - | trial-0003 | 32 | 0.001 | - | 0 | 0 | 1:05 | failed: boom \\| bang |\n"))
      << md;
  // One row per trial.
  size_t rows = 0;
  for (size_t pos = 0; (pos = md.find("| trial-", pos)) != std::string::npos; ++pos) ++rows;
  EXPECT_EQ(rows, 4u);

  const json j = leaderboard_json(st, "runs/search");
  EXPECT_EQ(j["objective"], "val_acc");
  EXPECT_EQ(j["direction"], "max");
  EXPECT_EQ(j["total_epochs"], 8);
  ASSERT_EQ(j["trials"].size(), 4u);
  EXPECT_EQ(j["trials"][0]["id"], "trial-0004");
  EXPECT_EQ(j["trials"][0]["run_dir"], "runs/search/trial-0004");
  EXPECT_EQ(j["trials"][0]["params"]["filters"], 64);
  EXPECT_TRUE(j["trials"][3]["score"].is_null());
}

TEST(TuneSearch, BestConfigRetrainsTheBestTrial) {
  const SearchState st = sample_state();
  const std::string text = best_config_toml(st, "runs/search");
  EXPECT_EQ(text,
            "# The best trial of the search in runs/search: trial-0004, val_acc 0.98 after 2 "
            "epochs.\n# Hyperparameters: filters=64 lr=0.001\n# Retrain: digitlab train --config "
            "runs/search/best.toml\narch = \"C64v-P-128-10\"\nepochs = 3\nlr = 0.001\n");
  core::Settings s;
  ASSERT_NO_THROW(s.load_config_text(text, false, train::train_option_keys(), "best"));
  EXPECT_EQ(s.get_string("arch", ""), "C64v-P-128-10");
  EXPECT_DOUBLE_EQ(s.get_double("lr", 0), 0.001);
  EXPECT_EQ(s.get_int("epochs", 0), 3);
  EXPECT_FALSE(s.has("filters"));
  const train::TrainOptions o = train::train_options_from(s);
  EXPECT_EQ(o.arch, "C64v-P-128-10");
  EXPECT_DOUBLE_EQ(o.lr, 0.001);

  // Under Hyperband the best trial is retrained to the epochs it reached.
  SearchState hb = sample_state();
  hb.space.tuner.tuner = "hyperband";
  hb.space.tuner.max_epochs = 9;
  hb.trials[3].target_epochs = 9;
  const std::string hb_text = best_config_toml(hb, "runs/hb");
  EXPECT_TRUE(has(hb_text, "\nepochs = 9\n")) << hb_text;
  EXPECT_FALSE(has(hb_text, "epochs = 3")) << hb_text;
  core::Settings hs;
  ASSERT_NO_THROW(hs.load_config_text(hb_text, false, train::train_option_keys(), "best"));
  EXPECT_EQ(hs.get_int("epochs", 0), 9);

  SearchState none = sample_state();
  for (auto& t : none.trials) t.score.reset();
  EXPECT_THROW(best_config_toml(none, "runs/none"), core::RuntimeError);
}

}  // namespace
}  // namespace digitlab::tune
