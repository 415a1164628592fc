// Spec -> torch::nn::Sequential, and head-specific loss and probabilities.
#include "models/builder.h"

#include <ATen/autocast_mode.h>

#include <cmath>

#include "core/error.h"
#include "models/conv.h"
#include "models/max_pool.h"
#include "models/module_copy.h"

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

KnnImpl::KnnImpl(int64_t k, int64_t num_classes, int64_t features) : k_(k), classes_(num_classes) {
  images_ = register_buffer("images", torch::empty({0, features}, torch::kUInt8));
  labels_ = register_buffer("labels", torch::empty({0}, torch::kInt64));
  affine_ = register_buffer("affine", torch::tensor({1.0f, 0.0f}));
}

void KnnImpl::fit(const torch::Tensor& images_u8, const torch::Tensor& labels, double scale,
                  double shift) {
  images_.set_(images_u8.reshape({images_u8.size(0), -1}).contiguous().clone());
  labels_.set_(labels.contiguous().clone());
  affine_.set_(torch::tensor({float(scale), float(shift)}));
  points_ = torch::Tensor();
}

torch::Tensor KnnImpl::forward(const torch::Tensor& x) {
  const int64_t n = images_.size(0), b = x.size(0);
  if (n == 0) return torch::full({b, classes_}, -std::log(double(classes_)));
  if (!points_.defined()) {
    points_ = images_.to(torch::kFloat32) * affine_[0] + affine_[1];
    norms_ = points_.pow(2).sum(1);
  }
  const int64_t k = std::min(k_, n);
  auto q = x.reshape({b, -1}).to(torch::kFloat32);
  auto qn = q.pow(2).sum(1, true);
  torch::Tensor best_d, best_i;
  // Chunks bound the [B, chunk] distance matrix; the running top-k merges them.
  constexpr int64_t kChunk = 8192;
  for (int64_t s = 0; s < n; s += kChunk) {
    const int64_t len = std::min(kChunk, n - s);
    auto d = qn - 2 * q.mm(points_.narrow(0, s, len).t()) + norms_.narrow(0, s, len).unsqueeze(0);
    auto idx = torch::arange(s, s + len, torch::kInt64).unsqueeze(0).expand({b, len});
    if (best_d.defined()) {
      d = torch::cat({best_d, d}, 1);
      idx = torch::cat({best_i, idx}, 1);
    }
    auto top = d.topk(std::min(k, d.size(1)), 1, /*largest=*/false);
    best_d = std::get<0>(top);
    best_i = idx.gather(1, std::get<1>(top));
  }
  auto votes = torch::zeros({b, classes_}, torch::kFloat32);
  votes.scatter_add_(1, labels_.index({best_i}), torch::ones({b, k}, torch::kFloat32));
  // Smoothed so that no class has probability 0 (the loss stays finite).
  return ((votes + 1e-3) / (double(k) + 1e-3 * double(classes_))).log();
}

void initialize(nn::Sequential& net, const std::string& init) {
  if (init == "torch") return;
  if (init != "glorot") {
    throw core::UsageError("--init: unknown '" + init + "' (allowed: torch, glorot)");
  }
  torch::NoGradGuard no_grad;
  for (auto& m : net->modules(/*include_self=*/false)) {
    torch::Tensor* w = nullptr;
    torch::Tensor* b = nullptr;
    if (auto* conv = m->as<nn::Conv2dImpl>()) {
      w = &conv->weight, b = &conv->bias;
    } else if (auto* linear = m->as<nn::LinearImpl>()) {
      w = &linear->weight, b = &linear->bias;
    }
    if (!w) continue;
    nn::init::xavier_uniform_(*w);
    if (b->defined()) b->zero_();
  }
}

torch::Tensor DenseImpl::forward(const torch::Tensor& x) {
  const bool one_row = x.dim() == 2 && x.size(0) == 1 && x.device().is_cpu() &&
                       x.is_floating_point() && !torch::GradMode::is_enabled() &&
                       !at::autocast::is_cpu_enabled();
  if (!one_row) return LinearImpl::forward(x);
  torch::Tensor w = weight, b = bias;
  if (weight.scalar_type() != torch::kFloat32) {
    // Version counters move with every in-place change (an optimizer step, a load); a new
    // tensor has a new data pointer. Inference tensors have no counter: they are copied each time.
    const bool tracked = !weight.is_inference() && (!bias.defined() || !bias.is_inference());
    const Copied now{weight.data_ptr(), bias.defined() ? bias.data_ptr() : nullptr,
                     tracked ? weight._version() : int64_t(0),
                     tracked && bias.defined() ? bias._version() : int64_t(0)};
    if (!tracked || !row_weight_.defined() || !(copied_ == now)) {
      row_weight_ = weight.to(torch::kFloat32).contiguous();
      row_bias_ = bias.defined() ? bias.to(torch::kFloat32) : torch::Tensor();
      copied_ = now;
    }
    w = row_weight_, b = row_bias_;
  }
  const torch::Tensor row = x.select(0, 0).to(torch::kFloat32);
  const torch::Tensor out = b.defined() ? torch::addmv(b, w, row) : torch::mv(w, row);
  return out.to(x.scalar_type()).unsqueeze(0);
}

std::shared_ptr<nn::Module> DenseImpl::clone(const c10::optional<torch::Device>& device) const {
  auto copy = std::make_shared<DenseImpl>(options);
  copy_parameters(*this, *copy, device);
  return copy;
}

KnnImpl* find_knn(nn::Sequential& net) {
  return net->size() == 1 ? net->ptr(0)->as<KnnImpl>() : nullptr;
}

namespace {

// The shape of the values between layers while a network is built.
struct BuildShape {
  int64_t c = 1, h = 28, w = 28;
  bool flat = false;
  int64_t features = 0;  // once flat
};

void add_layers(nn::Sequential& net, const std::vector<Layer>& layers, BuildShape& s,
                Activation& act, bool in_block);

// A block's body, and a 1x1 projection when the body changes the channel count.
Residual make_residual(const Layer& l, BuildShape& s, Activation act) {
  const int64_t in_channels = s.c;
  nn::Sequential body;
  Activation inner = act;
  add_layers(body, l.body, s, inner, /*in_block=*/true);
  nn::Conv2d projection{nullptr};
  if (s.c != in_channels) projection = nn::Conv2d(nn::Conv2dOptions(in_channels, s.c, 1));
  return Residual(body, projection, act);
}

// Appends `layers` to `net`. In a block, the last conv (with its batch norm) gets no activation:
// the block applies it to the sum. Outside, the last layer is the output layer.
void add_layers(nn::Sequential& net, const std::vector<Layer>& layers, BuildShape& s,
                Activation& act, bool in_block) {
  const size_t n = layers.size();
  size_t last_conv = n;
  for (size_t i = 0; i < n; ++i) {
    if (layers[i].kind == LayerKind::kConv || layers[i].kind == LayerKind::kResidual) last_conv = i;
  }
  for (size_t i = 0; i < n; ++i) {
    const Layer& l = layers[i];
    const bool output = !in_block && i + 1 == n;
    const bool bn_next = i + 1 < n && layers[i + 1].kind == LayerKind::kBatchNorm;
    switch (l.kind) {
      case LayerKind::kConv: {
        const bool activate = !(in_block && i == last_conv);
        net->push_back(
            Conv2d(nn::Conv2dOptions(s.c, l.units, l.kernel).padding(l.same ? l.kernel / 2 : 0)));
        s.c = l.units;
        if (!l.same) s.h -= l.kernel - 1, s.w -= l.kernel - 1;
        if (bn_next) {
          net->push_back(nn::BatchNorm2d(s.c));
          ++i;
        }
        // Max-pooling first and then the activation computes the same function (every activation
        // here is non-decreasing, so it commutes with max) and the same gradients, with the
        // activation on a quarter of the values. Parameter-holding modules keep their indices.
        if (i + 1 < n && layers[i + 1].kind == LayerKind::kPool) {
          const int64_t k = layers[i + 1].kernel;
          net->push_back(MaxPool(nn::MaxPool2dOptions(k).stride(k)));
          s.h /= k, s.w /= k;
          ++i;
        }
        if (activate) add_activation(net, act);
        break;
      }
      case LayerKind::kResidual:
        net->push_back(make_residual(l, s, act));
        break;
      case LayerKind::kPool:
        net->push_back(MaxPool(nn::MaxPool2dOptions(l.kernel).stride(l.kernel)));
        s.h /= l.kernel, s.w /= l.kernel;
        break;
      case LayerKind::kDense:
        if (!s.flat) {
          net->push_back(nn::Flatten());
          s.features = s.c * s.h * s.w;
          s.flat = true;
        }
        net->push_back(Dense(s.features, l.units));
        s.features = l.units;
        if (output) break;
        if (bn_next) {
          net->push_back(nn::BatchNorm1d(s.features));
          ++i;
        }
        add_activation(net, act);
        break;
      case LayerKind::kDropout:
        net->push_back(nn::Dropout(l.rate));
        break;
      case LayerKind::kBatchNorm:
        if (s.flat) {
          net->push_back(nn::BatchNorm1d(s.features));
        } else {
          net->push_back(nn::BatchNorm2d(s.c));
        }
        break;
      case LayerKind::kKnn:  // only ever alone, handled by build_network
        break;
      case LayerKind::kActivation:
        act = l.activation;
        break;
    }
  }
}

}  // namespace

ResidualImpl::ResidualImpl(nn::Sequential body_, nn::Conv2d projection_, Activation activation_)
    : body(register_module("body", body_)), activation(activation_) {
  if (projection_) projection = register_module("projection", projection_);
}

torch::Tensor ResidualImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = body->forward(x) + (projection ? projection->forward(x) : x);
  switch (activation) {
    case Activation::kRelu:
      return torch::relu(y);
    case Activation::kTanh:
      return torch::tanh(y);
    case Activation::kSigmoid:
      return torch::sigmoid(y);
  }
  return y;
}

nn::Sequential build_network(const ArchSpec& spec, int64_t num_classes, InputShape input) {
  count_parameters(spec, num_classes, input);  // validates shapes before any allocation
  nn::Sequential net;
  if (spec.is_knn()) {
    net->push_back(
        Knn(spec.layers[0].units, num_classes, input.channels * input.height * input.width));
    return net;
  }
  BuildShape shape;
  shape.c = input.channels, shape.h = input.height, shape.w = input.width;
  Activation act = Activation::kRelu;
  add_layers(net, spec.layers, shape, act, /*in_block=*/false);
  switch (spec.head) {
    case Head::kSoftmax:
      break;
    case Head::kLogSoftmax:
      net->push_back(nn::LogSoftmax(1));
      break;
    case Head::kSigmoid:
      net->push_back(nn::Sigmoid());
      break;
    case Head::kSvm:
      break;
  }
  return net;
}

torch::Tensor head_loss(Head head, const torch::Tensor& outputs, const torch::Tensor& targets,
                        double label_smoothing) {
  ArchSpec head_only;
  head_only.head = head;
  check_label_smoothing(head_only, label_smoothing);
  switch (head) {
    case Head::kSoftmax:
      return torch::nn::functional::cross_entropy(
          outputs, targets,
          torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(label_smoothing));
    case Head::kLogSoftmax: {
      const torch::Tensor nll = torch::nll_loss(outputs, targets);
      if (label_smoothing == 0) return nll;
      // The outputs are log-probabilities already, so the uniform part is their negated mean.
      return (1 - label_smoothing) * nll - label_smoothing * outputs.mean(1).mean();
    }
    case Head::kSvm:
      return torch::multi_margin_loss(outputs, targets);
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
    case Head::kSvm:  // scores are not probabilities; softmax ranks them the same and sums to 1
      return torch::softmax(outputs, 1);
    case Head::kSigmoid:
      return outputs / outputs.sum(1, true).clamp_min(1e-12);
  }
  return {};
}

}  // namespace digitlab::models
