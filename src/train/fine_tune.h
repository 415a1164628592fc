// Fine-tuning: starting a network from a trained model's weights, and freezing its first layers.
#pragma once

#include <cstdint>
#include <string>

#include <torch/torch.h>

#include "data/normalization.h"
#include "models/spec.h"

namespace digitlab::train {

// The spec and model name a run started from `source` (a run directory or checkpoint) trains
// when it names none: the source's, with the output layer resized to `num_classes`. Throws
// core::RuntimeError for an unreadable source, core::UsageError for an ensemble or k-nearest
// neighbours.
std::string init_spec(const std::string& source, int64_t num_classes, std::string& model);

struct InitSource {
  data::Normalization normalization;  // what the source's weights expect
  std::string note;  // one line when the output layer starts fresh (another class count)
};

// Requires `net` built from `spec` for `num_classes` (not yet moved or converted). Copies every
// weight and buffer of `source` into it; when only the output layer's size differs (another class
// count) that layer keeps its fresh initialization and `note` says so. Throws core::UsageError
// naming both specs when the architectures differ, core::RuntimeError for an unreadable source.
InitSource init_from(const std::string& source, const models::ArchSpec& spec, int64_t num_classes,
                     torch::nn::Sequential& net);

// Layers that hold weights (convolutions, dense and batch-norm layers), in spec order.
int count_weight_layers(torch::nn::Sequential& net);

// Requires 0 <= n. Turns off the gradient of the first `n` weight layers' parameters, so that
// make_optimizer() leaves them out. Throws core::UsageError naming --freeze when n is more than
// the network's weight layers.
void freeze_layers(torch::nn::Sequential& net, int n);

// Puts the batch-norm layers among the first `n` weight layers in eval mode, so a training
// forward neither updates their running statistics nor normalizes by the batch's. Call after
// every net->train().
void keep_frozen_statistics(torch::nn::Sequential& net, int n);

}  // namespace digitlab::train
