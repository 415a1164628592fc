// The exporters' view of a digitlab network: its modules in order, with their settings and tensors.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "models/spec.h"

namespace digitlab::exporter {

enum class LayerType {
  kConv,
  kBatchNorm2d,
  kBatchNorm1d,
  kMaxPool,
  kRelu,
  kTanh,
  kSigmoid,
  kDropout,
  kFlatten,
  kLinear,
  kLogSoftmax,
  kResidual
};

struct NetLayer {
  LayerType type = LayerType::kRelu;
  std::string name;         // index in the Sequential ("0", "1", ...): the state_dict key prefix
  int64_t in = 0, out = 0;  // channels (conv, batch norm) or features (linear)
  int64_t kernel = 0, padding = 0;  // conv and pool (square, stride 1 for conv, = kernel for pool)
  double eps = 0.0, momentum = 0.0, rate = 0.0;  // batch norm; dropout
  bool bias = false;                             // conv, linear
  bool head = false;  // after the output layer: the spec's head, not a hidden activation
  // kResidual: activation(body(x) + shortcut(x)); the body's layers ("3.body.0", ...), the 1x1
  // projection conv ("3.projection") or none for the identity, and the activation (kRelu, kTanh
  // or kSigmoid).
  std::vector<NetLayer> body;
  std::vector<NetLayer> projection;
  LayerType activation = LayerType::kRelu;
  // The module's state_dict entries ("0.weight", ...), CPU, contiguous, float32 (whatever the
  // network holds: bf16, channels_last) except integer buffers (num_batches_tracked); a residual
  // block's hold those of all its layers.
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
};

struct NetDescription {
  std::vector<NetLayer> layers;
  size_t output_layer = 0;  // index of the last linear layer, whose output is the logits
  models::Head head = models::Head::kSoftmax;
};

// Walks `net`'s modules (as models::build_network makes them) in order. Requires `head` to be the
// spec's head. Throws core::UsageError naming `source` for a k-nearest-neighbours model (no
// network to write), core::RuntimeError naming `source` for a module or setting the exporters do
// not cover, or trailing modules that do not match `head`.
NetDescription describe_network(torch::nn::Sequential& net, models::Head head,
                                const std::string& source);

// A tensor as the exporters write it: detached, CPU, contiguous in the default layout, float32 if
// it is floating point.
torch::Tensor export_tensor(const torch::Tensor& t);

}  // namespace digitlab::exporter
