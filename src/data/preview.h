// `digitlab preview`: a labelled mosaic of training images, or rows of images beside augmented
// versions of them.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "data/augment.h"
#include "data/image_io.h"
#include "data/store.h"

namespace digitlab::data {

struct PreviewOptions {
  std::string data_root = "data";
  std::string dataset = "mnist";
  std::string augment = "none";  // "none": the mosaic; a spec: rows of augmentation draws
  std::string grid;              // mosaic "COLSxROWS"; empty means 8x8
  std::string out;
  // Unset (-1) they are 8 and 6; set, they belong to an augmentation or --numbers, and the mosaic
  // refuses them rather than ignore them.
  int rows = -1;      // images (with an augmentation or --numbers)
  int variants = -1;  // augmented versions of each
  uint64_t seed = 42;
  bool numbers = false;  // composed numbers (data/number_render.h) instead of augmentations
};

// Lays out `rows` seeded-random images of `split`, each as: its label, the original, then
// `variants` augmentations drawn as training would draw them in epochs 1..variants.
GrayImage preview_grid(const RawSplit& split, const AugmentSpec& spec, int rows, int variants,
                       uint64_t seed);

// A mosaic of `cols` x `rows` distinct seeded-random images of `split` (every image once when the
// split has fewer), row by row, each with its class name under it: the name as written where the
// 5x7 digit font draws all of it (digits, '-'), else the class index. `class_names` may be empty
// (indices are drawn). Cells are the image at 2x and a 20-pixel label strip, 6 pixels apart:
// width cols * (2W + 6) + 6, height rows * (2H + 26) + 6.
GrayImage preview_mosaic(const RawSplit& split, const std::vector<std::string>& class_names,
                         int cols, int rows, uint64_t seed);

// "COLSxROWS" with each 1 to 64, as (cols, rows); throws core::UsageError naming --grid otherwise.
std::pair<int, int> parse_grid(const std::string& grid);

// `rows` numbers of 2-8 seeded-random images of `split`, composed as `digitlab read` is trained
// and measured on (data/number_render.h), stacked with a 4-pixel gap; `texts` gets each one's
// digits.
GrayImage number_sheet(const RawSplit& split, int rows, uint64_t seed,
                       std::vector<std::string>& texts);

// Writes the mosaic (with an augmentation the grid of draws, with options.numbers the number sheet)
// to options.out and prints what it
// wrote. Throws core::UsageError for bad options or spec, core::RuntimeError for data or file
// problems. Returns the exit code.
int preview_command(const PreviewOptions& options);

}  // namespace digitlab::data
