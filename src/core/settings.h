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

  // Parses config text as JSON (`json`) or TOML, with the same rules and messages as
  // load_config_file, naming `origin` (a path, or what the text came from) in every error and as
  // the origin of the values it sets. Requires: nothing (any bytes). Guarantees: throws only
  // core::Error (RuntimeError for malformed text, UsageError for an unknown key); on a throw some
  // keys before the bad one may already be set.
  void load_config_text(const std::string& text, bool json,
                        const std::vector<std::string>& known_keys, const std::string& origin);

  bool has(const std::string& key) const;
  // Keys that start with `prefix`, in sorted order.
  std::vector<std::string> keys_with_prefix(const std::string& prefix) const;
  std::optional<std::string> raw(const std::string& key) const;

  // Typed reads; `fallback` when unset. Throw UsageError naming the key, value and its origin.
  // get_int32 also rejects values outside int (no silent narrowing: 4294967297 epochs is not 1);
  // get_double rejects nan and inf, which no option means.
  std::string get_string(const std::string& key, const std::string& fallback) const;
  long long get_int(const std::string& key, long long fallback) const;
  int get_int32(const std::string& key, int fallback) const;
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
