// Drawing helpers shared by the renderers of scan-like digits and numbers: seeded distributions
// that are the same on every standard library, and a Gaussian blur.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace digitlab::data {

constexpr double kPi = 3.14159265358979323846;

// Distributions written out, because std::uniform_real_distribution and std::normal_distribution
// differ between standard libraries and renderings must not.
class Draw {
 public:
  explicit Draw(uint64_t seed) : gen_(seed) {}
  double uniform(double lo, double hi) { return lo + (hi - lo) * double(gen_() >> 11) * 0x1p-53; }
  bool chance(double p) { return uniform(0, 1) < p; }
  double normal() {
    // Box-Muller; 1 - u keeps the logarithm finite.
    const double u = 1 - uniform(0, 1), t = uniform(0, 2 * kPi);
    return std::sqrt(-2 * std::log(u)) * std::cos(t);
  }

 private:
  std::mt19937_64 gen_;
};

// `src` (w x h) blurred with a Gaussian of `sigma` pixels, edges clamped.
inline std::vector<float> gaussian_blur(const std::vector<float>& src, int w, int h, double sigma) {
  const int r = int(std::ceil(3 * sigma));
  std::vector<float> k(size_t(2 * r + 1));
  float sum = 0;
  for (int i = -r; i <= r; ++i)
    sum += k[size_t(i + r)] = float(std::exp(-i * i / (2 * sigma * sigma)));
  for (float& v : k) v /= sum;
  std::vector<float> tmp(src.size(), 0.f), out(src.size(), 0.f);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      float acc = 0;
      for (int i = -r; i <= r; ++i) {
        acc += k[size_t(i + r)] * src[size_t(y) * size_t(w) + size_t(std::clamp(x + i, 0, w - 1))];
      }
      tmp[size_t(y) * size_t(w) + size_t(x)] = acc;
    }
  }
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      float acc = 0;
      for (int i = -r; i <= r; ++i) {
        acc += k[size_t(i + r)] * tmp[size_t(std::clamp(y + i, 0, h - 1)) * size_t(w) + size_t(x)];
      }
      out[size_t(y) * size_t(w) + size_t(x)] = acc;
    }
  }
  return out;
}

}  // namespace digitlab::data
