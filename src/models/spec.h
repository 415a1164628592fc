// Architecture spec language for sequential networks: parse, print, check shapes, count parameters.
//
// A spec is tokens joined by '-', read left to right from a 1x28x28 input:
//   C32      conv, 32 filters, 3x3, 'same' padding     C32k5   5x5 kernel    C32v / C32k5v  'valid'
//   P        max-pool 2x2, stride 2                    P3      3x3 pool, stride 3
//   128      dense layer of 128 units (the first dense layer flattens its input)
//   D0.25    dropout with rate 0.25                    BN      batch normalization
//   relu | tanh | sigmoid   activation of the conv/dense layers that follow (relu by default)
//   R(...)   residual block: act(f(x) + s(x)), where f is the layers inside the parentheses
//            (joined by '-' as at the top, e.g. R(C32-BN-C32)), act the activation in force at
//            the R, and s(x) is x itself, or a 1x1 conv (with bias) of x when f changes the
//            channel count (ResNet's projection shortcut). f's last conv has no activation of its
//            own: the sum gets it. A block keeps the image size, so inside it go only 'same'
//            convs, BN, dropout and blocks (nested at most kMaxBlockDepth deep); pools, 'valid'
//            convs, dense layers, activation tokens and heads are errors. A block goes where a
//            conv can (before the first dense layer).
// The last layer is the output layer (dense, one unit per class, no activation). An optional final
// token names the output head: softmax (default; cross-entropy on logits), logsoftmax (log-softmax
// + NLL as in seed 002) or sigmoid (sigmoid outputs with Keras' categorical cross-entropy, which
// renormalizes them to sum to 1, as in seed 003) or svm (raw scores with the multi-class hinge
// loss: a linear SVM when the network is one dense layer).
// BN directly after a conv or dense layer goes before its activation; anything else stays in order.
// A spec of the single token knn<K> (e.g. knn3) is not a network but k-nearest neighbours with L2
// distance over the training images: "training" stores them, predictions are the votes of the K
// nearest.
// Errors inside a block number the token by its path: token 2.3 is the third token inside the block
// that is token 2.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace digitlab::models {

enum class LayerKind { kConv, kPool, kDense, kDropout, kBatchNorm, kActivation, kKnn, kResidual };
enum class Activation { kRelu, kTanh, kSigmoid };
enum class Head { kSoftmax, kLogSoftmax, kSigmoid, kSvm };

struct Layer {
  LayerKind kind = LayerKind::kDense;
  int64_t units = 0;                          // conv filters or dense units
  int64_t kernel = 3;                         // conv or pool size
  bool same = true;                           // conv padding
  double rate = 0.0;                          // dropout
  Activation activation = Activation::kRelu;  // for kActivation
  std::vector<Layer> body;                    // kResidual: the block's layers, f in f(x) + s(x)
  bool operator==(const Layer& o) const;
};

// How deep residual blocks may nest: R(R(R(R(C8)))) is the deepest.
constexpr int kMaxBlockDepth = 4;

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

// Walks the layers over `input`, checking that every layer fits (no conv, pool or residual block
// after dense, no pooling below 1x1, output layer dense with `num_classes` units); a block counts
// its layers and its projection. Errors name the layer by its path ("layer 2.3") as parse_spec
// names tokens. Returns the trainable parameter count.
// Throws core::UsageError naming the spec and the layer that does not fit.
int64_t count_parameters(const ArchSpec& spec, int64_t num_classes = 10, InputShape input = {});

// One row of the layer table: a layer as Keras' model.summary() lists it.
struct SummaryRow {
  std::string name;            // "conv2d_1", "max_pooling2d_1", "residual_1", ... numbered by type
  std::string type;            // "Conv2D", "MaxPooling2D", "Dense", "Residual", ...
  std::vector<int64_t> shape;  // output shape without the batch: {C, H, W} or {units}
  int64_t parameters = 0;      // a Residual row counts its whole block
  int depth = 0;               // 0 at the top; the rows of a block follow its row, one deeper
};

// The layer table of a network and its totals. Parameters are what torch trains (conv and dense
// weights and biases, batch norm's scale and shift); batch norm's running mean and variance are
// buffers, counted apart in bn_statistics (Keras counts them as non-trainable parameters).
struct ModelSummary {
  InputShape input;
  std::vector<SummaryRow> rows;
  int64_t total = 0, trainable = 0, non_trainable = 0;  // non_trainable: no layer is frozen
  int64_t bn_statistics = 0;
  // Multiply-adds of one image's forward pass in the convolutions (shortcuts included) and
  // dense layers; pooling, batch norm and activations are left out. A training step costs about
  // 3x as many (forward, and the backward for the inputs and for the weights), 2 FLOPs each.
  int64_t multiply_adds = 0;
  Head head = Head::kSoftmax;
};

// Requires and throws as count_parameters; guarantees total == count_parameters(spec, ...) and
// one row per layer (activation tokens set the activation of later layers and have no row; the
// first dense layer after a conv or pool gets a "flatten" row before it).
ModelSummary summarize(const ArchSpec& spec, int64_t num_classes = 10, InputShape input = {});

// The table as text, Keras' layout: "Layer (type)  Output Shape  Param #", the rows (a block's
// indented under it), then the totals, the multiply-adds per image, the input shape, the head and
// the batch-norm convention.
std::string format_summary(const ModelSummary& summary);

// Returns when `label_smoothing` is 0 or `spec` has a smoothed training loss (softmax and
// logsoftmax heads); throws core::UsageError naming --label-smoothing and the head, or k-nearest
// neighbours, otherwise.
void check_label_smoothing(const ArchSpec& spec, double label_smoothing);

}  // namespace digitlab::models
