// `digitlab serve` and `digitlab predict`: a trained model answering for real images.
#pragma once

#include <string>
#include <vector>

#include "serve/server.h"

namespace digitlab::serve {

struct ServeOptions {
  std::string model;  // run directory or checkpoint file
  ServerOptions server;
  int threads = 0;                 // torch compute threads, 0 = one per core
  std::string precision = "auto";  // inference weights: auto, fp32 or bf16
};

// Loads the model and serves it (run_server) until SIGINT/SIGTERM. Returns the exit code; throws
// core::Error for a bad checkpoint, option or address.
int serve_command(const ServeOptions& options);

struct PredictOptions {
  std::string model;
  std::vector<std::string> inputs;  // image files and directories of them
  int top_k = 3;
  bool json = false;
  std::string save_preprocessed;  // directory for the 28x28 images the model saw; "" = none
  int threads = 0;
  std::string precision = "auto";
};

// Reads each image (PNG, JPEG, BMP, GIF, PGM; directories are walked, images only, sorted),
// prepares it MNIST-style and prints file, label, confidence and the top-k classes (a JSON array
// on stdout with `json`). An unreadable image is one line on stderr naming it and the run goes on;
// the exit code is then 1. Throws core::Error for a bad checkpoint or options.
int predict_command(const PredictOptions& options);

}  // namespace digitlab::serve
