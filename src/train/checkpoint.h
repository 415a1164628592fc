// Self-describing checkpoints: weights plus the metadata every later command needs.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/normalization.h"
#include "models/spec.h"

namespace digitlab::train {

constexpr const char* kCheckpointFormat = "digitlab-checkpoint";
constexpr int kCheckpointVersion = 1;

// What a checkpoint says about itself (stored as JSON inside the file).
struct CheckpointMeta {
  std::string model;  // zoo name or "custom"
  std::string spec;
  std::string dataset;
  std::vector<std::string> class_names;
  data::Normalization normalization;
  nlohmann::json options;  // TrainOptions as JSON
  int epoch = 0;
  nlohmann::json metrics;  // the epoch's EpochEnd JSON
  int64_t parameters = 0;

  nlohmann::json to_json() const;
  static CheckpointMeta from_json(const nlohmann::json& j);
};

// Writes weights and metadata to `path` through a temporary file and a rename.
// Throws core::RuntimeError naming the path when it cannot be written.
void save_checkpoint(const std::string& path, torch::nn::Sequential& net,
                     const CheckpointMeta& meta);

struct LoadedCheckpoint {
  CheckpointMeta meta;
  models::ArchSpec spec;
  torch::nn::Sequential net;  // built from the spec, weights loaded, in eval mode
  std::string path;
};

// Resolves a run directory (its checkpoints/best.pt) or a checkpoint file and loads it.
// Throws core::RuntimeError naming the file for a missing, truncated, foreign or mismatched one.
LoadedCheckpoint load_checkpoint(const std::string& run_dir_or_file);

// The checkpoint path `load_checkpoint` would read for a run directory or file.
std::string resolve_checkpoint_path(const std::string& run_dir_or_file);

}  // namespace digitlab::train
