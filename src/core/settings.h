// Layered option values: built-in defaults < config file < DIGITLAB_* environment < flags.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace digitlab::core {

// Where a value came from; a later source overrides an earlier one.
enum class Source : int { kDefault = 0, kConfig = 1, kEnv = 2, kFlag = 3 };

const char* source_name(Source s);

// Option values by key (snake_case, as in config files: "batch_size"). Values are kept as text and
// converted on read, so every layer is handled the same way and errors can name where a bad value
// came from.
class Settings {
 public:
  // Sets `key` from `source` unless a higher source already set it.
  void set(const std::string& key, const std::string& value, Source source,
           const std::string& origin = "");

  // Reads a TOML (.toml) or JSON (.json) file of key = value pairs; tables flatten to "a.b" keys.
  // Throws RuntimeError for an unreadable or malformed file, UsageError for a key not in
  // `known_keys` (when non-empty; a table "a" is allowed when "a" is known), naming the file and
  // the key.
  void load_config_file(const std::string& path, const std::vector<std::string>& known_keys);

  bool has(const std::string& key) const;
  // Keys that start with `prefix`, in sorted order.
  std::vector<std::string> keys_with_prefix(const std::string& prefix) const;
  std::optional<std::string> raw(const std::string& key) const;

  // Typed reads; `fallback` when unset. Throw UsageError naming the key, value and its origin.
  std::string get_string(const std::string& key, const std::string& fallback) const;
  long long get_int(const std::string& key, long long fallback) const;
  double get_double(const std::string& key, double fallback) const;
  bool get_bool(const std::string& key, bool fallback) const;

  // Every resolved value with its source, for config.json.
  nlohmann::json to_json() const;

 private:
  struct Entry {
    std::string value;
    Source source;
    std::string origin;
  };
  [[noreturn]] void bad_value(const std::string& key, const Entry& e, const char* what) const;
  std::map<std::string, Entry> values_;
};

// Turns a flag-style key ("batch-size") into a settings key ("batch_size") and back, and gives
// the environment variable name ("DIGITLAB_BATCH_SIZE").
std::string key_from_flag(const std::string& flag);
std::string env_name(const std::string& key);

}  // namespace digitlab::core
