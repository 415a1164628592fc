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
  // last.pt only: where training stands (epoch and batch to continue at, step, the partial
  // epoch's sums, early-stopping state, the finished epochs' metrics), for --resume.
  nlohmann::json resume;
  // Ensembles only (model "ensemble"): how members combine ("average" or "vote") and one object
  // per member {model, spec, normalization, source, epoch}; null for a single network.
  std::string combine;
  nlohmann::json members;
  // SHA-256 of the network's tensors (names, types, shapes, values) and of the training state
  // (optimizer and generator), set by save_checkpoint and verified on load; empty in files
  // written before checksums, which load unverified.
  std::string tensors_sha256;
  std::string state_sha256;

  nlohmann::json to_json() const;
  static CheckpointMeta from_json(const nlohmann::json& j);
};

// Writes weights and metadata to `path` through a temporary file and a rename; with `optimizer`,
// also its state and the CPU random generator's state, which --resume needs. The metadata carries
// checksums of the tensors and of that state, which every load verifies. Throws
// core::RuntimeError naming the path when it cannot be written; an earlier file stays intact.
void save_checkpoint(const std::string& path, torch::nn::Sequential& net,
                     const CheckpointMeta& meta, torch::optim::Optimizer* optimizer = nullptr);

// Resuming, step 1: reads `path`'s metadata and loads its weights into `net`, which must be built
// from the same spec (and not yet moved or converted). Throws core::RuntimeError naming the file
// when it is unreadable, of another architecture, or holds no training state.
CheckpointMeta load_weights_for_resume(const std::string& path, torch::nn::Sequential& net);

// Resuming, step 2: loads the optimizer's state and the CPU random generator's state saved with
// the weights, after verifying their checksum. `optimizer` must be built over the same
// parameters. Throws core::RuntimeError naming the file.
void load_training_state(const std::string& path, torch::optim::Optimizer& optimizer);

// Builds the network a checkpoint's metadata describes (weights uninitialized): the spec's network,
// or for an ensemble a Sequential holding one models::Ensemble. Throws core::UsageError for a spec
// or member list that does not build.
torch::nn::Sequential build_from_meta(const CheckpointMeta& meta, models::ArchSpec& spec);

struct LoadedCheckpoint {
  CheckpointMeta meta;
  models::ArchSpec spec;
  torch::nn::Sequential net;  // built from the spec, weights loaded, in eval mode
  std::string path;
};

// Resolves a run directory (its checkpoints/best.pt) or a checkpoint file and loads it. An ensemble
// checkpoint loads as one network whose input is raw pixel bytes (normalization "none") and whose
// outputs are log-probabilities under a softmax head.
// Throws core::RuntimeError naming the file for a missing, truncated, foreign or mismatched one,
// and for one whose tensors no longer match their recorded checksum (damaged on disk).
LoadedCheckpoint load_checkpoint(const std::string& run_dir_or_file);

// SHA-256 over `net`'s parameters and buffers in order: each one's name, type, shape and values
// (in standard layout, so channels_last and contiguous copies agree).
std::string tensors_sha256(torch::nn::Sequential& net);

// The checkpoint path `load_checkpoint` would read for a run directory or file.
std::string resolve_checkpoint_path(const std::string& run_dir_or_file);

}  // namespace digitlab::train
