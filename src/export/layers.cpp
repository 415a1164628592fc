// Reads a built network's modules into the layer list both exporters write from.
#include "export/layers.h"

#include "core/error.h"
#include "models/builder.h"

namespace digitlab::exporter {
namespace nn = torch::nn;
using core::RuntimeError;

namespace {

template <size_t D>
bool all_equal(const torch::ExpandingArray<D>& a, int64_t v) {
  for (size_t i = 0; i < D; ++i) {
    if ((*a)[i] != v) return false;
  }
  return true;
}

template <size_t D>
bool square(const torch::ExpandingArray<D>& a) {
  return all_equal(a, (*a)[0]);
}

void add_tensors(NetLayer& layer, const nn::Module& m) {
  for (const auto& p : m.named_parameters(/*recurse=*/false)) {
    layer.tensors.emplace_back(layer.name + "." + p.key(), export_tensor(p.value()));
  }
  for (const auto& b : m.named_buffers(/*recurse=*/false)) {
    layer.tensors.emplace_back(layer.name + "." + b.key(), export_tensor(b.value()));
  }
}

}  // namespace

torch::Tensor export_tensor(const torch::Tensor& t) {
  torch::Tensor out = t.detach().to(torch::kCPU);
  if (out.is_floating_point()) out = out.to(torch::kFloat32);
  // A clone owns exactly its elements: a view would carry (and pickle) its whole storage.
  return out.contiguous().clone();
}

namespace {

NetLayer describe_module(const std::string& name, const nn::Module& m, const std::string& source,
                         bool in_block);

// A residual block's body, projection and activation; its tensors are all of theirs.
void describe_residual(NetLayer& l, const models::ResidualImpl& r, const std::string& source) {
  l.type = LayerType::kResidual;
  for (const auto& child : r.body->named_children()) {
    l.body.push_back(
        describe_module(l.name + ".body." + child.key(), *child.value(), source, true));
  }
  if (r.projection) {
    l.projection.push_back(describe_module(l.name + ".projection", *r.projection, source, true));
  }
  l.activation = r.activation == models::Activation::kRelu   ? LayerType::kRelu
                 : r.activation == models::Activation::kTanh ? LayerType::kTanh
                                                             : LayerType::kSigmoid;
  for (const auto* part : {&l.body, &l.projection}) {
    for (const NetLayer& inner : *part) {
      l.tensors.insert(l.tensors.end(), inner.tensors.begin(), inner.tensors.end());
    }
  }
}

NetLayer describe_module(const std::string& name, const nn::Module& m, const std::string& source,
                         bool in_block) {
  auto unsupported = [&](const std::string& what) {
    return RuntimeError(source + ": module " + name + " (" + what + ") cannot be exported");
  };
  NetLayer l;
  l.name = name;
  if (const auto* conv = m.as<nn::Conv2dImpl>()) {
    const auto& o = conv->options;
    const auto* pad = c10::get_if<torch::ExpandingArray<2>>(&o.padding());
    if (!square(o.kernel_size()) || !pad || !square(*pad) || !all_equal(o.stride(), 1) ||
        !all_equal(o.dilation(), 1) || o.groups() != 1 ||
        !c10::get_if<torch::enumtype::kZeros>(&o.padding_mode())) {
      throw unsupported("a convolution other than square, stride 1, zero-padded");
    }
    l.type = LayerType::kConv;
    l.in = o.in_channels(), l.out = o.out_channels();
    l.kernel = (*o.kernel_size())[0], l.padding = (**pad)[0];
    l.bias = o.bias();
  } else if (const auto* bn2 = m.as<nn::BatchNorm2dImpl>()) {
    if (!bn2->options.track_running_stats()) throw unsupported("batch norm without stats");
    l.type = LayerType::kBatchNorm2d;
    l.in = l.out = bn2->options.num_features();
    l.eps = bn2->options.eps(), l.momentum = bn2->options.momentum().value_or(0.1);
    l.bias = bn2->options.affine();
  } else if (const auto* residual = m.as<models::ResidualImpl>()) {
    describe_residual(l, *residual, source);
    return l;
  } else if (m.as<nn::ReLUImpl>()) {
    l.type = LayerType::kRelu;
  } else if (m.as<nn::TanhImpl>()) {
    l.type = LayerType::kTanh;
  } else if (m.as<nn::SigmoidImpl>()) {
    l.type = LayerType::kSigmoid;
  } else if (const auto* drop = m.as<nn::DropoutImpl>()) {
    l.type = LayerType::kDropout;
    l.rate = drop->options.p();
  } else if (in_block) {
    throw unsupported(m.name() + " inside a residual block");
  } else if (const auto* bn1 = m.as<nn::BatchNorm1dImpl>()) {
    if (!bn1->options.track_running_stats()) throw unsupported("batch norm without stats");
    l.type = LayerType::kBatchNorm1d;
    l.in = l.out = bn1->options.num_features();
    l.eps = bn1->options.eps(), l.momentum = bn1->options.momentum().value_or(0.1);
    l.bias = bn1->options.affine();
  } else if (const auto* pool = m.as<nn::MaxPool2dImpl>()) {
    const auto& o = pool->options;
    if (!square(o.kernel_size()) || !all_equal(o.stride(), (*o.kernel_size())[0]) ||
        !all_equal(o.padding(), 0) || !all_equal(o.dilation(), 1) || o.ceil_mode()) {
      throw unsupported("a max-pool other than square, stride = size, unpadded");
    }
    l.type = LayerType::kMaxPool;
    l.kernel = (*o.kernel_size())[0];
  } else if (const auto* flat = m.as<nn::FlattenImpl>()) {
    if (flat->options.start_dim() != 1 || flat->options.end_dim() != -1) {
      throw unsupported("a flatten other than from dimension 1");
    }
    l.type = LayerType::kFlatten;
  } else if (const auto* linear = m.as<nn::LinearImpl>()) {
    l.type = LayerType::kLinear;
    l.in = linear->options.in_features(), l.out = linear->options.out_features();
    l.bias = linear->options.bias();
  } else if (const auto* log_softmax = m.as<nn::LogSoftmaxImpl>()) {
    if (log_softmax->options.dim() != 1) throw unsupported("log-softmax over dim != 1");
    l.type = LayerType::kLogSoftmax;
  } else {
    throw unsupported(m.name());
  }
  add_tensors(l, m);
  return l;
}

}  // namespace

NetDescription describe_network(nn::Sequential& net, models::Head head, const std::string& source) {
  if (models::find_knn(net)) {
    throw core::UsageError(source +
                           ": a k-nearest-neighbours model is a search over its stored training "
                           "images, not a network; ONNX and PyTorch export cover networks only");
  }
  NetDescription d;
  d.head = head;
  auto unsupported = [&](const std::string& name, const std::string& what) {
    return RuntimeError(source + ": module " + name + " (" + what + ") cannot be exported");
  };
  bool have_linear = false;
  for (const auto& child : net->named_children()) {
    NetLayer l = describe_module(child.key(), *child.value(), source, false);
    if (l.type == LayerType::kLinear) {
      d.output_layer = d.layers.size();
      have_linear = true;
    }
    d.layers.push_back(std::move(l));
  }
  if (!have_linear) throw RuntimeError(source + ": the network has no output (linear) layer");
  // What follows the output layer must be exactly the head's own module.
  std::vector<LayerType> expected;
  if (head == models::Head::kLogSoftmax) expected = {LayerType::kLogSoftmax};
  if (head == models::Head::kSigmoid) expected = {LayerType::kSigmoid};
  std::vector<LayerType> trailing;
  for (size_t i = d.output_layer + 1; i < d.layers.size(); ++i) {
    trailing.push_back(d.layers[i].type);
    d.layers[i].head = true;
  }
  if (trailing != expected) {
    throw RuntimeError(source + ": the modules after the output layer do not match the '" +
                       models::head_name(head) + "' head");
  }
  for (size_t i = 0; i < d.output_layer; ++i) {
    if (d.layers[i].type == LayerType::kLogSoftmax) {
      throw unsupported(d.layers[i].name, "a log-softmax before the output layer");
    }
  }
  return d;
}

}  // namespace digitlab::exporter
