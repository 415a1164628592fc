// Named architectures from the studies, each with its spec and where it comes from.
#pragma once

#include <string>
#include <vector>

namespace digitlab::models {

struct ZooEntry {
  std::string name;
  std::string spec;
  std::string source;       // "seed 002", ...
  std::string description;  // what the study says and what we chose where it is silent
};

// The default model of `digitlab train`: the seed-002 CNN.
constexpr const char* kDefaultModel = "seed002-cnn";

const std::vector<ZooEntry>& zoo();

// Looks a model up by name. Throws core::UsageError listing close names.
const ZooEntry& find_model(const std::string& name);

// `digitlab models [--json]`: name, spec, parameter count, source. Returns the exit code.
int models_command(bool json);

}  // namespace digitlab::models
