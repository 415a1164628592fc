// Search spaces: parsing, checking against train options, grid and random points.
#include "tune/space.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <set>
#include <sstream>

#include <toml++/toml.h>

#include "core/error.h"
#include "core/settings.h"
#include "models/spec.h"
#include "models/zoo.h"
#include "train/options.h"

namespace digitlab::tune {
namespace {

using core::UsageError;
using nlohmann::json;

// Keys the tuner owns: every trial gets its own run directory, and flags that take no value.
const std::set<std::string> kReserved = {"out", "resume", "overwrite", "drop_last"};

bool is_train_key(const std::string& key) {
  const auto& keys = train::train_option_keys();
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

std::string top_key(const std::string& key) { return key.substr(0, key.find('.')); }

// Rounds to 12 significant digits, so 0.1 + 2 * 0.1 is 0.3 in a grid.
double clean(double v) {
  if (v == 0 || !std::isfinite(v)) return v;
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.12g", v);
  return std::strtod(buf, nullptr);
}

std::string whole_number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.0f", v);
  return buf;
}

double round_sig(double v, int digits) {
  if (v == 0 || !std::isfinite(v)) return v;
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.*g", digits, v);
  return std::strtod(buf, nullptr);
}

// Flattens a JSON object into dotted keys, normalizing '-' to '_' as config files do.
void flatten(const json& j, const std::string& prefix, std::map<std::string, json>& out) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string key = prefix + core::key_from_flag(it.key());
    if (it->is_object()) {
      flatten(*it, key + ".", out);
    } else {
      out[key] = *it;
    }
  }
}

json toml_to_json(const toml::node& node) {
  std::ostringstream js;
  if (const auto* t = node.as_table()) {
    js << toml::json_formatter{*t};
  } else if (const auto* a = node.as_array()) {
    js << toml::json_formatter{*a};
  } else {
    toml::table wrap;
    wrap.insert("v", node);
    js << toml::json_formatter{wrap};
    return json::parse(js.str())["v"];
  }
  return json::parse(js.str());
}

bool is_scalar(const json& v) { return v.is_number() || v.is_string() || v.is_boolean(); }

std::string toml_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += char(c);
        }
    }
  }
  return out + "\"";
}

std::string toml_value(const json& v) {
  if (v.is_string()) return toml_string(v.get<std::string>());
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number_float()) {
    std::string t = value_text(v);
    if (t.find_first_of(".eEn") == std::string::npos) t += ".0";  // stays a TOML float
    return t;
  }
  if (v.is_number()) return value_text(v);
  if (v.is_array()) {
    std::string out = "[";
    for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + toml_value(v[i]);
    return out + "]";
  }
  return toml_string(v.dump());
}

std::string toml_key(const std::string& key) {
  std::string out;
  size_t start = 0;
  while (true) {
    const size_t dot = key.find('.', start);
    const std::string part = key.substr(start, dot == std::string::npos ? dot : dot - start);
    const bool bare = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
    });
    out += bare ? part : toml_string(part);
    if (dot == std::string::npos) break;
    out += '.';
    start = dot + 1;
  }
  return out;
}

double number(const json& v, const std::string& where) {
  if (!v.is_number()) throw UsageError(where + ": expected a number, got " + v.dump());
  const double d = v.get<double>();
  if (!std::isfinite(d)) throw UsageError(where + ": expected a finite number");
  return d;
}

// Checks a range's bounds, step and sampling; `where` names it in messages.
void check_range(const Param& p, const std::string& where) {
  if (p.min > p.max) {
    throw UsageError(where + ": empty range (min " + value_text(p.min) + " > max " +
                     value_text(p.max) + ")");
  }
  if (p.step < 0) throw UsageError(where + ": step must be > 0");
  if (p.log && p.min <= 0) {
    throw UsageError(where + ": log sampling needs min > 0 (got " + value_text(p.min) + ")");
  }
  if (p.log && p.step != 0 && p.step <= 1) {
    throw UsageError(where + ": a log range's step multiplies, so it must be > 1 (got " +
                     value_text(p.step) + ")");
  }
  if (!std::isfinite(p.max - p.min)) throw UsageError(where + ": the range is too wide");
  if (p.step > 0 && !p.log && (p.max - p.min) / p.step > 1e15) {
    throw UsageError(where + ": over 1e15 steps in the range");
  }
  if (p.kind == Param::Kind::kInt &&
      (std::fabs(p.min) > 1e15 || std::fabs(p.max) > 1e15 || std::fabs(p.step) > 1e15)) {
    throw UsageError(where + ": integer bounds beyond 1e15");
  }
}

Param param_from_json(const std::string& name, const json& v, const std::string& where) {
  Param p;
  p.name = core::key_from_flag(name);
  if (p.name.empty()) throw UsageError(where + ": empty parameter name");
  if (v.is_array()) {
    if (v.empty()) throw UsageError(where + ": empty list of choices");
    for (const auto& c : v) {
      if (!is_scalar(c)) {
        throw UsageError(where + ": a choice must be a number, string or boolean, not " + c.dump());
      }
      if (c.is_number_float() && !std::isfinite(c.get<double>())) {
        throw UsageError(where + ": a choice must be finite");
      }
    }
    p.kind = Param::Kind::kChoice;
    p.values = v.get<std::vector<json>>();
    return p;
  }
  if (!v.is_object()) {
    throw UsageError(where +
                     ": expected a list of choices or a table {min, max}; a fixed value "
                     "belongs in [train]");
  }
  if (v.contains("values")) {
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (it.key() != "values") {
        throw UsageError(where + ": '" + it.key() + "' does not go with 'values'");
      }
    }
    return param_from_json(name, v["values"], where);
  }
  for (auto it = v.begin(); it != v.end(); ++it) {
    const std::string& k = it.key();
    if (k != "min" && k != "max" && k != "step" && k != "sampling") {
      throw UsageError(where + ": unknown key '" + k + "' (min, max, step, sampling or values)");
    }
  }
  if (!v.contains("min") || !v.contains("max")) {
    throw UsageError(where + ": a range needs both min and max");
  }
  p.min = number(v["min"], where + ".min");
  p.max = number(v["max"], where + ".max");
  const bool ints = v["min"].is_number_integer() && v["max"].is_number_integer() &&
                    (!v.contains("step") || v["step"].is_number_integer());
  p.kind = ints ? Param::Kind::kInt : Param::Kind::kFloat;
  if (v.contains("step")) {
    p.step = number(v["step"], where + ".step");
    if (p.step <= 0) throw UsageError(where + ": step must be > 0");
  }
  if (v.contains("sampling")) {
    if (!v["sampling"].is_string()) throw UsageError(where + ": sampling must be a string");
    const std::string s = v["sampling"].get<std::string>();
    if (s == "log") {
      p.log = true;
    } else if (s != "linear") {
      throw UsageError(where + ": unknown sampling '" + s + "' (linear or log)");
    }
  }
  check_range(p, where);
  return p;
}

void set_tuner_key(TunerSettings& t, const std::string& key, const json& v,
                   const std::string& where) {
  auto integer = [&](long long lo, long long hi) {
    if (!v.is_number_integer() || v.get<long long>() < lo || v.get<long long>() > hi) {
      throw UsageError(where + ": expected an integer from " + std::to_string(lo) + " to " +
                       std::to_string(hi) + ", got " + v.dump());
    }
    return v.get<long long>();
  };
  auto text = [&]() {
    if (!v.is_string()) throw UsageError(where + ": expected a string, got " + v.dump());
    return v.get<std::string>();
  };
  if (key == "tuner") {
    t.tuner = text();
    if (t.tuner != "grid" && t.tuner != "random" && t.tuner != "hyperband") {
      throw UsageError(where + ": unknown tuner '" + t.tuner + "' (grid, random or hyperband)");
    }
  } else if (key == "objective") {
    t.objective = text();
    if (t.objective == "val_accuracy") t.objective = "val_acc";
    if (t.objective != "val_acc" && t.objective != "val_loss") {
      throw UsageError(where + ": unknown objective '" + t.objective + "' (val_acc or val_loss)");
    }
  } else if (key == "trials") {
    t.trials = int(integer(1, 100000));
  } else if (key == "max_epochs") {
    t.max_epochs = int(integer(1, 100000));
  } else if (key == "factor") {
    t.factor = int(integer(2, 100));
  } else if (key == "iterations") {
    t.iterations = int(integer(1, 100));
  } else if (key == "seed") {
    t.seed = uint64_t(integer(0, std::numeric_limits<long long>::max()));
  } else {
    throw UsageError(where +
                     ": unknown key (tuner, objective, trials, max_epochs, factor, "
                     "iterations or seed)");
  }
}

// A shorthand value: integer, float, boolean or string.
json typed(const std::string& s) {
  if (s == "true") return true;
  if (s == "false") return false;
  if (!s.empty()) {
    char* end = nullptr;
    errno = 0;
    const long long i = std::strtoll(s.c_str(), &end, 10);
    if (*end == '\0' && errno == 0) return i;
    const double d = std::strtod(s.c_str(), &end);
    if (*end == '\0' && std::isfinite(d) && s.find_first_of("xXnN") == std::string::npos) {
      return d;
    }
  }
  return s;
}

// Values end up in JSON state files, which hold UTF-8 only.
void require_utf8(const std::string& text, const char* flag) {
  try {
    (void)json(text).dump();
  } catch (const json::exception&) {
    throw UsageError(std::string(flag) + ": not valid UTF-8");
  }
}

std::string kind_name(Param::Kind k) {
  switch (k) {
    case Param::Kind::kChoice:
      return "choice";
    case Param::Kind::kInt:
      return "int";
    case Param::Kind::kFloat:
      return "float";
  }
  return "?";
}

// A range's values when it is enumerable (a step, or an int range without log), else empty.
std::vector<json> range_values(const Param& p, size_t limit, bool* enumerable) {
  std::vector<json> out;
  *enumerable = true;
  const bool is_int = p.kind == Param::Kind::kInt;
  if (p.log) {
    if (p.step == 0) {
      *enumerable = false;
      return out;
    }
    for (double v = p.min; v <= p.max * (1 + 1e-9) && out.size() < limit;) {
      if (is_int) {
        const long long i = std::llround(v);
        if (double(i) > p.max) break;
        if (out.empty() || out.back().get<long long>() != i) out.push_back(i);
      } else {
        out.push_back(clean(v));
      }
      const double next = clean(v * p.step);
      if (!(next > v)) break;  // a step too close to 1 to move at 12 digits
      v = next;
    }
    return out;
  }
  const double step = p.step > 0 ? p.step : (is_int ? 1.0 : 0.0);
  if (step == 0) {
    *enumerable = false;
    return out;
  }
  const double count = std::floor((p.max - p.min) / step + 1e-9) + 1;
  for (double k = 0; k < count && out.size() < limit; ++k) {
    const double v = p.min + k * step;
    if (is_int) {
      if (std::llround(v) > std::llround(p.max)) break;
      out.push_back(std::llround(v));
    } else {
      if (clean(v) > p.max && k > 0) break;
      out.push_back(std::min(clean(v), p.max));
    }
  }
  return out;
}

double range_count(const Param& p) {
  if (p.kind == Param::Kind::kChoice) return double(p.values.size());
  if (p.log) {
    if (p.step == 0) return std::numeric_limits<double>::infinity();
    return std::floor(std::log(p.max / p.min) / std::log(p.step) + 1e-9) + 1;
  }
  const double step = p.step > 0 ? p.step : (p.kind == Param::Kind::kInt ? 1.0 : 0.0);
  if (step == 0) return std::numeric_limits<double>::infinity();
  return std::floor((p.max - p.min) / step + 1e-9) + 1;
}

const Param* find_param(const Space& s, const std::string& name) {
  for (const auto& p : s.params) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

}  // namespace

std::string value_text(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number_integer()) return v.dump();
  if (v.is_number_float()) {
    const double d = v.get<double>();
    char buf[40];
    for (int p = 1; p <= 17; ++p) {
      std::snprintf(buf, sizeof buf, "%.*g", p, d);
      if (std::strtod(buf, nullptr) == d) break;
    }
    return buf;
  }
  return v.dump();
}

std::string options_toml(const std::map<std::string, nlohmann::json>& options) {
  std::string out;
  for (const auto& [k, v] : options) out += toml_key(k) + " = " + toml_value(v) + "\n";
  return out;
}

std::vector<std::string> placeholders(const std::string& text) {
  std::vector<std::string> out;
  size_t pos = 0;
  while ((pos = text.find('{', pos)) != std::string::npos) {
    const size_t end = text.find('}', pos + 1);
    if (end == std::string::npos) break;
    out.push_back(core::key_from_flag(text.substr(pos + 1, end - pos - 1)));
    pos = end + 1;
  }
  return out;
}

Space parse_space_text(const std::string& text, const std::string& origin) {
  toml::table tbl;
  try {
    tbl = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << origin << ":" << e.source().begin.line << ": not valid TOML (" << e.description() << ")";
    throw core::RuntimeError(msg.str());
  }
  const json doc = toml_to_json(tbl);
  Space space;
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    const std::string& section = it.key();
    const std::string where = origin + ": " + section;
    if (!it->is_object()) {
      throw UsageError(where + ": expected a table ([tune], [train] or [space])");
    }
    if (section == "tune") {
      for (auto t = it->begin(); t != it->end(); ++t) {
        const std::string key = core::key_from_flag(t.key());
        set_tuner_key(space.tuner, key, *t, where + "." + t.key());
        space.tuner_set[key] = true;
      }
    } else if (section == "train") {
      std::map<std::string, json> fixed;
      flatten(*it, "", fixed);
      for (const auto& [k, v] : fixed) {
        if (!is_train_key(top_key(k))) {
          throw UsageError(where + "." + k + ": unknown train option");
        }
        if (kReserved.count(top_key(k)) && top_key(k) != "drop_last") {
          throw UsageError(where + "." + k + ": the tuner gives each trial its own run directory");
        }
        if (v.is_null()) throw UsageError(where + "." + k + ": no value");
      }
      for (const auto& [k, v] : fixed) {
        auto next = fixed.upper_bound(k);
        if (next != fixed.end() && next->first.compare(0, k.size() + 1, k + ".") == 0) {
          throw UsageError(where + "." + k + ": given both as a value and as a table");
        }
      }
      space.fixed = fixed;
    } else if (section == "space") {
      for (auto p = it->begin(); p != it->end(); ++p) {
        add_param(space, param_from_json(p.key(), *p, where + "." + p.key()));
      }
    } else {
      throw UsageError(where + ": unknown table (tune, train or space)");
    }
  }
  space.train_toml = options_toml(space.fixed);
  return space;
}

Param parse_param_shorthand(const std::string& text) {
  require_utf8(text, "--param");
  const std::string where = "--param '" + text + "'";
  const size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == text.size()) {
    throw UsageError(where + ": expected NAME=a,b,c or NAME=MIN..MAX[/STEP][:log]");
  }
  const std::string name = text.substr(0, eq);
  std::string rest = text.substr(eq + 1);
  const size_t dots = rest.find("..");
  if (dots == std::string::npos) {
    json values = json::array();
    std::string item;
    std::istringstream in(rest);
    while (std::getline(in, item, ',')) {
      if (item.empty()) throw UsageError(where + ": an empty choice");
      values.push_back(typed(item));
    }
    if (!rest.empty() && rest.back() == ',') throw UsageError(where + ": an empty choice");
    return param_from_json(name, values, where);
  }
  json range = json::object();
  if (rest.size() > 4 && rest.compare(rest.size() - 4, 4, ":log") == 0) {
    range["sampling"] = "log";
    rest.resize(rest.size() - 4);
  }
  const std::string lo = rest.substr(0, dots);
  std::string hi = rest.substr(dots + 2);
  const size_t slash = hi.find('/');
  if (slash != std::string::npos) {
    range["step"] = typed(hi.substr(slash + 1));
    hi.resize(slash);
  }
  range["min"] = typed(lo);
  range["max"] = typed(hi);
  for (const char* k : {"min", "max", "step"}) {
    if (range.contains(k) && !range[k].is_number()) {
      throw UsageError(where + ": " + k + " '" + value_text(range[k]) + "' is not a number");
    }
  }
  return param_from_json(name, range, where);
}

std::pair<std::string, nlohmann::json> parse_fixed_shorthand(const std::string& text) {
  require_utf8(text, "--set");
  const size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw UsageError("--set '" + text + "': expected KEY=VALUE");
  }
  return {core::key_from_flag(text.substr(0, eq)), typed(text.substr(eq + 1))};
}

void add_param(Space& space, Param p) {
  auto it = std::find_if(space.params.begin(), space.params.end(),
                         [&](const Param& q) { return q.name == p.name; });
  if (it != space.params.end()) {
    *it = std::move(p);
  } else {
    space.params.push_back(std::move(p));
  }
  std::sort(space.params.begin(), space.params.end(),
            [](const Param& a, const Param& b) { return a.name < b.name; });
}

void set_fixed(Space& space, const std::string& key, const nlohmann::json& value) {
  const std::string k = core::key_from_flag(key);
  if (!is_train_key(top_key(k))) throw UsageError("--set " + key + ": unknown train option");
  if (kReserved.count(top_key(k)) && top_key(k) != "drop_last") {
    throw UsageError("--set " + key + ": the tuner gives each trial its own run directory");
  }
  // A dotted key replaces a plain one of the same table, and the other way round.
  for (auto it = space.fixed.begin(); it != space.fixed.end();) {
    if (it->first != k && (top_key(it->first) == k || it->first == top_key(k))) {
      it = space.fixed.erase(it);
    } else {
      ++it;
    }
  }
  space.fixed[k] = value;
  space.train_toml = options_toml(space.fixed);
}

void check_space(const Space& space) {
  if (space.params.empty()) {
    throw UsageError("search space: no parameters to search ([space] in the file, or --param)");
  }
  std::set<std::string> holes;  // placeholders in fixed string options
  for (const auto& [k, v] : space.fixed) {
    if (!v.is_string()) continue;
    for (const auto& h : placeholders(v.get<std::string>())) {
      if (!find_param(space, h)) {
        throw UsageError("train." + k + ": placeholder {" + h + "} has no entry in [space]");
      }
      holes.insert(h);
    }
  }
  for (const auto& p : space.params) {
    const bool option = is_train_key(p.name);
    if (!option && !holes.count(p.name)) {
      throw UsageError("space." + p.name + ": unknown parameter: not a train option and not a {" +
                       p.name + "} placeholder in a [train] value");
    }
    if (option && kReserved.count(p.name)) {
      throw UsageError("space." + p.name + ": not searchable (the tuner owns it)");
    }
    const auto table = space.fixed.lower_bound(p.name + ".");
    if (option && table != space.fixed.end() &&
        table->first.compare(0, p.name.size() + 1, p.name + ".") == 0) {
      throw UsageError("space." + p.name + ": also fixed in [train] as a table; keep one");
    }
    if (option && space.fixed.count(p.name) && !holes.count(p.name)) {
      throw UsageError("space." + p.name + ": also fixed in [train]; keep one");
    }
    if (space.tuner.tuner == "hyperband" && p.name == "epochs") {
      throw UsageError("space.epochs: hyperband sets each trial's epochs itself (max_epochs)");
    }
  }
  if (auto it = space.fixed.find("val_split");
      it != space.fixed.end() && it->second.is_number() && it->second.get<double>() == 0) {
    throw UsageError("train.val_split: 0 leaves no validation data for the objective " +
                     space.tuner.objective);
  }
  if (space.tuner.tuner == "hyperband" && space.tuner.max_epochs < 1) {
    throw UsageError(
        "hyperband: give max_epochs ([tune] max_epochs, --max-epochs or [train] epochs)");
  }
}

std::vector<Point> grid_points(const Space& space, size_t limit) {
  double total = 1;
  for (const auto& p : space.params) {
    const double n = range_count(p);
    if (!std::isfinite(n)) {
      throw UsageError("space." + p.name + ": a grid needs a step for this " + kind_name(p.kind) +
                       (p.log ? " log" : "") + " range");
    }
    total *= std::max(n, 1.0);
  }
  if (total > double(limit)) {
    throw UsageError("search space: the grid has " + whole_number(total) + " points (at most " +
                     std::to_string(limit) + ")");
  }
  std::vector<std::vector<json>> axes;
  for (const auto& p : space.params) {
    if (p.kind == Param::Kind::kChoice) {
      axes.push_back(p.values);
    } else {
      bool enumerable = false;
      axes.push_back(range_values(p, limit, &enumerable));
    }
    if (axes.back().empty()) throw UsageError("space." + p.name + ": no values");
  }
  std::vector<Point> out;
  std::vector<size_t> idx(axes.size(), 0);
  while (true) {
    Point pt;
    for (size_t i = 0; i < axes.size(); ++i) pt[space.params[i].name] = axes[i][idx[i]];
    out.push_back(std::move(pt));
    size_t i = axes.size();
    while (i > 0) {
      --i;
      if (++idx[i] < axes[i].size()) break;
      idx[i] = 0;
      if (i == 0) return out;
    }
    if (axes.empty()) return out;
  }
}

Point sample_point(const Space& space, std::mt19937_64& rng) {
  Point pt;
  for (const auto& p : space.params) {
    if (p.kind == Param::Kind::kChoice) {
      std::uniform_int_distribution<size_t> pick(0, p.values.size() - 1);
      pt[p.name] = p.values[pick(rng)];
      continue;
    }
    const double count = range_count(p);
    if (std::isfinite(count)) {
      std::uniform_int_distribution<long long> pick(0, static_cast<long long>(count) - 1);
      const double k = double(pick(rng));
      double v = p.log ? p.min * std::pow(p.step, k) : p.min + k * (p.step > 0 ? p.step : 1.0);
      v = std::min(v, p.max);
      if (p.kind == Param::Kind::kInt) {
        pt[p.name] = std::llround(v);
      } else {
        pt[p.name] = clean(v);
      }
      continue;
    }
    double v;
    if (p.log) {
      std::uniform_real_distribution<double> u(std::log(p.min), std::log(p.max));
      v = std::exp(u(rng));
    } else {
      std::uniform_real_distribution<double> u(p.min, p.max);
      v = u(rng);
    }
    v = std::clamp(round_sig(v, 6), p.min, p.max);
    if (p.kind == Param::Kind::kInt) {
      pt[p.name] = std::llround(v);
    } else {
      pt[p.name] = v;
    }
  }
  return pt;
}

std::map<std::string, std::string> trial_flags(const Space& space, const Point& point) {
  std::map<std::string, std::string> flags;
  for (const auto& [name, v] : point) {
    if (is_train_key(name)) flags[name] = value_text(v);
  }
  for (const auto& [k, v] : space.fixed) {
    if (!v.is_string()) continue;
    std::string s = v.get<std::string>();
    if (placeholders(s).empty()) continue;
    std::string filled;
    size_t pos = 0;
    while (true) {
      const size_t open = s.find('{', pos);
      const size_t close = open == std::string::npos ? open : s.find('}', open + 1);
      if (close == std::string::npos) {
        filled += s.substr(pos);
        break;
      }
      filled += s.substr(pos, open - pos);
      const std::string name = core::key_from_flag(s.substr(open + 1, close - open - 1));
      auto it = point.find(name);
      if (it == point.end()) {
        throw UsageError("train." + k + ": placeholder {" + name + "} has no entry in [space]");
      }
      filled += value_text(it->second);
      pos = close + 1;
    }
    flags[k] = filled;
  }
  if (auto it = flags.find("arch"); it != flags.end()) {
    try {
      models::count_parameters(models::parse_spec(it->second));
    } catch (const core::Error& e) {
      throw UsageError("trial " + point_text(point) + ": " + e.what());
    }
  }
  return flags;
}

void check_trial(const Space& space, const Point& point,
                 const std::map<std::string, std::string>& env) {
  train::TrainLayers layers;
  layers.config_text = space.train_toml;
  layers.config_origin = "[train]";
  layers.env = env;
  layers.flags = trial_flags(space, point);
  try {
    const train::TrainOptions o = train::train_options_from(train::layer_train_settings(layers));
    // The head comes from the model: checked here, a bad search stops before its first trial
    // instead of every trial failing at its start.
    if (o.label_smoothing > 0) {
      const std::string model = o.model.empty() ? models::kDefaultModel : o.model;
      models::check_label_smoothing(
          models::parse_spec(o.arch.empty() ? models::find_model(model).spec : o.arch),
          o.label_smoothing);
    }
  } catch (const core::Error& e) {
    throw UsageError("trial " + point_text(point) + ": " + e.what());
  }
}

std::string point_text(const Point& p) {
  std::string out;
  for (const auto& [k, v] : p) out += (out.empty() ? "" : " ") + k + "=" + value_text(v);
  return out;
}

nlohmann::json to_json(const Space& s) {
  json params = json::array();
  for (const auto& p : s.params) {
    params.push_back({{"name", p.name},
                      {"kind", kind_name(p.kind)},
                      {"values", p.values},
                      {"min", p.min},
                      {"max", p.max},
                      {"step", p.step},
                      {"log", p.log}});
  }
  json fixed = json::object();
  for (const auto& [k, v] : s.fixed) fixed[k] = v;
  const auto& t = s.tuner;
  return {{"params", params},
          {"fixed", fixed},
          {"tuner",
           {{"tuner", t.tuner},
            {"objective", t.objective},
            {"trials", t.trials},
            {"max_epochs", t.max_epochs},
            {"factor", t.factor},
            {"iterations", t.iterations},
            {"seed", t.seed}}}};
}

Space space_from_json(const nlohmann::json& j) {
  Space s;
  try {
    for (const auto& p : j.at("params")) {
      Param q;
      q.name = p.at("name").get<std::string>();
      const std::string kind = p.at("kind").get<std::string>();
      q.kind = kind == "int"     ? Param::Kind::kInt
               : kind == "float" ? Param::Kind::kFloat
                                 : Param::Kind::kChoice;
      q.values = p.at("values").get<std::vector<json>>();
      q.min = p.at("min").get<double>();
      q.max = p.at("max").get<double>();
      q.step = p.at("step").get<double>();
      q.log = p.at("log").get<bool>();
      s.params.push_back(q);
    }
    for (auto it = j.at("fixed").begin(); it != j.at("fixed").end(); ++it) {
      s.fixed[it.key()] = *it;
    }
    const auto& t = j.at("tuner");
    s.tuner.tuner = t.at("tuner").get<std::string>();
    s.tuner.objective = t.at("objective").get<std::string>();
    s.tuner.trials = t.at("trials").get<int>();
    s.tuner.max_epochs = t.at("max_epochs").get<int>();
    s.tuner.factor = t.at("factor").get<int>();
    s.tuner.iterations = t.at("iterations").get<int>();
    s.tuner.seed = t.at("seed").get<uint64_t>();
  } catch (const json::exception& e) {
    throw core::RuntimeError("search state: the space is malformed (" + core::one_line(e.what()) +
                             ")");
  }
  s.train_toml = options_toml(s.fixed);
  return s;
}

std::string describe(const Param& p) {
  std::string out = p.name + " (" + kind_name(p.kind) + (p.log ? ", log" : "") + "): ";
  if (p.kind == Param::Kind::kChoice) {
    for (size_t i = 0; i < p.values.size(); ++i) {
      out += (i ? ", " : "") + value_text(p.values[i]);
    }
    return out;
  }
  const bool is_int = p.kind == Param::Kind::kInt;
  auto num = [&](double d) { return is_int ? std::to_string(std::llround(d)) : value_text(d); };
  out += num(p.min) + " .. " + num(p.max);
  if (p.step > 0) out += (p.log ? " x" : " step ") + num(p.step);
  return out;
}

}  // namespace digitlab::tune
