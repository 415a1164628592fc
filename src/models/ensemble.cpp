// The ensemble module: members run side by side and their probabilities are combined.
#include "models/ensemble.h"

#include "core/error.h"
#include "models/builder.h"

namespace digitlab::models {

Combine parse_combine(const std::string& text, const std::string& flag) {
  if (text == "average") return Combine::kAverage;
  if (text == "vote") return Combine::kVote;
  throw core::UsageError(flag + ": unknown '" + text + "' (allowed: average, vote)");
}

const char* combine_name(Combine c) { return c == Combine::kVote ? "vote" : "average"; }

EnsembleImpl::EnsembleImpl(const std::vector<EnsembleMember>& members, int64_t num_classes,
                           Combine combine)
    : members_(members), combine_(combine) {
  if (members.empty()) throw core::UsageError("an ensemble needs at least one member");
  for (size_t i = 0; i < members.size(); ++i) {
    if (members[i].spec.is_knn()) {
      throw core::UsageError("ensemble member " + std::to_string(i + 1) +
                             ": k-nearest neighbours cannot be a member (it has no network)");
    }
    nets_.push_back(
        register_module("m" + std::to_string(i), build_network(members[i].spec, num_classes)));
  }
}

std::vector<torch::Tensor> EnsembleImpl::member_probabilities(const torch::Tensor& x) {
  std::vector<torch::Tensor> out;
  const torch::Tensor xf = x.to(torch::kFloat32);
  for (size_t i = 0; i < nets_.size(); ++i) {
    const auto& m = members_[i];
    // Normalized in float32, then cast to the member's precision: the inputs it sees alone
    // (train::infer), where normalizing bf16 pixels would round twice and flip close calls.
    torch::Tensor in = xf * m.scale + m.shift;
    const auto params = nets_[i]->parameters();
    if (!params.empty()) in = in.to(params[0].scalar_type());
    // The members' outputs are combined in float32 whatever precision they run in.
    out.push_back(head_probabilities(m.spec.head, nets_[i]->forward(in).to(torch::kFloat32)));
  }
  return out;
}

torch::Tensor combine_probabilities(const std::vector<torch::Tensor>& probs, Combine combine) {
  torch::Tensor mean = torch::stack(probs).mean(0);
  if (combine == Combine::kVote) {
    torch::Tensor votes = torch::zeros_like(mean);
    for (const auto& p : probs) votes.scatter_add_(1, p.argmax(1, true), torch::ones_like(mean));
    // A tie between classes with equal votes goes to the higher mean probability: the mean adds
    // less than one vote, so it never outweighs a vote.
    mean = (votes + mean * 0.5) / (double(probs.size()) + 0.5);
  }
  return mean;
}

torch::Tensor EnsembleImpl::forward(const torch::Tensor& x) {
  const torch::Tensor mean = combine_probabilities(member_probabilities(x), combine_);
  // log(0) would make the cross-entropy of a confident miss infinite; 1e-12 bounds it.
  return mean.clamp_min(1e-12).log();
}

EnsembleImpl* find_ensemble(torch::nn::Sequential& net) {
  return net->size() == 1 ? net->ptr(0)->as<EnsembleImpl>() : nullptr;
}

}  // namespace digitlab::models
