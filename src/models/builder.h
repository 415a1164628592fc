// Builds a torch network from an architecture spec, and the loss/probabilities of its head.
#pragma once

#include <string>

#include <torch/torch.h>

#include "models/spec.h"

namespace digitlab::models {

// Requires: count_parameters(spec, num_classes, input) succeeds (it is called here and throws
// core::UsageError otherwise). Guarantees: maps [N,C,H,W] to [N,num_classes] outputs of the head:
// logits (softmax), log-probabilities (logsoftmax) or probabilities (sigmoid).
torch::nn::Sequential build_network(const ArchSpec& spec, int64_t num_classes = 10,
                                    InputShape input = {});

// Re-initializes every conv and dense layer of `net` in place. "torch" keeps LibTorch's defaults
// (Kaiming-uniform weights with a=sqrt(5), uniform biases); "glorot" is Keras' and TensorFlow's
// default (Glorot-uniform weights, zero biases), which the Keras studies trained with. Requires
// init to be one of those two (otherwise throws core::UsageError); draws from torch's generator.
void initialize(torch::nn::Sequential& net, const std::string& init);

// k-nearest neighbours with L2 distance as a module, so it trains, saves, loads and evaluates like
// a network: buffers hold the training set; forward returns log vote fractions (a softmax head).
class KnnImpl : public torch::nn::Module {
 public:
  KnnImpl(int64_t k, int64_t num_classes, int64_t features);
  // Stores uint8 images [N, ...] and int64 labels [N]; `scale`/`shift` map bytes to the inputs
  // forward() will receive, so distances are measured in the same space.
  void fit(const torch::Tensor& images_u8, const torch::Tensor& labels, double scale, double shift);
  // x float [B, C, H, W] -> [B, num_classes] log vote fractions of the k nearest training images.
  torch::Tensor forward(const torch::Tensor& x);

 private:
  int64_t k_, classes_;
  torch::Tensor images_, labels_, affine_;  // buffers: saved in checkpoints
  torch::Tensor points_, norms_;            // float copy of images_ and squared norms, on demand
};
TORCH_MODULE(Knn);

// A residual block: activation(body(x) + shortcut(x)), where the shortcut is x itself or, when
// the body changes the channel count, a 1x1 convolution of x. Its submodules are "body" (a
// Sequential) and "projection" (only when present), so state_dict keys read "3.body.0.weight",
// "3.projection.weight".
class ResidualImpl : public torch::nn::Module {
 public:
  ResidualImpl(torch::nn::Sequential body, torch::nn::Conv2d projection, Activation activation);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Sequential body;
  torch::nn::Conv2d projection{nullptr};  // null: the identity shortcut
  Activation activation;
};
TORCH_MODULE(Residual);

// A dense layer: torch::nn::Linear (same parameters, same state_dict keys; as<LinearImpl>() finds
// it) whose forward, for one row on the CPU without gradients or autocast, is an fp32
// matrix-vector product, whatever the weights' precision. One row is what serving and predicting
// one image run, and OpenBLAS's fp32 product of the matrix with one vector beats both its matrix
// product with one row (on some core types: OPENBLAS_CORETYPE=Haswell, as on AVX2 CPUs, 115
// against 23 us for 3136 to 128 features) and oneDNN's bf16 one (45 against 17 us). Guarantees:
// the fp32 copy of bf16 weights it keeps for this is made again whenever the weights change.
// Making that copy changes the module: one forward at a time (serve's predictor locks around it).
class DenseImpl : public torch::nn::LinearImpl {
 public:
  using LinearImpl::LinearImpl;
  torch::Tensor forward(const torch::Tensor& x);
  // A Dense with copies of the parameters (on `device` when given), as Linear's clone() makes a
  // Linear: Sequential::clone() needs each child's clone to be of the child's own type.
  std::shared_ptr<torch::nn::Module> clone(
      const c10::optional<torch::Device>& device = c10::nullopt) const override;

 private:
  // fp32 copies of bf16 weight and bias for one-row products, and the state they were made from.
  struct Copied {
    const void *weight = nullptr, *bias = nullptr;
    int64_t weight_version = 0, bias_version = 0;
    bool operator==(const Copied& o) const {
      return weight == o.weight && bias == o.bias && weight_version == o.weight_version &&
             bias_version == o.bias_version;
    }
  };
  torch::Tensor row_weight_, row_bias_;
  Copied copied_;
};
TORCH_MODULE(Dense);

// The Knn inside a network built from a knn<K> spec, or null.
KnnImpl* find_knn(torch::nn::Sequential& net);

// Mean loss of outputs against int64 class targets, as the head defines it. With
// `label_smoothing` E > 0 (softmax and logsoftmax heads only; others throw core::UsageError) the
// target is 1 - E on the true class plus E/K on every one of the K classes: PyTorch's
// CrossEntropyLoss(label_smoothing=E), (1 - E) * NLL + E * mean over classes of -log p.
torch::Tensor head_loss(Head head, const torch::Tensor& outputs, const torch::Tensor& targets,
                        double label_smoothing = 0.0);

// Per-class probabilities [N,K] from outputs (rows of sigmoid outputs are renormalized).
torch::Tensor head_probabilities(Head head, const torch::Tensor& outputs);

}  // namespace digitlab::models
