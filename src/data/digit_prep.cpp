// MNIST-style digit preprocessing: paper model, polarity, ink regions, crop, resample, centring.
#include "data/digit_prep.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"

namespace digitlab::data {
namespace {

constexpr int kSide = 28, kBox = 20, kCentre = 14;
// Larger inputs are box-averaged to at most this many pixels a side first: a digit needs 20 px in
// the end, and it bounds the work and memory of a 40-megapixel photo.
constexpr int kWorkSide = 1024;

// One output pixel's source taps along one axis.
struct Taps {
  int first = 0;
  std::vector<float> weights;
};

// Area averaging when shrinking (each source pixel weighted by its overlap with the output pixel),
// bilinear between pixel centres when growing.
std::vector<Taps> axis_taps(int src, int dst) {
  std::vector<Taps> taps(static_cast<size_t>(dst));
  const double scale = double(src) / dst;
  for (int i = 0; i < dst; ++i) {
    Taps& t = taps[size_t(i)];
    if (dst < src) {
      const double lo = i * scale, hi = (i + 1) * scale;
      t.first = int(lo);
      for (int j = t.first; j < src && j < hi; ++j) {
        t.weights.push_back(float((std::min<double>(j + 1, hi) - std::max<double>(j, lo)) / scale));
      }
    } else {
      const double pos = std::clamp((i + 0.5) * scale - 0.5, 0.0, double(src - 1));
      t.first = std::min(int(pos), src - 1);
      const float frac = float(pos - t.first);
      t.weights = {1 - frac};
      if (frac > 0 && t.first + 1 < src) t.weights.push_back(frac);
    }
  }
  return taps;
}

// Separable resample of a row-major sw x sh float image to dw x dh.
std::vector<float> resample(const std::vector<float>& src, int sw, int sh, int dw, int dh) {
  const auto tx = axis_taps(sw, dw), ty = axis_taps(sh, dh);
  std::vector<float> rows(size_t(dw) * size_t(sh), 0.f), out(size_t(dw) * size_t(dh), 0.f);
  for (int y = 0; y < sh; ++y) {
    const float* s = &src[size_t(y) * size_t(sw)];
    for (int x = 0; x < dw; ++x) {
      const Taps& t = tx[size_t(x)];
      float acc = 0;
      for (size_t k = 0; k < t.weights.size(); ++k) acc += t.weights[k] * s[size_t(t.first) + k];
      rows[size_t(y) * size_t(dw) + size_t(x)] = acc;
    }
  }
  for (int y = 0; y < dh; ++y) {
    const Taps& t = ty[size_t(y)];
    float* o = &out[size_t(y) * size_t(dw)];
    for (size_t k = 0; k < t.weights.size(); ++k) {
      const float* r = &rows[(size_t(t.first) + k) * size_t(dw)];
      for (int x = 0; x < dw; ++x) o[x] += t.weights[k] * r[x];
    }
  }
  return out;
}

float median(std::vector<float> v) {
  if (v.empty()) return 0;
  const auto mid = v.begin() + std::ptrdiff_t(v.size() / 2);
  std::nth_element(v.begin(), mid, v.end());
  return *mid;
}

// Mean over a (2r+1)^2 window clipped to the image, via running sums along each axis.
std::vector<float> box_blur(const std::vector<float>& src, int w, int h, int r) {
  if (r <= 0) return src;
  auto pass = [](const std::vector<float>& in, int w, int h, int r, bool horizontal) {
    std::vector<float> out(in.size());
    const int n = horizontal ? w : h, lines = horizontal ? h : w;
    const size_t step = horizontal ? 1 : size_t(w);
    std::vector<double> prefix(size_t(n) + 1);
    for (int l = 0; l < lines; ++l) {
      const size_t base = horizontal ? size_t(l) * size_t(w) : size_t(l);
      for (int i = 0; i < n; ++i)
        prefix[size_t(i) + 1] = prefix[size_t(i)] + in[base + size_t(i) * step];
      for (int i = 0; i < n; ++i) {
        const int lo = std::max(0, i - r), hi = std::min(n, i + r + 1);
        out[base + size_t(i) * step] = float((prefix[size_t(hi)] - prefix[size_t(lo)]) / (hi - lo));
      }
    }
    return out;
  };
  return pass(pass(src, w, h, r, true), w, h, r, false);
}

// The paper as a plane, fitted robustly to the border: level = median of the whole border, slopes
// from the medians of opposite sides. Kept only when it explains the border better than a flat
// level, so a digit touching one side does not tilt it.
struct Paper {
  float level = 0, gx = 0, gy = 0, cx = 0, cy = 0;
  float at(int x, int y) const { return level + gx * (float(x) - cx) + gy * (float(y) - cy); }
};

Paper fit_paper(const std::vector<float>& g, int w, int h, float& noise) {
  const int t = std::max(1, std::min(w, h) / 50);
  std::vector<float> ring, top, bottom, left, right;
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const bool l = x < t, r = x >= w - t, tp = y < t, b = y >= h - t;
      if (!(l || r || tp || b)) continue;
      const float v = g[size_t(y) * size_t(w) + size_t(x)];
      ring.push_back(v);
      if (l) left.push_back(v);
      if (r) right.push_back(v);
      if (tp) top.push_back(v);
      if (b) bottom.push_back(v);
    }
  }
  Paper flat;
  flat.level = median(ring);
  flat.cx = (w - 1) / 2.f, flat.cy = (h - 1) / 2.f;
  Paper tilted = flat;
  if (w > 2 * t) tilted.gx = (median(right) - median(left)) / float(w - t);
  if (h > 2 * t) tilted.gy = (median(bottom) - median(top)) / float(h - t);
  auto mad = [&](const Paper& p) {
    std::vector<float> dev;
    dev.reserve(ring.size());
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) {
        if (x < t || x >= w - t || y < t || y >= h - t) {
          dev.push_back(std::abs(g[size_t(y) * size_t(w) + size_t(x)] - p.at(x, y)));
        }
      }
    }
    return median(std::move(dev));
  };
  const float mad_flat = mad(flat), mad_tilted = mad(tilted);
  noise = 1.4826f * std::min(mad_flat, mad_tilted);
  return mad_tilted < mad_flat ? tilted : flat;
}

struct Region {
  double mass = 0;
  int x0, y0, x1, y1;
};

// 8-connected regions of `mask`; labels[i] is the region index or -1.
std::vector<Region> label_regions(const std::vector<uint8_t>& mask, const std::vector<float>& mass,
                                  int w, int h, std::vector<int>& labels) {
  std::vector<Region> regions;
  labels.assign(mask.size(), -1);
  std::vector<int> stack;
  for (int start = 0; start < w * h; ++start) {
    if (!mask[size_t(start)] || labels[size_t(start)] >= 0) continue;
    const int id = int(regions.size());
    Region reg{0, start % w, start / w, start % w, start / w};
    labels[size_t(start)] = id;
    stack.push_back(start);
    while (!stack.empty()) {
      const int p = stack.back();
      stack.pop_back();
      const int x = p % w, y = p / w;
      reg.mass += mass[size_t(p)];
      reg.x0 = std::min(reg.x0, x), reg.x1 = std::max(reg.x1, x);
      reg.y0 = std::min(reg.y0, y), reg.y1 = std::max(reg.y1, y);
      for (int dy = -1; dy <= 1; ++dy) {
        for (int dx = -1; dx <= 1; ++dx) {
          const int nx = x + dx, ny = y + dy;
          if (nx < 0 || ny < 0 || nx >= w || ny >= h) continue;
          const int q = ny * w + nx;
          if (mask[size_t(q)] && labels[size_t(q)] < 0) {
            labels[size_t(q)] = id;
            stack.push_back(q);
          }
        }
      }
    }
    regions.push_back(reg);
  }
  return regions;
}

}  // namespace

GrayImage resize_image(const GrayImage& src, int w, int h) {
  if (src.width < 1 || src.height < 1 ||
      src.pixels.size() != size_t(src.width) * size_t(src.height) || w < 1 || h < 1) {
    throw core::RuntimeError("resize_image: bad sizes (" + std::to_string(src.width) + "x" +
                             std::to_string(src.height) + " to " + std::to_string(w) + "x" +
                             std::to_string(h) + ")");
  }
  const std::vector<float> f(src.pixels.begin(), src.pixels.end());
  const std::vector<float> r = resample(f, src.width, src.height, w, h);
  GrayImage out(w, h, 0);
  for (size_t i = 0; i < r.size(); ++i)
    out.pixels[i] = uint8_t(std::clamp(std::lround(r[i]), 0L, 255L));
  return out;
}

PreparedDigit prepare_digit(const GrayImage& img, const PrepOptions& options) {
  if (img.width < 1 || img.height < 1 ||
      img.pixels.size() != size_t(img.width) * size_t(img.height)) {
    throw core::RuntimeError("prepare_digit: image " + std::to_string(img.width) + "x" +
                             std::to_string(img.height) + " with " +
                             std::to_string(img.pixels.size()) + " pixels");
  }
  if (!(options.threshold > 0 && options.threshold < 1)) {
    throw core::UsageError("prepare_digit: threshold " + std::to_string(options.threshold) +
                           " not in (0, 1)");
  }
  PreparedDigit out;
  out.image = GrayImage(kSide, kSide, 0);

  // Working copy, box-averaged by a whole factor when the input is large.
  const int f = std::max(1, (std::max(img.width, img.height) + kWorkSide - 1) / kWorkSide);
  const int w = (img.width + f - 1) / f, h = (img.height + f - 1) / f;
  std::vector<float> g(size_t(w) * size_t(h), 0.f);
  {
    std::vector<float> count(g.size(), 0.f);
    for (int y = 0; y < img.height; ++y) {
      for (int x = 0; x < img.width; ++x) {
        const size_t i = size_t(y / f) * size_t(w) + size_t(x / f);
        g[i] += img.pixels[size_t(y) * size_t(img.width) + size_t(x)];
        count[i] += 1;
      }
    }
    for (size_t i = 0; i < g.size(); ++i) g[i] /= count[i];
  }

  float noise = 0;
  const Paper paper = fit_paper(g, w, h, noise);
  out.background = int(std::lround(std::clamp(paper.level, 0.f, 255.f)));
  out.noise = noise;

  // Contrast with the paper, signed; the ink is on the side with more of it beyond the noise.
  std::vector<float> d(g.size());
  double above = 0, below = 0;
  const float margin = 3 * noise + 2;
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const size_t i = size_t(y) * size_t(w) + size_t(x);
      d[i] = g[i] - paper.at(x, y);
      above += std::max(0.f, d[i] - margin);
      below += std::max(0.f, -d[i] - margin);
    }
  }
  out.inverted = options.polarity == InkPolarity::kDarkInk ||
                 (options.polarity == InkPolarity::kAuto && below > above);
  for (float& v : d) v = std::max(0.f, out.inverted ? -v : v);

  // Regions are found on a smoothed copy so that noise grains do not become regions. It is
  // smoothed only as much as the noise needs: until the cut lies 5 noise deviations (of the
  // smoothed copy) above the paper, or the window reaches 1/80 of the image. A wider window than
  // needed would fatten the strokes and, for a fine pen, dilute them below the cut.
  const int side = std::min(w, h);
  const int widest = side >= 48 ? std::max(1, side / 80) : 0;
  int radius = std::min(1, widest);
  std::vector<float> s = box_blur(d, w, h, radius);
  float peak = *std::max_element(s.begin(), s.end());
  auto noise_at = [&](int r) { return noise / float(2 * r + 1); };
  while (radius < widest && float(options.threshold) * peak < 5 * noise_at(radius)) {
    radius = std::min(widest, radius * 2);
    s = box_blur(d, w, h, radius);
    peak = *std::max_element(s.begin(), s.end());
  }
  out.peak = peak;
  if (peak < std::max<float>(float(options.min_contrast), 6 * noise_at(radius))) return out;

  const float cut = float(options.threshold) * peak;
  std::vector<uint8_t> mask(s.size());
  for (size_t i = 0; i < s.size(); ++i) mask[i] = s[i] >= cut;
  std::vector<int> labels;
  const std::vector<Region> regions = label_regions(mask, s, w, h, labels);
  double heaviest = 0;
  for (const Region& r : regions) heaviest = std::max(heaviest, r.mass);
  std::vector<uint8_t> keep(regions.size());
  int x0 = w, y0 = h, x1 = -1, y1 = -1;
  for (size_t k = 0; k < regions.size(); ++k) {
    const Region& r = regions[k];
    keep[k] = r.mass >= options.min_region_mass * heaviest;
    if (!keep[k]) continue;
    x0 = std::min(x0, r.x0), y0 = std::min(y0, r.y0);
    x1 = std::max(x1, r.x1), y1 = std::max(y1, r.y1);
  }
  const int bw = x1 - x0 + 1, bh = y1 - y0 + 1;
  out.ink_box = {x0 * f, y0 * f, std::min(img.width, (x1 + 1) * f) - x0 * f,
                 std::min(img.height, (y1 + 1) * f) - y0 * f};

  // Inside kept regions the raw contrast is used, so anti-aliased stroke edges survive;
  // everything else is paper.
  std::vector<float> crop(size_t(bw) * size_t(bh), 0.f);
  for (int y = 0; y < bh; ++y) {
    for (int x = 0; x < bw; ++x) {
      const size_t i = size_t(y + y0) * size_t(w) + size_t(x + x0);
      if (labels[i] >= 0 && keep[size_t(labels[i])]) {
        crop[size_t(y) * size_t(bw) + size_t(x)] = d[i];
      }
    }
  }

  const double scale = double(kBox) / std::max(bw, bh);
  const int ow = std::clamp(int(std::lround(bw * scale)), 1, kBox);
  const int oh = std::clamp(int(std::lround(bh * scale)), 1, kBox);
  const std::vector<float> small = resample(crop, bw, bh, ow, oh);

  double mass = 0, mx = 0, my = 0;
  for (int y = 0; y < oh; ++y) {
    for (int x = 0; x < ow; ++x) {
      const double v = small[size_t(y) * size_t(ow) + size_t(x)];
      mass += v, mx += v * x, my += v * y;
    }
  }
  if (!(mass > 0)) return out;
  const int ox = int(std::lround(kCentre - mx / mass)), oy = int(std::lround(kCentre - my / mass));
  std::vector<float> canvas(size_t(kSide) * kSide, 0.f);
  for (int y = 0; y < oh; ++y) {
    for (int x = 0; x < ow; ++x) {
      const int cx = x + ox, cy = y + oy;
      if (cx < 0 || cy < 0 || cx >= kSide || cy >= kSide) continue;
      canvas[size_t(cy) * kSide + size_t(cx)] = small[size_t(y) * size_t(ow) + size_t(x)];
    }
  }
  const float top = *std::max_element(canvas.begin(), canvas.end());
  if (top <= 0) return out;
  for (size_t i = 0; i < canvas.size(); ++i) {
    out.image.pixels[i] = uint8_t(std::clamp(std::lround(canvas[i] * 255.f / top), 0L, 255L));
  }
  out.ink_found = true;
  return out;
}

}  // namespace digitlab::data
