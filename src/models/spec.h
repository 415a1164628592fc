// Architecture spec language for sequential networks: parse, print, check shapes, count parameters.
//
// A spec is tokens joined by '-', read left to right from a 1x28x28 input:
//   C32      conv, 32 filters, 3x3, 'same' padding     C32k5   5x5 kernel    C32v / C32k5v  'valid'
//   P        max-pool 2x2, stride 2                    P3      3x3 pool, stride 3
//   128      dense layer of 128 units (the first dense layer flattens its input)
//   D0.25    dropout with rate 0.25                    BN      batch normalization
//   relu | tanh | sigmoid   activation of the conv/dense layers that follow (relu by default)
// The last layer is the output layer (dense, one unit per class, no activation). An optional final
// token names the output head: softmax (default; cross-entropy on logits), logsoftmax (log-softmax
// + NLL as in seed 002) or sigmoid (sigmoid outputs with Keras' categorical cross-entropy, which
// renormalizes them to sum to 1, as in seed 003) or svm (raw scores with the multi-class hinge
// loss: a linear SVM when the network is one dense layer).
// BN directly after a conv or dense layer goes before its activation; anything else stays in order.
// A spec of the single token knn<K> (e.g. knn3) is not a network but k-nearest neighbours with L2
// distance over the training images: "training" stores them, predictions are the votes of the K
// nearest.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace digitlab::models {

enum class LayerKind { kConv, kPool, kDense, kDropout, kBatchNorm, kActivation, kKnn };
enum class Activation { kRelu, kTanh, kSigmoid };
enum class Head { kSoftmax, kLogSoftmax, kSigmoid, kSvm };

struct Layer {
  LayerKind kind = LayerKind::kDense;
  int64_t units = 0;                          // conv filters or dense units
  int64_t kernel = 3;                         // conv or pool size
  bool same = true;                           // conv padding
  double rate = 0.0;                          // dropout
  Activation activation = Activation::kRelu;  // for kActivation
  bool operator==(const Layer& o) const;
};

struct ArchSpec {
  std::vector<Layer> layers;
  Head head = Head::kSoftmax;
  // True for the k-nearest-neighbours pseudo-network (layers = {kKnn with units = K}).
  bool is_knn() const { return layers.size() == 1 && layers[0].kind == LayerKind::kKnn; }
  bool operator==(const ArchSpec& o) const { return layers == o.layers && head == o.head; }
};

// Parses a spec. Throws core::UsageError "arch spec '<spec>': token N '<tok>': <problem>".
ArchSpec parse_spec(const std::string& text);

// Canonical text: parse_spec(to_string(s)) == s.
std::string to_string(const ArchSpec& spec);

const char* activation_name(Activation a);
const char* head_name(Head h);

// Input geometry the network is built for.
struct InputShape {
  int64_t channels = 1, height = 28, width = 28;
};

// Walks the layers over `input`, checking that every layer fits (no conv after dense, no pooling
// below 1x1, output layer dense with `num_classes` units). Returns the trainable parameter count.
// Throws core::UsageError naming the spec and the layer that does not fit.
int64_t count_parameters(const ArchSpec& spec, int64_t num_classes = 10, InputShape input = {});

// Returns when `label_smoothing` is 0 or `spec` has a smoothed training loss (softmax and
// logsoftmax heads); throws core::UsageError naming --label-smoothing and the head, or k-nearest
// neighbours, otherwise.
void check_label_smoothing(const ArchSpec& spec, double label_smoothing);

}  // namespace digitlab::models
