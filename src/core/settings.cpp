// Layered option values with typed reads and config-file loading.
#include "core/settings.h"
#include "core/json.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <sstream>

#include <toml++/toml.h>

#include "core/error.h"
#include "core/files.h"

namespace digitlab::core {

const char* source_name(Source s) {
  switch (s) {
    case Source::kDefault:
      return "default";
    case Source::kConfig:
      return "config file";
    case Source::kEnv:
      return "environment";
    case Source::kFlag:
      return "flag";
  }
  return "?";
}

std::string key_from_flag(const std::string& flag) {
  std::string k = flag;
  while (!k.empty() && k.front() == '-') k.erase(k.begin());
  std::replace(k.begin(), k.end(), '-', '_');
  return k;
}

std::string env_name(const std::string& key) {
  std::string e = "DIGITLAB_";
  for (char c : key) e.push_back(c == '-' || c == '.' ? '_' : char(std::toupper((unsigned char)c)));
  return e;
}

void Settings::set(const std::string& key, const std::string& value, Source source,
                   const std::string& origin) {
  auto it = values_.find(key);
  if (it != values_.end() && it->second.source > source) return;
  values_[key] = Entry{value, source, origin};
}

namespace {

void flatten_json(const nlohmann::json& j, const std::string& prefix,
                  std::vector<std::pair<std::string, std::string>>& out) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    std::string key = prefix.empty() ? it.key() : prefix + "." + it.key();
    if (it->is_object()) {
      flatten_json(*it, key, out);
    } else if (it->is_string()) {
      out.emplace_back(key, it->get<std::string>());
    } else {
      out.emplace_back(key, it->dump());
    }
  }
}

}  // namespace

void Settings::load_config_file(const std::string& path,
                                const std::vector<std::string>& known_keys) {
  const bool is_json = path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0;
  load_config_text(read_file(path), is_json, known_keys, path);
}

void Settings::load_config_text(const std::string& text, bool json,
                                const std::vector<std::string>& known_keys,
                                const std::string& origin) {
  std::vector<std::pair<std::string, std::string>> pairs;
  if (json) {
    std::string error;
    const nlohmann::json j = parse_json(text, &error);
    if (j.is_discarded()) throw RuntimeError(origin + ": not valid JSON (" + one_line(error) + ")");
    if (!j.is_object()) throw RuntimeError(origin + ": expected a JSON object of option = value");
    flatten_json(j, "", pairs);
  } else {
    toml::table tbl;
    try {
      tbl = toml::parse(text, origin);
    } catch (const toml::parse_error& e) {
      std::ostringstream msg;
      msg << origin << ":" << e.source().begin.line << ": not valid TOML (" << e.description()
          << ")";
      throw RuntimeError(msg.str());
    }
    // TOML's own JSON formatter gives typed values in a form flatten_json understands.
    std::ostringstream js;
    js << toml::json_formatter{tbl};
    std::string error;
    const nlohmann::json j = parse_json(js.str(), &error);
    if (j.is_discarded()) throw RuntimeError(origin + ": " + one_line(error));
    flatten_json(j, "", pairs);
  }
  for (auto& [key, value] : pairs) {
    std::string k = key_from_flag(key);
    const std::string table = k.substr(0, k.find('.'));
    if (!known_keys.empty() &&
        std::find(known_keys.begin(), known_keys.end(), table) == known_keys.end()) {
      throw UsageError(origin + ": unknown option '" + key + "'");
    }
    set(k, value, Source::kConfig, origin);
  }
}

bool Settings::has(const std::string& key) const { return values_.count(key) > 0; }

std::vector<std::string> Settings::keys_with_prefix(const std::string& prefix) const {
  std::vector<std::string> out;
  for (auto it = values_.lower_bound(prefix);
       it != values_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    out.push_back(it->first);
  }
  return out;
}

std::optional<std::string> Settings::raw(const std::string& key) const {
  auto it = values_.find(key);
  if (it == values_.end()) return std::nullopt;
  return it->second.value;
}

void Settings::bad_value(const std::string& key, const Entry& e, const char* what) const {
  std::string where;
  switch (e.source) {
    case Source::kFlag:
      where = "--" + key;
      break;
    case Source::kEnv:
      where = env_name(key);
      break;
    case Source::kConfig:
      where = e.origin + ": " + key;
      break;
    case Source::kDefault:
      where = key;
      break;
  }
  std::replace(where.begin(), where.end(), '_', e.source == Source::kFlag ? '-' : '_');
  throw UsageError(where + ": '" + e.value + "' is not " + what);
}

std::string Settings::get_string(const std::string& key, const std::string& fallback) const {
  auto it = values_.find(key);
  return it == values_.end() ? fallback : it->second.value;
}

long long Settings::get_int(const std::string& key, long long fallback) const {
  auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  const std::string& v = it->second.value;
  try {
    size_t used = 0;
    long long x = std::stoll(v, &used);
    if (used != v.size()) bad_value(key, it->second, "a whole number");
    return x;
  } catch (const std::logic_error&) {
    bad_value(key, it->second, "a whole number");
  }
}

int Settings::get_int32(const std::string& key, int fallback) const {
  const long long x = get_int(key, fallback);
  if (x < std::numeric_limits<int>::min() || x > std::numeric_limits<int>::max()) {
    bad_value(key, values_.find(key)->second, "a whole number in the int range");
  }
  return static_cast<int>(x);
}

double Settings::get_double(const std::string& key, double fallback) const {
  auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  const std::string& v = it->second.value;
  try {
    size_t used = 0;
    double x = std::stod(v, &used);
    // stod reads "nan" and "inf" too; no option means them, and NaN passes every range check
    // written as `x < lo || x >= hi` (fuzz_config's regress-momentum-nan: momentum = nan).
    if (used != v.size() || !std::isfinite(x)) bad_value(key, it->second, "a finite number");
    return x;
  } catch (const std::logic_error&) {
    bad_value(key, it->second, "a finite number");
  }
}

bool Settings::get_bool(const std::string& key, bool fallback) const {
  auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  std::string v = it->second.value;
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::tolower(c); });
  if (v == "1" || v == "true" || v == "yes" || v == "on") return true;
  if (v == "0" || v == "false" || v == "no" || v == "off") return false;
  bad_value(key, it->second, "true or false");
}

nlohmann::json Settings::to_json() const {
  nlohmann::json j = nlohmann::json::object();
  for (auto& [k, e] : values_) j[k] = {{"value", e.value}, {"source", source_name(e.source)}};
  return j;
}

}  // namespace digitlab::core
