// Builds a torch network from an architecture spec, and the loss/probabilities of its head.
#pragma once

#include <torch/torch.h>

#include "models/spec.h"

namespace digitlab::models {

// Requires: count_parameters(spec, num_classes, input) succeeds (it is called here and throws
// core::UsageError otherwise). Guarantees: maps [N,C,H,W] to [N,num_classes] outputs of the head:
// logits (softmax), log-probabilities (logsoftmax) or probabilities (sigmoid).
torch::nn::Sequential build_network(const ArchSpec& spec, int64_t num_classes = 10,
                                    InputShape input = {});

// Mean loss of outputs against int64 class targets, as the head defines it.
torch::Tensor head_loss(Head head, const torch::Tensor& outputs, const torch::Tensor& targets);

// Per-class probabilities [N,K] from outputs (rows of sigmoid outputs are renormalized).
torch::Tensor head_probabilities(Head head, const torch::Tensor& outputs);

}  // namespace digitlab::models
