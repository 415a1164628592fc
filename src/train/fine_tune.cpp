// Loading a trained model's weights into a new run's network, and freezing layers.
#include "train/fine_tune.h"

#include <cstdio>

#include "core/error.h"
#include "train/checkpoint.h"

namespace digitlab::train {
namespace {

// A loadable single network, or one clear error naming the source.
LoadedCheckpoint load_source(const std::string& source) {
  LoadedCheckpoint ck = load_checkpoint(source);
  if (!ck.meta.members.is_null()) {
    throw core::UsageError("--init-from: " + ck.path +
                           " is an ensemble; start from one of its members");
  }
  if (ck.spec.is_knn()) {
    throw core::UsageError("--init-from: " + ck.path +
                           " is k-nearest neighbours, which has no weights to start from");
  }
  return ck;
}

// True when the two specs differ at most in the output layer's size.
bool same_body(const models::ArchSpec& a, const models::ArchSpec& b) {
  if (a.head != b.head || a.layers.size() != b.layers.size() || a.layers.empty()) return false;
  for (size_t i = 0; i + 1 < a.layers.size(); ++i) {
    if (!(a.layers[i] == b.layers[i])) return false;
  }
  models::Layer la = a.layers.back(), lb = b.layers.back();
  la.units = lb.units = 0;
  return la == lb;
}

bool holds_weights(const std::shared_ptr<torch::nn::Module>& m) {
  return !m->parameters(/*recurse=*/true).empty();
}

}  // namespace

std::string init_spec(const std::string& source, int64_t num_classes, std::string& model) {
  const LoadedCheckpoint ck = load_source(source);
  models::ArchSpec spec = ck.spec;
  spec.layers.back().units = num_classes;
  model = ck.meta.model;
  return models::to_string(spec);
}

InitSource init_from(const std::string& source, const models::ArchSpec& spec, int64_t num_classes,
                     torch::nn::Sequential& net) {
  LoadedCheckpoint ck = load_source(source);
  if (!same_body(ck.spec, spec)) {
    throw core::UsageError("--init-from: " + ck.path + " has spec " + models::to_string(ck.spec) +
                           " but this run's spec is " + models::to_string(spec) +
                           "; the architectures must match");
  }
  InitSource out;
  out.normalization = ck.meta.normalization;
  const int64_t source_classes = ck.spec.layers.back().units;
  // The output layer is the last child holding weights; its names start "<index>.".
  std::string output_prefix;
  const auto children = net->named_children();
  for (const auto& c : children) {
    if (holds_weights(c.value())) output_prefix = c.key() + ".";
  }
  const bool fresh_output = source_classes != num_classes;
  if (fresh_output) {
    out.note = "note: --init-from " + source + ": " + std::to_string(source_classes) +
               " classes there, " + std::to_string(num_classes) +
               " here; the output layer starts freshly initialized, the rest is loaded";
  }
  torch::NoGradGuard no_grad;
  auto from_params = ck.net->named_parameters(true);
  auto from_buffers = ck.net->named_buffers(true);
  auto copy = [&](const std::string& name, torch::Tensor& to,
                  const torch::OrderedDict<std::string, torch::Tensor>& from) {
    if (fresh_output && name.compare(0, output_prefix.size(), output_prefix) == 0) return;
    const torch::Tensor* t = from.find(name);
    if (!t || !t->sizes().equals(to.sizes())) {
      throw core::RuntimeError("--init-from: " + ck.path + " lacks a matching " + name);
    }
    to.copy_(t->to(to.dtype()));
  };
  for (auto& p : net->named_parameters(true)) copy(p.key(), p.value(), from_params);
  for (auto& b : net->named_buffers(true)) copy(b.key(), b.value(), from_buffers);
  return out;
}

int count_weight_layers(torch::nn::Sequential& net) {
  int n = 0;
  for (const auto& c : net->children()) n += holds_weights(c) ? 1 : 0;
  return n;
}

void freeze_layers(torch::nn::Sequential& net, int n) {
  const int layers = count_weight_layers(net);
  if (n > layers) {
    throw core::UsageError("--freeze: " + std::to_string(n) + " is more than the " +
                           std::to_string(layers) + " weight layers of the network");
  }
  int seen = 0;
  for (const auto& c : net->children()) {
    if (seen >= n) break;
    if (!holds_weights(c)) continue;
    for (auto& p : c->parameters(true)) p.set_requires_grad(false);
    ++seen;
  }
}

void keep_frozen_statistics(torch::nn::Sequential& net, int n) {
  int seen = 0;
  for (const auto& c : net->children()) {
    if (seen >= n) break;
    if (!holds_weights(c)) continue;
    // Batch norm alone: a dropout inside a frozen residual block keeps dropping.
    for (const auto& m : c->modules(/*include_self=*/true)) {
      if (m->as<torch::nn::BatchNorm2dImpl>() || m->as<torch::nn::BatchNorm1dImpl>()) m->eval();
    }
    ++seen;
  }
}

}  // namespace digitlab::train
