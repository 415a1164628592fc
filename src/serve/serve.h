// `digitlab serve` and `digitlab predict`: a trained model answering for real images.
#pragma once

#include <string>
#include <vector>

#include "serve/server.h"

namespace digitlab::serve {

struct ServeOptions {
  std::string model;   // run directory or checkpoint file
  std::string reader;  // for POST /v1/read: a line reader or classifier run ("": model)
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

struct ReadCommandOptions {
  std::string model;
  std::vector<std::string> inputs;  // image files and directories of them
  bool json = false;
  double min_confidence = 0.6;  // digits read with less are marked uncertain ('?')
  int threads = 0;
  std::string precision = "auto";
};

// `digitlab read`: finds and reads the numbers in each image (read/reader.h) with the model's
// classifier, printing per image its text and per number its box and digits (one JSON document
// {"results": [...]} with `json`). An image with no digits gives an empty text and the reason;
// an unreadable one is one line on stderr naming it, the others are still read, exit code 1.
// Throws core::Error for a bad checkpoint or options.
int read_command(const ReadCommandOptions& options);

struct ReadBenchOptions {
  std::string model;
  std::string data_root = "data";
  int count = 2000;
  uint64_t seed = 1;
  bool json = false;
  int threads = 0;
  std::string save_errors;  // directory for the first 100 misread images ("" = none)
  // Font files to draw the digits from instead of MNIST's test digits (data/font_digits.h).
  std::vector<std::string> fonts;
};

// `digitlab bench --what read`: `count` numbers of 2-8 digits drawn (with `seed`) from the test
// split and composed by data::render_number with the default style; prints number accuracy
// (exact text), digit accuracy (1 - edit distance / length), both per length and for numbers
// with and without touching digits, the commonest errors and images read per second (reading
// only, not composing). With `fonts`, the digits are drawn from those fonts (20 versions of each
// digit per font) instead. Requires a model of the digits 0-9 (otherwise core::UsageError).
int read_bench_command(const ReadBenchOptions& options);

}  // namespace digitlab::serve
