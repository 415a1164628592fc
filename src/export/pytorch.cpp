// PyTorch export: a generated model.py with the same module list, and the weights as a pickled
// dict.
#include <cstdio>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/files.h"
#include "export/exporters.h"
#include "export/layers.h"

namespace digitlab::exporter {
using core::RuntimeError;

namespace {

// A Python float literal that reads back as the same double.
std::string py_float(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  std::string s = buf;
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";  // "n": nan, inf never occur
  return s;
}

// JSON strings and arrays of strings are valid Python literals.
std::string py_str(const std::string& s) { return nlohmann::json(s).dump(); }

std::string py_module(const NetLayer& l, const std::string& indent);

// Residual(nn.Sequential(...), projection or None, activation), one inner module a line.
std::string py_residual(const NetLayer& l, const std::string& indent) {
  const std::string in = indent + "    ";
  std::string out = "Residual(\n" + in + "nn.Sequential(\n";
  for (const NetLayer& b : l.body) out += in + "    " + py_module(b, in + "    ") + ",\n";
  out += in + "),\n" + in +
         (l.projection.empty() ? std::string("None") : py_module(l.projection[0], in)) + ",\n";
  NetLayer act;
  act.type = l.activation;
  return out + in + py_module(act, in) + ",\n" + indent + ")";
}

std::string py_module(const NetLayer& l, const std::string& indent) {
  switch (l.type) {
    case LayerType::kResidual:
      return py_residual(l, indent);
    case LayerType::kConv:
      return "nn.Conv2d(" + std::to_string(l.in) + ", " + std::to_string(l.out) +
             ", kernel_size=" + std::to_string(l.kernel) +
             ", padding=" + std::to_string(l.padding) + (l.bias ? "" : ", bias=False") + ")";
    case LayerType::kBatchNorm2d:
    case LayerType::kBatchNorm1d:
      return std::string(l.type == LayerType::kBatchNorm2d ? "nn.BatchNorm2d("
                                                           : "nn.BatchNorm1d(") +
             std::to_string(l.out) + ", eps=" + py_float(l.eps) +
             ", momentum=" + py_float(l.momentum) + (l.bias ? "" : ", affine=False") + ")";
    case LayerType::kMaxPool:
      return "nn.MaxPool2d(" + std::to_string(l.kernel) + ", stride=" + std::to_string(l.kernel) +
             ")";
    case LayerType::kRelu:
      return "nn.ReLU()";
    case LayerType::kTanh:
      return "nn.Tanh()";
    case LayerType::kSigmoid:
      return "nn.Sigmoid()";
    case LayerType::kDropout:
      return "nn.Dropout(" + py_float(l.rate) + ")";
    case LayerType::kFlatten:
      return "nn.Flatten()";
    case LayerType::kLinear:
      return "nn.Linear(" + std::to_string(l.in) + ", " + std::to_string(l.out) +
             (l.bias ? "" : ", bias=False") + ")";
    case LayerType::kLogSoftmax:
      return "nn.LogSoftmax(dim=1)";
  }
  return "";
}

std::string py_probabilities(models::Head head) {
  switch (head) {
    case models::Head::kSoftmax:
      return "    return torch.softmax(outputs, 1)\n";
    case models::Head::kSvm:
      return "    # Hinge-loss scores are no probabilities; softmax keeps their ranking.\n"
             "    return torch.softmax(outputs, 1)\n";
    case models::Head::kLogSoftmax:
      return "    return outputs.exp()\n";
    case models::Head::kSigmoid:
      return "    # Independent sigmoid outputs, renormalized to sum to 1 as the loss did.\n"
             "    return outputs / outputs.sum(1, keepdim=True).clamp_min(1e-12)\n";
  }
  return "";
}

// model.py's residual block, when the network has one: the same function and state_dict keys as
// digitlab's models::ResidualImpl.
constexpr const char* kPyResidual = R"py(class Residual(nn.Module):
    """activation(body(x) + shortcut(x)): the shortcut is x, or a 1x1 projection of x when the
    body changes the channel count."""

    def __init__(self, body, projection, activation):
        super().__init__()
        self.body = body
        if projection is not None:
            self.projection = projection
        self.activation = activation

    def forward(self, x):
        shortcut = self.projection(x) if hasattr(self, "projection") else x
        return self.activation(self.body(x) + shortcut)


)py";

std::string model_py(const train::LoadedCheckpoint& ck, const NetDescription& d) {
  const auto& m = ck.meta;
  const auto& norm = m.normalization;
  std::ostringstream o;
  o << "# model.py: digitlab's " << m.model << " (" << m.spec
    << ") as a PyTorch module; weights in weights.pt.\n"
    << R"py("""digitlab )py" << m.model << " (" << m.spec << "), trained on " << m.dataset
    << ", epoch " << m.epoch << R"py(; exported by digitlab )py" << DIGITLAB_VERSION << R"py(.

Files: this model.py and weights.pt, a pickled dict of tensors (float32; batch norm's counters
int64) that torch.load reads as it is and load_state_dict(strict=True) accepts.

    import model                          # this directory on sys.path
    net = model.load_model()              # nn.Sequential in eval mode, weights loaded
    probs = model.predict(net, pixels)    # [N, K] probabilities, rows sum to 1

`pixels` are MNIST-style digits as float (or uint8) values 0-255, shaped [N,1,28,28], [N,28,28]
or [28,28]: white digit on black, centred by its centre of mass, longest side 20 px (digitlab's
`predict --save-preprocessed` writes images prepared so). predict() applies the normalization the
model was trained with (pixels * SCALE + SHIFT) and the head, and returns probabilities in the
order of CLASS_NAMES. Calling the module itself takes normalized inputs and returns what
digitlab's network returns: the output layer's scores, then the head's module if it has one
(HEAD: softmax and svm none, logsoftmax a LogSoftmax, sigmoid a Sigmoid).

The modules and their order are digitlab's, so state_dict keys ("0.weight", ...) are those of
its C++ torch::nn::Sequential. digitlab puts max-pooling before a convolution's activation: the
same function (the activations are non-decreasing), computed on fewer values.
"""
import os

import torch
from torch import nn

MODEL = )py"
    << py_str(m.model) << "\nSPEC = " << py_str(m.spec) << "\nDATASET = " << py_str(m.dataset)
    << "\nHEAD = " << py_str(models::head_name(d.head))
    << "\nCLASS_NAMES = " << nlohmann::json(m.class_names).dump()
    << "\nNORMALIZATION = {\"mode\": " << py_str(norm.mode) << ", \"mean\": " << py_float(norm.mean)
    << ", \"std\": " << py_float(norm.std) << "}\n"
    << "# pixels (0-255) * SCALE + SHIFT is the network's input.\n"
    << "SCALE = " << py_float(norm.scale()) << "\nSHIFT = " << py_float(norm.shift()) << "\n\n\n";
  for (const NetLayer& l : d.layers) {
    if (l.type != LayerType::kResidual) continue;
    o << kPyResidual;
    break;
  }
  o << "class Model(nn.Sequential):\n"
    << "    def __init__(self):\n"
    << "        super().__init__(\n";
  for (const NetLayer& l : d.layers) {
    o << "            " << py_module(l, "            ") << ",  # " << l.name
      << (l.head ? " (head)" : "") << "\n";
  }
  o << R"py(        )


def build_model():
    """The network with fresh weights."""
    return Model()


def load_model(weights=None, map_location="cpu"):
    """The network with the exported weights (default: weights.pt beside this file), in eval mode."""
    if weights is None:
        weights = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights.pt")
    net = Model()
    net.load_state_dict(torch.load(weights, map_location=map_location), strict=True)
    return net.eval()


def normalize(pixels):
    """Pixels 0-255 ([N,1,28,28], [N,28,28] or [28,28]) -> the network's input [N,1,28,28]."""
    if not isinstance(pixels, torch.Tensor):
        import numpy as np  # a writable float copy: torch warns about read-only arrays

        pixels = torch.from_numpy(np.array(pixels, dtype=np.float32))
    x = pixels.to(torch.float32)
    if x.dim() == 2:
        x = x.unsqueeze(0)
    if x.dim() == 3:
        x = x.unsqueeze(1)
    return x * SCALE + SHIFT


def probabilities(outputs):
    """The network's outputs -> class probabilities [N, K] (rows sum to 1)."""
)py" << py_probabilities(d.head)
    << R"py(

@torch.no_grad()
def predict(net, pixels):
    """Class probabilities [N, K] for pixels 0-255, in the order of CLASS_NAMES."""
    device = next(net.parameters()).device
    return probabilities(net(normalize(pixels).to(device)))


if __name__ == "__main__":
    net = load_model()
    print(net)
    blank = predict(net, torch.zeros(28, 28))[0]
    print("blank image:", {c: round(p, 4) for c, p in zip(CLASS_NAMES, blank.tolist())})
)py";
  return o.str();
}

}  // namespace

std::string write_pytorch(const train::LoadedCheckpoint& ck, const std::string& dir) {
  torch::nn::Sequential net = ck.net;
  const NetDescription d = describe_network(net, ck.spec.head, ck.path);
  c10::Dict<std::string, at::Tensor> weights;
  size_t index = 0;
  for (const NetLayer& l : d.layers) {
    // model.py lists modules positionally; nn.Sequential names them "0", "1", ... as LibTorch does.
    if (l.name != std::to_string(index++)) {
      throw RuntimeError(ck.path + ": module '" + l.name + "' is not named by its position");
    }
    for (const auto& t : l.tensors) weights.insert(t.first, t.second);
  }
  std::vector<char> pickled;
  try {
    pickled = torch::pickle_save(c10::IValue(weights));
  } catch (const c10::Error& e) {
    throw RuntimeError(ck.path + ": cannot pickle the weights (" +
                       core::one_line(e.what_without_backtrace()) + ")");
  }
  core::make_dirs(dir);
  const std::string weights_path = core::join_path(dir, "weights.pt");
  const std::string model_path = core::join_path(dir, "model.py");
  core::write_file_atomic(weights_path, std::string_view(pickled.data(), pickled.size()));
  core::write_file_atomic(model_path, model_py(ck, d));
  return "wrote " + model_path + " and " + weights_path + " (" + std::to_string(weights.size()) +
         " tensors, " + std::to_string(pickled.size()) + " bytes)";
}

}  // namespace digitlab::exporter
