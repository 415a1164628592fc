// Training-time image augmentation: spec parsing and per-image random warps; no torch.
#pragma once

#include <cstdint>
#include <string>

namespace digitlab::data {

// What to do to each training image, in the order seed 002's torchvision pipeline applies it:
// random rotation, random resized crop, random translation; then elastic distortion (Simard et al.
// 2003) and random erasing. All geometric steps are composed into one bilinear resampling with zero
// fill, so an image is interpolated once.
struct AugmentSpec {
  double rotate = 0;                  // degrees: angle uniform in [-rotate, rotate]
  double scale_lo = 1, scale_hi = 1;  // resized crop: fraction of the area kept
  double ratio_lo = 1, ratio_hi = 1;  // resized crop: aspect ratio (log-uniform)
  double translate = 0;               // fraction of width/height: shift uniform in +-
  double elastic_alpha = 0;           // displacement scale in pixels
  double elastic_sigma = 4;           // Gaussian smoothing of the displacement field
  double erase = 0;                   // probability of erasing one rectangle
  bool enabled() const;
  bool operator==(const AugmentSpec& o) const;
};

// Parses "key=value,..." with keys rotate=D (0-180), scale=LO:HI (0 < LO <= HI <= 1),
// ratio=LO:HI (0 < LO <= HI <= 10), translate=F (0-0.5), elastic=ALPHA[:SIGMA] (0-100, 0.5-10),
// erase=P (0-1), and the preset "seed002" (rotate=10,scale=0.7:1,ratio=0.9:1.1,translate=0.1);
// later items override earlier ones. "" and "none" mean no augmentation.
// Throws core::UsageError "--augment: <key>: <problem> (allowed: <range>)".
AugmentSpec parse_augment(const std::string& text);

// Canonical text: parse_augment(to_string(s)) == s; "none" when nothing is enabled.
std::string to_string(const AugmentSpec& spec);

// A small, fast generator (splitmix64) so each image gets its own stream cheaply.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next();
  double uniform(double lo, double hi);  // [lo, hi)
  int64_t below(int64_t n);              // [0, n)

 private:
  uint64_t state_;
};

// The stream of one image: a hash of (seed, epoch, position in the epoch), so a result does not
// depend on which worker thread made it.
uint64_t image_stream(uint64_t seed, int64_t epoch, int64_t position);

// Maps output pixel centres to source pixel centres: src = (a*x + b*y + c, d*x + e*y + f).
struct Affine {
  double a = 1, b = 0, c = 0, d = 0, e = 1, f = 0;
  // (this after other): first `other`, then this.
  Affine after(const Affine& other) const;
};

// The inverse map of rotating an h x w image counter-clockwise (as displayed) by `degrees` about
// its centre.
Affine rotation_inverse(double degrees, int h, int w);

// Resamples `src` (uint8, h x w) into `dst` (float, same size, values 0-255) through `map`, with an
// optional displacement field (dx, dy: h*w values each, added to output coordinates before the
// map, or null) and zero fill outside the source. Bilinear.
void warp(const uint8_t* src, float* dst, int h, int w, const Affine& map, const float* dx,
          const float* dy);

// Augments one image: src uint8 h x w -> dst float h x w in 0-255, drawing from `rng`.
// With nothing enabled dst equals src exactly.
void augment_image(const uint8_t* src, float* dst, int h, int w, const AugmentSpec& spec, Rng& rng);

}  // namespace digitlab::data
