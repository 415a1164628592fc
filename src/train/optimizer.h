// The optimizer a train option set names, over the parameters that train.
#pragma once

#include <memory>

#include <torch/torch.h>

#include "train/options.h"

namespace digitlab::train {

// Requires o.optimizer to be one of adam, adamw, sgd, rmsprop (validate() checks it). Guarantees
// an optimizer at o.lr with o's momentum and weight decay over the parameters of `net` that
// require a gradient, so frozen layers are neither stepped nor decayed.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const TrainOptions& o,
                                                        torch::nn::Sequential& net);

}  // namespace digitlab::train
