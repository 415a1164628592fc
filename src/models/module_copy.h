// The parameter copy that digitlab's LibTorch module subclasses share in their clone().
#pragma once

#include <torch/torch.h>

namespace digitlab::models {

// Gives `to`'s own parameters (same names, same shapes: a module built from `from`'s options)
// copies of `from`'s values and requires_grad flags, on `device` when given, and `from`'s
// training mode. Sequential::clone() needs each child's clone to be of the child's own type, which
// LibTorch's Cloneable cannot give a subclass.
inline void copy_parameters(const torch::nn::Module& from, torch::nn::Module& to,
                            const c10::optional<torch::Device>& device) {
  torch::NoGradGuard no_grad;
  auto theirs = to.named_parameters(/*recurse=*/false);
  for (const auto& p : from.named_parameters(/*recurse=*/false)) {
    const torch::Tensor data = p.value().clone();
    theirs[p.key()].set_data(device ? data.to(*device) : data);
    theirs[p.key()].requires_grad_(p.value().requires_grad());
  }
  to.train(from.is_training());
}

}  // namespace digitlab::models
