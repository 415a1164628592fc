// Images of whole handwritten numbers composed from MNIST digits, as a scan or photo of a form
// would show them: the training and benchmark material of `digitlab read`.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "data/digit_prep.h"
#include "data/image_io.h"
#include "data/store.h"

namespace digitlab::data {

// Ranges each number draws from, uniformly.
struct NumberStyle {
  int width = 600, height = 150;           // the image
  double digit_lo = 0.3, digit_hi = 0.65;  // ink height of a digit, as a fraction of the height
  double gap_lo = -0.1, gap_hi = 0.45;  // between neighbours' ink, in digit heights (< 0 overlaps)
  double baseline = 0.06;               // each digit's baseline moves up to this, in heights
  double scale = 0.12;                  // each digit's size differs up to this fraction
  double slant = 12;                    // degrees, +-, the whole number
  double line_prob = 0.3;               // a ruled line under the number
  double box_prob = 0.15;               // a form box around it
  double paper_lo = 150, paper_hi = 240;  // grey level of the paper
  double ink_lo = 0, ink_hi = 90;         // of solid ink
  double noise_hi = 8;                    // Gaussian noise, standard deviation
  double gradient = 40;                   // light falloff across the image, grey levels
  double blur_prob = 0.3;                 // a defocus blur of up to 0.6 MNIST pixels
  double jpeg_prob = 0.5;                 // a JPEG round trip at quality 50-95
};

struct RenderedNumber {
  GrayImage image;              // dark ink on light paper
  std::string text;             // the digits' labels, left to right
  std::vector<PixelBox> boxes;  // each digit's ink, in image pixels
  std::vector<double> gaps;     // between neighbours' ink, px, before the slant (< 0: overlap)
};

// Renders the digits (each 784 bytes, an MNIST 28x28 image, ink bright) side by side as one
// number, with `labels[i]` the label of digits[i]. Deterministic for a seed. Requires
// digits.size() == labels.size() >= 1; the number is shrunk to fit the width when it would not.
RenderedNumber render_number(const std::vector<const uint8_t*>& digits, const std::string& labels,
                             const NumberStyle& style, uint64_t seed);

struct NumberDigits {
  std::vector<const uint8_t*> digits;  // 784-byte images of `split`
  std::string text;                    // their labels
};

// The digits of one number: its length (min_length to max_length, uniform) drawn from `pick`,
// then each digit's index in `split`. Requires a split holding digit classes 0-9 and at least
// one image, and 1 <= min_length <= max_length.
NumberDigits draw_number_digits(const RawSplit& split, std::mt19937_64& pick, int min_length = 2,
                                int max_length = 8);

}  // namespace digitlab::data
