// The ONNX and PyTorch writers behind `digitlab export`, on an already loaded checkpoint.
#pragma once

#include <string>

#include "train/checkpoint.h"

namespace digitlab::exporter {

// Opsets whose schemas for every op written here the tests check (13, 15, 17); older ones change
// Softmax (2-D coercion) and BatchNormalization (spatial), newer ones the Debian onnx 1.12 checker
// does not know.
constexpr int kMinOpset = 13;
constexpr int kMaxOpset = 17;

// What the ONNX graph's input holds, for its metadata, docs and messages.
constexpr const char* kOnnxInputDoc =
    "float32 [N,1,28,28], pixel values 0-255 laid out as the training set's images (MNIST: white "
    "digit on black, centred by centre of mass, longest side 20 px); the graph applies the "
    "model's normalization itself";

// The checkpoint's network as a serialized onnx::ModelProto (see export_command in export.h for
// its inputs, outputs and metadata). Requires opset in [kMinOpset, kMaxOpset] and ck loaded by
// train::load_checkpoint; its weights may be bf16 or channels_last (written as plain float32).
// Guarantees the model passed onnx::checker and strict shape inference. Throws core::UsageError
// for a k-nearest-neighbours model, core::RuntimeError naming ck.path for anything it cannot
// express.
std::string onnx_model(const train::LoadedCheckpoint& ck, int opset);

// Writes onnx_model(ck, opset) to `path` atomically (parent directories created). Returns a
// one-line description of what it wrote. Throws as onnx_model, and core::RuntimeError naming
// `path` when it cannot be written.
std::string write_onnx(const train::LoadedCheckpoint& ck, const std::string& path, int opset);

// Writes `dir`/model.py (nn.Sequential with the C++ network's module names, build_model(),
// load_model(), normalize(), predict()) and `dir`/weights.pt (torch::pickle_save of a
// Dict<string, Tensor>: parameters and buffers, float32 contiguous), each atomically; creates
// `dir`. Returns a one-line description. Throws core::UsageError for a k-nearest-neighbours
// model, core::RuntimeError naming the file for a module it cannot express or a failed write.
std::string write_pytorch(const train::LoadedCheckpoint& ck, const std::string& dir);

}  // namespace digitlab::exporter
