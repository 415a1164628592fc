// Line reader checkpoints: a models::LineNet's weights and what `read` needs to know of it.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "models/line_net.h"

namespace digitlab::train {

constexpr const char* kLineCheckpointFormat = "digitlab-line-reader";
// The layer layout of models::LineNet the weights belong to (2: pooling before batch norm, two
// layers over the columns). Loading refuses another layout, and names an earlier one (saved
// without the key) when its weights do not fit.
constexpr int kLineLayout = 2;

// Writes `meta` (JSON: spec, epoch, metrics, options) and the weights to `path` through a
// temporary file and a rename; sets meta's "format". Throws core::RuntimeError naming the path;
// an earlier file stays intact.
void save_line_checkpoint(const std::string& path, models::LineNet& net, nlohmann::json meta);

struct LoadedLineReader {
  nlohmann::json meta;
  models::LineSpec spec;
  models::LineNet net{nullptr};  // weights loaded, in eval mode
  std::string path;
};

// True when `run_dir_or_file` (resolved as load_checkpoint resolves it) is a line reader's
// checkpoint; false for anything else, readable or not.
bool is_line_checkpoint(const std::string& run_dir_or_file);

// Loads a line reader's run directory (checkpoints/best.pt) or checkpoint file. Throws
// core::RuntimeError naming the file for a missing, unreadable or foreign one.
LoadedLineReader load_line_checkpoint(const std::string& run_dir_or_file);

}  // namespace digitlab::train
