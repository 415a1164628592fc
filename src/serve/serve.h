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

struct ScanBenchOptions {
  std::string model;  // run directory or checkpoint file
  std::string data_root = "data";
  int count = 1000;  // test digits per variant
  uint64_t seed = 1;
  bool json = false;
  int threads = 0;
};

// `digitlab bench --what scan`: the model's accuracy on the first `count` test digits as they are,
// and on scan-like renderings of them (data/scan_render.h), per variant, read two ways: through
// prepare_digit, and by naively resizing the whole image to 28x28 (polarity fixed), to show what
// the preprocessing is worth. Returns the exit code; throws core::Error for bad input.
int scan_bench_command(const ScanBenchOptions& options);

}  // namespace digitlab::serve
