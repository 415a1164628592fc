// `digitlab preview`: a PNG grid of training images beside augmented versions of them.
#pragma once

#include <cstdint>
#include <string>

#include "data/augment.h"
#include "data/image_io.h"
#include "data/store.h"

namespace digitlab::data {

struct PreviewOptions {
  std::string data_root = "data";
  std::string dataset = "mnist";
  std::string augment = "seed002";
  std::string out;
  int rows = 8;      // images
  int variants = 6;  // augmented versions of each
  uint64_t seed = 42;
  bool numbers = false;  // composed numbers (data/number_render.h) instead of augmentations
};

// Lays out `rows` seeded-random images of `split`, each as: its label, the original, then
// `variants` augmentations drawn as training would draw them in epochs 1..variants.
GrayImage preview_grid(const RawSplit& split, const AugmentSpec& spec, int rows, int variants,
                       uint64_t seed);

// `rows` numbers of 2-8 seeded-random images of `split`, composed as `digitlab read` is trained
// and measured on (data/number_render.h), stacked with a 4-pixel gap; `texts` gets each one's
// digits.
GrayImage number_sheet(const RawSplit& split, int rows, uint64_t seed,
                       std::vector<std::string>& texts);

// Writes the grid (or with options.numbers the number sheet) to options.out and prints what it
// wrote. Throws core::UsageError for bad options or spec, core::RuntimeError for data or file
// problems. Returns the exit code.
int preview_command(const PreviewOptions& options);

}  // namespace digitlab::data
