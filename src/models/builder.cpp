// Spec -> torch::nn::Sequential, and head-specific loss and probabilities.
#include "models/builder.h"

namespace digitlab::models {
namespace nn = torch::nn;

namespace {

void add_activation(nn::Sequential& net, Activation a) {
  switch (a) {
    case Activation::kRelu:
      net->push_back(nn::ReLU());
      break;
    case Activation::kTanh:
      net->push_back(nn::Tanh());
      break;
    case Activation::kSigmoid:
      net->push_back(nn::Sigmoid());
      break;
  }
}

}  // namespace

nn::Sequential build_network(const ArchSpec& spec, int64_t num_classes, InputShape input) {
  count_parameters(spec, num_classes, input);  // validates shapes before any allocation
  nn::Sequential net;
  int64_t c = input.channels, h = input.height, w = input.width;
  bool flat = false;
  int64_t features = 0;
  Activation act = Activation::kRelu;
  const size_t n = spec.layers.size();
  for (size_t i = 0; i < n; ++i) {
    const Layer& l = spec.layers[i];
    const bool output = i + 1 == n;
    const bool bn_next = i + 1 < n && spec.layers[i + 1].kind == LayerKind::kBatchNorm;
    switch (l.kind) {
      case LayerKind::kConv:
        net->push_back(
            nn::Conv2d(nn::Conv2dOptions(c, l.units, l.kernel).padding(l.same ? l.kernel / 2 : 0)));
        c = l.units;
        if (!l.same) h -= l.kernel - 1, w -= l.kernel - 1;
        if (bn_next) {
          net->push_back(nn::BatchNorm2d(c));
          ++i;
        }
        add_activation(net, act);
        break;
      case LayerKind::kPool:
        net->push_back(nn::MaxPool2d(nn::MaxPool2dOptions(l.kernel).stride(l.kernel)));
        h /= l.kernel, w /= l.kernel;
        break;
      case LayerKind::kDense:
        if (!flat) {
          net->push_back(nn::Flatten());
          features = c * h * w;
          flat = true;
        }
        net->push_back(nn::Linear(features, l.units));
        features = l.units;
        if (output) break;
        if (bn_next) {
          net->push_back(nn::BatchNorm1d(features));
          ++i;
        }
        add_activation(net, act);
        break;
      case LayerKind::kDropout:
        net->push_back(nn::Dropout(l.rate));
        break;
      case LayerKind::kBatchNorm:
        if (flat) {
          net->push_back(nn::BatchNorm1d(features));
        } else {
          net->push_back(nn::BatchNorm2d(c));
        }
        break;
      case LayerKind::kActivation:
        act = l.activation;
        break;
    }
  }
  switch (spec.head) {
    case Head::kSoftmax:
      break;
    case Head::kLogSoftmax:
      net->push_back(nn::LogSoftmax(1));
      break;
    case Head::kSigmoid:
      net->push_back(nn::Sigmoid());
      break;
  }
  return net;
}

torch::Tensor head_loss(Head head, const torch::Tensor& outputs, const torch::Tensor& targets) {
  switch (head) {
    case Head::kSoftmax:
      return torch::nn::functional::cross_entropy(outputs, targets);
    case Head::kLogSoftmax:
      return torch::nll_loss(outputs, targets);
    case Head::kSigmoid: {
      // Keras' (sparse) categorical cross-entropy on non-softmax outputs, as seed 003 trained:
      // outputs are divided by their sum and clipped to [1e-7, 1 - 1e-7] before the log.
      auto p = (outputs / outputs.sum(1, true)).clamp(1e-7, 1 - 1e-7);
      return torch::nll_loss(p.log(), targets);
    }
  }
  return {};
}

torch::Tensor head_probabilities(Head head, const torch::Tensor& outputs) {
  switch (head) {
    case Head::kSoftmax:
      return torch::softmax(outputs, 1);
    case Head::kLogSoftmax:
      return outputs.exp();
    case Head::kSigmoid:
      return outputs / outputs.sum(1, true).clamp_min(1e-12);
  }
  return {};
}

}  // namespace digitlab::models
