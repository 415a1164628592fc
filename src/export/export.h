// `digitlab export`: a trained network leaves digitlab as ONNX or as a PyTorch model.py + weights.
#pragma once

#include <string>

namespace digitlab::exporter {

struct ExportOptions {
  std::string target;  // run directory (its checkpoints/best.pt) or checkpoint file
  std::string format;  // "onnx" or "pytorch"
  std::string out;     // onnx: the .onnx file (or a directory for model.onnx); pytorch: a directory
  int opset = 17;      // ONNX opset, 13 to 17
};

// Requires: format "onnx" or "pytorch", a non-empty out, opset in [13, 17] (else core::UsageError
// naming the flag). Loads the checkpoint (core::RuntimeError naming the file when it is missing,
// foreign or mismatched; core::UsageError for a k-nearest-neighbours model, which is no network)
// and writes, each file through a temporary name and a rename:
// - onnx: one model checked with onnx::checker and strict shape inference, input "input" float
//   [N,1,28,28] of pixel values 0-255 (normalization inside the graph), outputs "probabilities"
//   and "logits" [N,K], class names and normalization in metadata_props;
// - pytorch: out/model.py (an nn.Sequential whose state_dict keys are the C++ network's, plus
//   load_model() and predict()) and out/weights.pt (a pickled dict of float32 tensors).
// Prints one line per file written on stdout and returns 0.
int export_command(const ExportOptions& options);

}  // namespace digitlab::exporter
