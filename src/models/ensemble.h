// A committee of trained networks as one module: the mean (or vote) of their class probabilities.
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

#include "models/spec.h"

namespace digitlab::models {

// One member as the ensemble builds it: its architecture and the affine map from raw pixel bytes
// (0..255) to the inputs it was trained on (data::Normalization's scale and shift).
struct EnsembleMember {
  ArchSpec spec;
  double scale = 1.0 / 255.0;
  double shift = 0.0;
};

enum class Combine { kAverage, kVote };

// Parses "average" or "vote"; throws core::UsageError naming `flag` otherwise.
Combine parse_combine(const std::string& text, const std::string& flag = "--combine");
const char* combine_name(Combine c);

// Combines members' class probabilities [B,K] (float32, one tensor per member) as described for
// EnsembleImpl::forward; the result's rows sum to 1. Requires a non-empty list of equal shapes.
torch::Tensor combine_probabilities(const std::vector<torch::Tensor>& probs, Combine combine);

// Takes raw pixel values [B,1,H,W] (0..255, as data::to_input gives for normalization "none"),
// runs every member on its own normalization, and returns the log of the combined class
// probabilities [B,K], so a softmax head turns them back into those probabilities:
// - average: the mean of the members' probabilities (soft voting);
// - vote: each member's top class counts one vote; ties go to the highest mean probability.
// Members are registered as submodules "m0", "m1", ..., so to(), eval() and checkpoints reach
// them. Requires at least one member, none of them k-nearest neighbours; every spec must fit
// count_parameters(spec, num_classes) (throws core::UsageError otherwise).
class EnsembleImpl : public torch::nn::Module {
 public:
  EnsembleImpl(const std::vector<EnsembleMember>& members, int64_t num_classes, Combine combine);
  torch::Tensor forward(const torch::Tensor& x);
  // Each member's class probabilities [B,K] (float32) for raw pixel input, as forward uses them.
  std::vector<torch::Tensor> member_probabilities(const torch::Tensor& x);
  size_t size() const { return nets_.size(); }
  // Member i's network (i < size()), for loading its weights.
  torch::nn::Sequential& member(size_t i) { return nets_.at(i); }
  Combine combine() const { return combine_; }

 private:
  std::vector<torch::nn::Sequential> nets_;
  std::vector<EnsembleMember> members_;
  Combine combine_;
};
TORCH_MODULE(Ensemble);

// The ensemble inside a network that wraps one, or null.
EnsembleImpl* find_ensemble(torch::nn::Sequential& net);

}  // namespace digitlab::models
