// `digitlab export`: checks the flags, loads the checkpoint and runs the chosen writer.
#include "export/export.h"

#include <iostream>

#include "core/error.h"
#include "core/files.h"
#include "export/exporters.h"

namespace digitlab::exporter {
using core::UsageError;

int export_command(const ExportOptions& options) {
  // Flags first: loading is the slow part (a k-NN checkpoint holds its whole training set).
  if (options.format != "onnx" && options.format != "pytorch") {
    throw UsageError("--format: unknown '" + options.format + "' (allowed: onnx, pytorch)");
  }
  if (options.out.empty()) {
    throw UsageError("--out: required (the .onnx file, or the directory for model.py, weights.pt)");
  }
  if (options.opset < kMinOpset || options.opset > kMaxOpset) {
    throw UsageError("--opset: " + std::to_string(options.opset) + " is not supported (allowed: " +
                     std::to_string(kMinOpset) + " to " + std::to_string(kMaxOpset) + ")");
  }
  if (options.format == "pytorch" && core::file_exists(options.out) &&
      !core::dir_exists(options.out)) {
    throw UsageError("--out: '" + options.out +
                     "' is a file; the pytorch format writes a directory (model.py, weights.pt)");
  }
  const train::LoadedCheckpoint ck = train::load_checkpoint(options.target);
  if (!ck.meta.members.is_null()) {
    throw UsageError(ck.path + ": is an ensemble of " + std::to_string(ck.meta.members.size()) +
                     " networks; export its members one by one");
  }
  if (options.format == "onnx") {
    // An existing directory receives model.onnx, as `cp` would place it.
    const std::string path =
        core::dir_exists(options.out) ? core::join_path(options.out, "model.onnx") : options.out;
    std::cout << write_onnx(ck, path, options.opset) << "\n";
  } else {
    std::cout << write_pytorch(ck, options.out) << "\n";
  }
  return 0;
}

}  // namespace digitlab::exporter
