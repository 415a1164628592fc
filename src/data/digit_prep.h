// MNIST-style preprocessing of a photo or scan of one digit into the 28x28 image a model expects.
#pragma once

#include <cstdint>

#include "data/image_io.h"

namespace digitlab::data {

enum class InkPolarity { kAuto, kDarkInk, kLightInk };

struct PrepOptions {
  // Contrast with the paper below this fraction of the ink's peak contrast counts as paper.
  // Measured (docs/preprocessing.md): 0.2-0.45 agree equally well with MNIST on scan-like
  // renderings; at 0.1 noise and light falloff leak in (heavy noise: mean difference 19.7 against
  // 9.7); from 0.35 on, MNIST's own faint strokes go (32 of 10,000 test digits lose over 15% of
  // their ink, 2 at 0.25).
  double threshold = 0.25;
  // A connected region of ink counts only when its mass reaches this fraction of the heaviest
  // region's: drops specks and dirt, keeps the detached stroke of a 5 or a 4.
  double min_region_mass = 0.1;
  // Weakest peak contrast (grey levels above the paper) that can be ink; anything fainter is a
  // blank page. The noise level also raises this bar.
  double min_contrast = 24;
  InkPolarity polarity = InkPolarity::kAuto;
};

// Bounding box in the input image's pixels.
struct PixelBox {
  int x = 0, y = 0, width = 0, height = 0;
};

struct PreparedDigit {
  GrayImage image;         // 28x28, ink bright (peak 255) on 0 like MNIST; all 0 when no ink
  bool ink_found = false;  // false: blank page, nothing to classify
  bool inverted = false;   // dark ink on light paper was found and turned around
  int background = 0;      // paper grey level (0-255) from the median of the border
  double noise = 0;        // paper's standard deviation, grey levels (robust, from the border)
  double peak = 0;         // ink's peak contrast above the paper, grey levels
  PixelBox ink_box;        // the ink kept, in input pixels; empty without ink
};

// Paper level and gradient from the border (medians of its four sides); polarity from which
// side of the paper level holds more contrast; the paper subtracted; 8-connected regions above
// options.threshold of the peak (found on a copy smoothed as much as the noise needs), dropping
// those under options.min_region_mass of the heaviest. Then as MNIST was made (LeCun et al.):
// crop to the ink, scale the longer side to 20 px keeping the aspect (area averaging down,
// bilinear up), paste into 28x28 with the centre of mass at pixel (14, 14) (rounded to whole
// pixels; MNIST's own mean is (14.0, 14.0) in pixel indices); finally stretch the peak to 255.
// Images over 1024 px on a side are box-averaged down first. Requires img.width, img.height >= 1
// and img.pixels.size() == width * height (otherwise throws core::RuntimeError) and
// options.threshold in (0, 1) (otherwise core::UsageError). Guarantees a 28x28 result; a blank
// page gives ink_found = false and all zeros, not an exception; with ink its maximum is 255 and
// the ink's longer side spans 19-21 pixels unless the centring pushed part of it off the edge.
PreparedDigit prepare_digit(const GrayImage& img, const PrepOptions& options = {});

// Resizes to w x h: area averaging where it shrinks (every source pixel counts by its overlap),
// bilinear where it grows. Requires sizes >= 1 and a consistent `src`; otherwise throws
// core::RuntimeError.
GrayImage resize_image(const GrayImage& src, int w, int h);

}  // namespace digitlab::data
