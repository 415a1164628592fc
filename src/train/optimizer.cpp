// Building the optimizer of a run from its options.
#include "train/optimizer.h"

#include <vector>

#include "train/fused_adam.h"

namespace digitlab::train {

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const TrainOptions& o,
                                                        torch::nn::Sequential& net) {
  std::vector<torch::Tensor> params;
  for (const auto& p : net->parameters()) {
    if (p.requires_grad()) params.push_back(p);
  }
  if (o.optimizer == "adam") {
    return std::make_unique<FusedAdam>(
        params, torch::optim::AdamOptions(o.lr).weight_decay(o.weight_decay));
  }
  if (o.optimizer == "adamw") {
    return std::make_unique<torch::optim::AdamW>(
        params, torch::optim::AdamWOptions(o.lr).weight_decay(o.weight_decay));
  }
  if (o.optimizer == "rmsprop") {
    return std::make_unique<torch::optim::RMSprop>(
        params,
        torch::optim::RMSpropOptions(o.lr).momentum(o.momentum).weight_decay(o.weight_decay));
  }
  return std::make_unique<torch::optim::SGD>(
      params, torch::optim::SGDOptions(o.lr).momentum(o.momentum).weight_decay(o.weight_decay));
}

}  // namespace digitlab::train
