// Scan-like renderings of MNIST digits (a digit on paper, as a phone or scanner would capture it),
// for testing and measuring preprocessing and models on something like real images.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/digit_prep.h"
#include "data/image_io.h"

namespace digitlab::data {

// Ranges each rendering draws from, uniformly unless said otherwise.
struct ScanVariant {
  std::string name;
  int size_lo = 60, size_hi = 400;  // image width; height = width * aspect, clamped to these
  double aspect_lo = 0.75, aspect_hi = 1.33;
  double digit_lo = 0.35,
         digit_hi = 0.8;  // the digit's 20-px box, as a fraction of the shorter side
  double paper_lo = 170, paper_hi = 240;  // grey level of the paper
  double ink_lo = 0, ink_hi = 80;         // grey level of solid ink
  double noise_lo = 0, noise_hi = 0;      // Gaussian noise, standard deviation in grey levels
  double gradient = 0;                    // up to this much light falloff across the image
  double rotate = 0;                      // degrees, +-
  int specks = 0;                         // up to this many dust specks and pen dots
  double blur_prob = 0;                   // chance of a defocus blur,
  double blur_hi = 0;                     // its Gaussian sigma up to this, in MNIST pixels
  double jpeg_prob = 0;                   // chance of a JPEG round trip,
  int jpeg_lo = 60, jpeg_hi = 95;         // at a quality in this range
};

// The named variants docs/ reports accuracy for:
//   clean-large    200-400 px, white paper, black ink, no noise or rotation;
//   dark-on-light  60-400 px, paper 170-240, ink 0-80, slight noise and light falloff;
//   noisy-grey     grey paper 150-200, ink 20-80, noise sigma 6-12, strong light falloff;
//   small-rotated  60-120 px, rotation +-10 degrees, some blur;
//   light-on-dark  chalk on a board: paper 20-70, ink 180-250;
//   all            everything at once, plus up to 3 specks of dust, and JPEG compression half
//                  of the time.
std::vector<std::string> scan_variant_names();

// The variant called `name`. Throws core::UsageError naming it and listing the known names.
ScanVariant scan_variant(const std::string& name);

// Renders one 28x28 MNIST digit (row-major, ink bright) as dark (or, for light-on-dark, light) ink
// on paper: random size, aspect, digit size and position (the ink stays inside the image),
// rotation, paper level, light falloff, blur, noise and JPEG per `v`. Deterministic for a seed
// (std::mt19937_64 plus own distributions, so the same on every standard library).
// Requires mnist28 to point at 784 bytes.
GrayImage render_scan_like(const uint8_t* mnist28, const ScanVariant& v, uint64_t seed);

// A sheet for looking at the pipeline: one row per digit with the original, its scan-like
// rendering (fitted into the cell), naive resizing of that rendering to 28x28 (inverted when the
// preprocessing inverted it), and prepare_digit's result; 28x28 images zoomed 4x. `digits` holds
// n consecutive 28x28 images; digit i uses seed + i.
GrayImage scan_preview_sheet(const uint8_t* digits, int n, const ScanVariant& v, uint64_t seed,
                             const PrepOptions& options = {});

}  // namespace digitlab::data
