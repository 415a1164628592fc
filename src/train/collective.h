// What data-parallel training needs from a process group: rank, size, sum and broadcast.
#pragma once

#include <torch/torch.h>

namespace digitlab::train {

// A group of processes training one model together (the dist module implements it over Gloo).
// Every member must make the same calls in the same order. Implementations turn a lost or late
// member into core::RuntimeError naming the problem, within their timeout.
class Collective {
 public:
  virtual ~Collective() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  // Requires: `t` a contiguous CPU float or double tensor of the same shape on every member.
  // Guarantees: every member's `t` holds the element-wise sum over members.
  virtual void allreduce_sum(torch::Tensor& t) = 0;
  // Guarantees: every member's `t` holds member `root`'s `t`.
  virtual void broadcast(torch::Tensor& t, int root) = 0;
};

}  // namespace digitlab::train
