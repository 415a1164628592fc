// The reader's stages: paper and ink, line removal, connected pieces, blobs, lines, numbers, and
// recognition-driven splitting of touching digits.
#include "read/reader.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"

namespace digitlab::read {
namespace {

constexpr int kBlock = 16;  // paper level is estimated per block of this many pixels

// The q-quantile of byte values, by counting (no copy, no sort).
double percentile(const std::vector<uint8_t>& v, double q) {
  if (v.empty()) return 0;
  size_t count[256] = {};
  for (uint8_t x : v) ++count[x];
  const size_t k = std::min(v.size() - 1, size_t(q * double(v.size() - 1)));
  size_t seen = 0;
  for (int value = 0; value < 256; ++value) {
    seen += count[value];
    if (seen > k) return value;
  }
  return 255;
}

// Paper level per pixel (dark ink assumed): the 80th percentile of each block, smoothed by a
// 3x3 median over blocks (a block inside a thick stroke), bilinear between block centres.
std::vector<float> paper_level(const GrayImage& img) {
  const int bw = (img.width + kBlock - 1) / kBlock, bh = (img.height + kBlock - 1) / kBlock;
  std::vector<float> level(size_t(bw) * size_t(bh));
  std::vector<uint8_t> values;
  for (int by = 0; by < bh; ++by) {
    for (int bx = 0; bx < bw; ++bx) {
      values.clear();
      for (int y = by * kBlock; y < std::min(img.height, (by + 1) * kBlock); ++y) {
        for (int x = bx * kBlock; x < std::min(img.width, (bx + 1) * kBlock); ++x) {
          values.push_back(img.pixels[size_t(y) * size_t(img.width) + size_t(x)]);
        }
      }
      level[size_t(by) * size_t(bw) + size_t(bx)] = float(percentile(values, 0.8));
    }
  }
  std::vector<float> smooth(level.size());
  std::vector<float> n;
  for (int by = 0; by < bh; ++by) {
    for (int bx = 0; bx < bw; ++bx) {
      n.clear();
      for (int dy = -1; dy <= 1; ++dy) {
        for (int dx = -1; dx <= 1; ++dx) {
          const int x = bx + dx, y = by + dy;
          if (x >= 0 && y >= 0 && x < bw && y < bh)
            n.push_back(level[size_t(y) * size_t(bw) + size_t(x)]);
        }
      }
      std::nth_element(n.begin(), n.begin() + long(n.size() / 2), n.end());
      smooth[size_t(by) * size_t(bw) + size_t(bx)] = n[n.size() / 2];
    }
  }
  std::vector<float> out(size_t(img.width) * size_t(img.height));
  for (int y = 0; y < img.height; ++y) {
    const double fy = std::clamp((y + 0.5) / kBlock - 0.5, 0.0, double(bh - 1));
    const int y0 = int(fy), y1 = std::min(bh - 1, y0 + 1);
    for (int x = 0; x < img.width; ++x) {
      const double fx = std::clamp((x + 0.5) / kBlock - 0.5, 0.0, double(bw - 1));
      const int x0 = int(fx), x1 = std::min(bw - 1, x0 + 1);
      auto at = [&](int a, int b) { return smooth[size_t(b) * size_t(bw) + size_t(a)]; };
      const double tx = fx - x0, ty = fy - y0;
      out[size_t(y) * size_t(img.width) + size_t(x)] =
          float((1 - ty) * ((1 - tx) * at(x0, y0) + tx * at(x1, y0)) +
                ty * ((1 - tx) * at(x0, y1) + tx * at(x1, y1)));
    }
  }
  return out;
}

// Length of the run of ink through each pixel, along rows (horizontal) or columns. Gaps of up
// to `bridge` pixels inside a run do not end it: a scanned line is broken by noise and JPEG.
std::vector<int> run_lengths(const std::vector<uint8_t>& ink, int w, int h, bool horizontal,
                             int bridge = 0) {
  std::vector<int> len(ink.size(), 0);
  const int outer = horizontal ? h : w, inner = horizontal ? w : h;
  auto index = [&](int o, int i) {
    return horizontal ? size_t(o) * size_t(w) + size_t(i) : size_t(i) * size_t(w) + size_t(o);
  };
  for (int o = 0; o < outer; ++o) {
    int start = -1, last = -1;  // the run's first and last ink pixel
    for (int i = 0; i <= inner; ++i) {
      const bool on = i < inner && ink[index(o, i)];
      if (on) {
        if (start < 0) start = i;
        last = i;
        continue;
      }
      if (start < 0 || (i < inner && i - last <= bridge)) continue;
      for (int j = start; j <= last; ++j) {
        if (ink[index(o, j)]) len[index(o, j)] = last - start + 1;
      }
      start = -1;
    }
  }
  return len;
}

// Takes out ruled lines and box sides: pixels in a long run one way and a thin one the other.
// Where a stroke crosses a line the run across is the stroke's, so the stroke stays.
void remove_lines(InkMap& m) {
  const int w = m.width, h = m.height;
  auto across = run_lengths(m.ink, w, h, false);  // vertical runs
  auto along = run_lengths(m.ink, w, h, true);    // horizontal runs
  // Stroke width: the median over ink pixels of the shorter of their two runs, leaving out the
  // pixels of long runs (lines, a 1's length).
  std::vector<uint8_t> runs;
  const int long_h = std::max(24, w / 10);
  for (size_t i = 0; i < m.ink.size(); ++i) {
    if (m.ink[i] && along[i] < long_h) {
      runs.push_back(uint8_t(std::min({along[i], across[i], 255})));
    }
  }
  m.stroke = runs.empty() ? 3 : std::max(2.0, percentile(runs, 0.5));
  const double thin = std::max(2.0, 0.6 * m.stroke);
  // A line is long one way and thin the other; its length is measured across the gaps that
  // noise breaks it into. Thinness keeps a digit's strokes (a 1 is as wide as the pen).
  const int min_h = int(std::max<double>(long_h, 6 * m.stroke));
  const int min_v = int(std::max(24.0, 6 * m.stroke));
  const int bridge = std::max(2, int(m.stroke / 4));
  const auto long_along = run_lengths(m.ink, w, h, true, bridge);
  const auto long_across = run_lengths(m.ink, w, h, false, bridge);
  std::vector<uint8_t> out = m.ink;
  for (size_t i = 0; i < m.ink.size(); ++i) {
    if (!m.ink[i]) continue;
    if ((long_along[i] >= min_h && across[i] <= thin) ||
        (long_across[i] >= min_v && along[i] <= thin)) {
      out[i] = 0;
    }
  }
  m.ink.swap(out);
}

// The shear that stands the writing upright: the one under which the ink's column histogram is
// most peaked (vertical strokes fall into few columns). Shears contrast and ink alike.
void deskew(InkMap& m) {
  const int w = m.width, h = m.height;
  std::vector<std::pair<int, int>> ink;
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      if (m.ink[size_t(y) * size_t(w) + size_t(x)]) ink.emplace_back(x, y);
    }
  }
  if (ink.size() < 50) return;
  double best = -1, best_shear = 0;
  const int pad = int(std::ceil(0.45 * h / 2.0)) + 1;
  std::vector<int> columns;
  for (int step = -9; step <= 9; ++step) {
    const double shear = 0.05 * step;
    columns.assign(size_t(w + 2 * pad), 0);
    for (const auto& [x, y] : ink) {
      ++columns[size_t(std::lround(x - shear * (y - h / 2.0)) + pad)];
    }
    double score = 0;
    for (int c : columns) score += double(c) * c;
    score *= 1 - 0.002 * std::abs(step);  // upright unless a slant is clearly better
    if (score > best) best = score, best_shear = shear;
  }
  if (best_shear == 0) return;
  const int grow = int(std::ceil(std::abs(best_shear) * h / 2.0)) + 1;
  const int nw = w + 2 * grow;
  std::vector<uint8_t> contrast(size_t(nw) * size_t(h), 0), mask(size_t(nw) * size_t(h), 0);
  for (int y = 0; y < h; ++y) {
    for (int nx = 0; nx < nw; ++nx) {
      const int x = int(std::lround(nx - grow + best_shear * (y - h / 2.0)));
      if (x < 0 || x >= w) continue;
      contrast[size_t(y) * size_t(nw) + size_t(nx)] = m.contrast[size_t(y) * size_t(w) + size_t(x)];
      mask[size_t(y) * size_t(nw) + size_t(nx)] = m.ink[size_t(y) * size_t(w) + size_t(x)];
    }
  }
  m.width = nw;
  m.contrast.swap(contrast);
  m.ink.swap(mask);
  m.shear = best_shear;
  m.offset = grow;
}

struct Piece {
  PixelBox box;
  std::vector<int> pixels;
};

std::vector<Piece> connected_pieces(const InkMap& m) {
  const int w = m.width, h = m.height;
  std::vector<int> label(m.ink.size(), -1);
  std::vector<Piece> pieces;
  std::vector<int> stack;
  for (int start = 0; start < w * h; ++start) {
    if (!m.ink[size_t(start)] || label[size_t(start)] >= 0) continue;
    Piece p;
    int x0 = w, y0 = h, x1 = -1, y1 = -1;
    stack.assign(1, start);
    label[size_t(start)] = int(pieces.size());
    while (!stack.empty()) {
      const int at = stack.back();
      stack.pop_back();
      p.pixels.push_back(at);
      const int x = at % w, y = at / w;
      x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
      for (int dy = -1; dy <= 1; ++dy) {
        for (int dx = -1; dx <= 1; ++dx) {
          const int nx = x + dx, ny = y + dy;
          if (nx < 0 || ny < 0 || nx >= w || ny >= h) continue;
          const size_t n = size_t(ny) * size_t(w) + size_t(nx);
          if (m.ink[n] && label[n] < 0) {
            label[n] = int(pieces.size());
            stack.push_back(int(n));
          }
        }
      }
    }
    p.box = {x0, y0, x1 - x0 + 1, y1 - y0 + 1};
    pieces.push_back(std::move(p));
  }
  return pieces;
}

PixelBox unite(const PixelBox& a, const PixelBox& b) {
  const int x0 = std::min(a.x, b.x), y0 = std::min(a.y, b.y);
  const int x1 = std::max(a.x + a.width, b.x + b.width),
            y1 = std::max(a.y + a.height, b.y + b.height);
  return {x0, y0, x1 - x0, y1 - y0};
}

int overlap(int a0, int a1, int b0, int b1) {
  return std::max(0, std::min(a1, b1) - std::max(a0, b0));
}

double median_height(const std::vector<Blob>& blobs) {
  std::vector<int> hs;
  for (const Blob& b : blobs) hs.push_back(b.box.height);
  if (hs.empty()) return 0;
  std::nth_element(hs.begin(), hs.begin() + long(hs.size() / 2), hs.end());
  return hs[hs.size() / 2];
}

}  // namespace

InkMap find_ink(const GrayImage& img, data::InkPolarity polarity) {
  if (img.width < 1 || img.height < 1 ||
      img.pixels.size() != size_t(img.width) * size_t(img.height)) {
    throw core::RuntimeError("find_ink: inconsistent image");
  }
  InkMap m;
  m.width = img.width;
  m.height = img.height;
  GrayImage dark = img;  // dark ink on light paper from here on
  const double median = percentile(img.pixels, 0.5);
  if (polarity == data::InkPolarity::kAuto) {
    // Ink is the minority: the side of the median with the far tail is the ink's.
    const double lo = percentile(img.pixels, 0.01), hi = percentile(img.pixels, 0.99);
    if (hi - median > median - lo) polarity = data::InkPolarity::kLightInk;
  }
  if (polarity == data::InkPolarity::kLightInk) {
    for (uint8_t& p : dark.pixels) p = uint8_t(255 - p);
  }
  const std::vector<float> paper = paper_level(dark);
  m.contrast.resize(dark.pixels.size());
  std::vector<uint8_t> signed_diff(dark.pixels.size());
  for (size_t i = 0; i < dark.pixels.size(); ++i) {
    const double d = paper[i] - dark.pixels[i];
    m.contrast[i] = uint8_t(std::clamp(d, 0.0, 255.0));
    signed_diff[i] = uint8_t(std::clamp(d + 128, 0.0, 255.0));
  }
  // Noise: the spread of the paper around its level (robust: ink is a minority).
  const double mid = percentile(signed_diff, 0.5);
  std::vector<uint8_t> dev(signed_diff.size());
  for (size_t i = 0; i < dev.size(); ++i)
    dev[i] = uint8_t(std::min(255.0, std::abs(signed_diff[i] - mid)));
  const double noise = 1.4826 * percentile(dev, 0.5);
  const double peak = percentile(m.contrast, 0.998);
  if (peak < std::max(24.0, 6 * noise)) {
    m.reason = "no ink found (a blank image?)";
    m.ink.assign(m.contrast.size(), 0);
    return m;
  }
  // Hysteresis: ink is what clears the threshold, and fainter contrast connected to it, so that a
  // faint stroke does not break into pieces that read as digits of their own.
  const double strong = std::max({0.3 * peak, 3.5 * noise, 12.0});
  const double weak = std::max({0.15 * peak, 2.5 * noise, 8.0});
  m.ink.assign(m.contrast.size(), 0);
  std::vector<int> stack;
  for (size_t i = 0; i < m.ink.size(); ++i) {
    if (m.contrast[i] < strong || m.ink[i]) continue;
    m.ink[i] = 1;
    stack.assign(1, int(i));
    while (!stack.empty()) {
      const int at = stack.back();
      stack.pop_back();
      const int x = at % m.width, y = at / m.width;
      for (int dy = -1; dy <= 1; ++dy) {
        for (int dx = -1; dx <= 1; ++dx) {
          const int nx = x + dx, ny = y + dy;
          if (nx < 0 || ny < 0 || nx >= m.width || ny >= m.height) continue;
          const size_t n = size_t(ny) * size_t(m.width) + size_t(nx);
          if (!m.ink[n] && m.contrast[n] >= weak) {
            m.ink[n] = 1;
            stack.push_back(int(n));
          }
        }
      }
    }
  }
  remove_lines(m);
  deskew(m);
  return m;
}

std::vector<std::vector<Blob>> find_lines(const InkMap& m) {
  std::vector<Piece> pieces = connected_pieces(m);
  size_t biggest = 0;
  for (const Piece& p : pieces) biggest = std::max(biggest, p.pixels.size());
  // Dust: pieces far smaller than the largest (a digit's detached stroke is not that small).
  const size_t min_pixels = std::max<size_t>(4, biggest / 40);
  std::vector<Blob> blobs;
  std::vector<int> heights;
  // The digits' height, from pieces as thick as pen strokes (not the sides of a box).
  auto thickness = [](const Piece& p) {
    return double(p.pixels.size()) / std::max(p.box.width, p.box.height);
  };
  for (const Piece& p : pieces) {
    if (p.pixels.size() >= min_pixels && thickness(p) >= 0.5 * m.stroke)
      heights.push_back(p.box.height);
  }
  std::sort(heights.begin(), heights.end());
  const double typical = heights.empty() ? 0 : heights[heights.size() / 2];
  for (Piece& p : pieces) {
    if (p.pixels.size() < min_pixels) continue;
    // Much thinner than a pen stroke along its length, or thin and taller than the digits: a
    // piece of a ruled line or a box side that the line removal missed (faint, broken by
    // noise), not handwriting. A thin 1 is as tall as the digits.
    const int length = std::max(p.box.width, p.box.height);
    const double thick = thickness(p);
    if (length > 3 * m.stroke &&
        (thick < 0.25 * m.stroke || (thick < 0.5 * m.stroke && length > 1.3 * typical))) {
      continue;
    }
    blobs.push_back({p.box, std::move(p.pixels)});
  }
  // Pieces standing over each other are one digit (a 5's detached bar, a broken stroke).
  std::sort(blobs.begin(), blobs.end(),
            [](const Blob& a, const Blob& b) { return a.box.x < b.box.x; });
  const double height = median_height(blobs);
  for (size_t i = 0; i < blobs.size(); ++i) {
    for (size_t j = i + 1; j < blobs.size();) {
      const PixelBox &a = blobs[i].box, &b = blobs[j].box;
      const int ox = overlap(a.x, a.x + a.width, b.x, b.x + b.width);
      const int gap_y = std::max(a.y, b.y) - std::min(a.y + a.height, b.y + b.height);
      // A short flat piece (a 5's bar drawn apart) joins the digit it overlaps by a third.
      const bool bar = std::min(a.height, b.height) < 0.4 * height &&
                       ox >= 0.33 * (a.height < b.height ? a.width : b.width) &&
                       unite(a, b).width < 1.3 * height;
      if ((ox >= 0.6 * std::min(a.width, b.width) || bar) && gap_y < 0.4 * height &&
          unite(a, b).height < 1.6 * height) {
        blobs[i].box = unite(a, b);
        blobs[i].pixels.insert(blobs[i].pixels.end(), blobs[j].pixels.begin(),
                               blobs[j].pixels.end());
        blobs.erase(blobs.begin() + long(j));
        j = i + 1;
      } else {
        ++j;
      }
    }
  }
  // Specks that remain: much smaller than a digit both ways.
  const double h2 = median_height(blobs);
  blobs.erase(std::remove_if(
                  blobs.begin(), blobs.end(),
                  [&](const Blob& b) { return b.box.height < 0.3 * h2 && b.box.width < 0.3 * h2; }),
              blobs.end());
  // Lines: a blob joins the line its vertical extent overlaps most (at least half its height).
  std::sort(blobs.begin(), blobs.end(), [](const Blob& a, const Blob& b) {
    return a.box.y + a.box.height / 2 < b.box.y + b.box.height / 2;
  });
  std::vector<std::vector<Blob>> lines;
  std::vector<PixelBox> spans;
  for (Blob& b : blobs) {
    int best = -1, best_overlap = 0;
    for (size_t l = 0; l < lines.size(); ++l) {
      const int o =
          overlap(b.box.y, b.box.y + b.box.height, spans[l].y, spans[l].y + spans[l].height);
      if (o >= 0.5 * std::min(b.box.height, spans[l].height) && o > best_overlap)
        best = int(l), best_overlap = o;
    }
    if (best < 0) {
      spans.push_back(b.box);
      lines.emplace_back();
      best = int(lines.size() - 1);
    } else {
      spans[size_t(best)] = unite(spans[size_t(best)], b.box);
    }
    lines[size_t(best)].push_back(std::move(b));
  }
  for (auto& line : lines) {
    std::sort(line.begin(), line.end(),
              [](const Blob& a, const Blob& b) { return a.box.x < b.box.x; });
  }
  return lines;
}

namespace {

struct Guess {
  int label = -1;
  double confidence = 0;
  double probability = 0;  // of the label among all classes, "none" included
  bool rejected = false;   // the classifier found no digit likelier than "none"
  PixelBox box;            // in the image
  int map_width = 0;       // in the (sheared) map
};

// A piece of a blob to read: its pixels in columns [c0, c1), as the classifier will see them.
struct Cut {
  PixelBox box;       // in the image
  int map_width = 0;  // in the (sheared) map
  GrayImage digit;    // 28x28; empty when the columns hold no ink
};

// MNIST's framing of a crop that holds nothing but a digit's ink (bright on 0) with `pad` pixels
// around it: the longer side of the ink scaled to 20 pixels, the centre of mass at (14, 14) of
// a 28x28 image, the peak stretched to 255.
GrayImage mnist_like(const GrayImage& crop, int pad) {
  const int iw = crop.width - 2 * pad, ih = crop.height - 2 * pad;
  GrayImage ink(iw, ih, 0);
  for (int y = 0; y < ih; ++y) {
    for (int x = 0; x < iw; ++x)
      ink.at(x, y) = crop.pixels[size_t(y + pad) * size_t(crop.width) + size_t(x + pad)];
  }
  const double f = 20.0 / std::max(iw, ih);
  const GrayImage small = data::resize_image(ink, std::max(1, int(std::lround(iw * f))),
                                             std::max(1, int(std::lround(ih * f))));
  double mass = 0, mx = 0, my = 0;
  int peak = 1;
  for (int y = 0; y < small.height; ++y) {
    for (int x = 0; x < small.width; ++x) {
      const double v = small.pixels[size_t(y) * size_t(small.width) + size_t(x)];
      mass += v, mx += v * (x + 0.5), my += v * (y + 0.5), peak = std::max(peak, int(v));
    }
  }
  GrayImage out(28, 28, 0);
  if (mass <= 0) return out;
  const int ox = int(std::lround(14 - mx / mass)), oy = int(std::lround(14 - my / mass));
  for (int y = 0; y < small.height; ++y) {
    for (int x = 0; x < small.width; ++x) {
      const int tx = x + ox, ty = y + oy;
      if (tx < 0 || ty < 0 || tx >= 28 || ty >= 28) continue;
      out.at(tx, ty) = uint8_t(
          std::min(255, int(std::lround(small.pixels[size_t(y) * size_t(small.width) + size_t(x)] *
                                        255.0 / peak))));
    }
  }
  return out;
}

// The reader model's framing of the blob's pixels in columns [c0, c1): at the scale that makes
// the line's digits 20 pixels tall (so that a half, a bar or a pair keeps its true size), the
// centre of mass at (14, 14), and the other ink around it (the rest of the blob, the
// neighbours) faint, so that the model sees where a cut went. Pieces too large for 26 pixels
// are scaled to fit.
GrayImage line_framed(const InkMap& m, const Blob& b, int c0, int c1, const PixelBox& piece,
                      double height) {
  double mass = 0, mx = 0, my = 0;
  for (int at : b.pixels) {
    const int x = at % m.width;
    if (x < c0 || x >= c1) continue;
    const double v = m.contrast[size_t(at)];
    mass += v, mx += v * (x + 0.5), my += v * (at / m.width + 0.5);
  }
  GrayImage out(28, 28, 0);
  if (mass <= 0) return out;
  mx /= mass, my /= mass;
  double f = 20.0 / height;
  f = std::min(f, 26.0 / std::max(piece.width, piece.height));
  // The window of the map that lands on the 28x28 image; the piece's own pixels are marked.
  const int wx0 = std::max(0, int(std::floor(mx - 14 / f))),
            wx1 = std::min(m.width, int(std::ceil(mx + 14 / f)));
  const int wy0 = std::max(0, int(std::floor(my - 14 / f))),
            wy1 = std::min(m.height, int(std::ceil(my + 14 / f)));
  if (wx1 <= wx0 || wy1 <= wy0) return out;
  const int ww = wx1 - wx0;
  std::vector<uint8_t> own(size_t(ww) * size_t(wy1 - wy0), 0);
  for (int at : b.pixels) {
    const int x = at % m.width, y = at / m.width;
    if (x >= c0 && x < c1 && x >= wx0 && x < wx1 && y >= wy0 && y < wy1)
      own[size_t(y - wy0) * size_t(ww) + size_t(x - wx0)] = 1;
  }
  // The piece's ink and the ink around it, each stretched to its own peak, so that a faint
  // digit beside a dark one is not drawn faint; the ink around is drawn at kContext.
  constexpr double kContext = 0.3;
  std::vector<double> sum(28 * 28, 0.0), around(28 * 28, 0.0);
  for (int y = wy0; y < wy1; ++y) {
    const int oy = int(std::floor((y + 0.5 - my) * f + 14));
    if (oy < 0 || oy >= 28) continue;
    for (int x = wx0; x < wx1; ++x) {
      const size_t at = size_t(y) * size_t(m.width) + size_t(x);
      if (!m.ink[at]) continue;
      const int ox = int(std::floor((x + 0.5 - mx) * f + 14));
      if (ox < 0 || ox >= 28) continue;
      const bool mine = own[size_t(y - wy0) * size_t(ww) + size_t(x - wx0)];
      (mine ? sum : around)[size_t(oy * 28 + ox)] += m.contrast[at];
    }
  }
  const double peak = std::max(1e-9, *std::max_element(sum.begin(), sum.end()));
  const double peak_around = std::max(1e-9, *std::max_element(around.begin(), around.end()));
  for (size_t i = 0; i < sum.size(); ++i) {
    const double v = sum[i] / peak + kContext * around[i] / peak_around;
    out.pixels[i] = uint8_t(std::min(255.0, std::round(v * 255.0)));
  }
  return out;
}

// The blob's pixels in columns [c0, c1): their contrast on black (neighbours' ink left out),
// through the MNIST-style preparation.
// With `line_height` > 0 the piece is framed for a reader model instead (line_framed).
Cut cut_piece(const InkMap& m, const Blob& b, int c0, int c1, bool whole = false,
              double line_height = 0) {
  int x0 = m.width, y0 = m.height, x1 = -1, y1 = -1;
  for (int at : b.pixels) {
    const int x = at % m.width, y = at / m.width;
    if (x < c0 || x >= c1) continue;
    x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
  }
  Cut cut;
  if (x1 < 0) return cut;
  double ix0 = 1e9, ix1 = -1e9;  // in the image, before the shear
  for (int at : b.pixels) {
    const int x = at % m.width, y = at / m.width;
    if (x < c0 || x >= c1) continue;
    ix0 = std::min(ix0, m.image_x(x, y)), ix1 = std::max(ix1, m.image_x(x, y));
  }
  cut.box = {int(std::lround(ix0)), y0, int(std::lround(ix1 - ix0)) + 1, y1 - y0 + 1};
  cut.map_width = x1 - x0 + 1;
  if (line_height > 0) {
    cut.digit = line_framed(m, b, c0, c1, {x0, y0, x1 - x0 + 1, y1 - y0 + 1}, line_height);
    return cut;
  }
  constexpr int kPad = 2;
  GrayImage crop(x1 - x0 + 1 + 2 * kPad, y1 - y0 + 1 + 2 * kPad, 0);
  for (int at : b.pixels) {
    const int x = at % m.width, y = at / m.width;
    if (x >= c0 && x < c1) crop.at(x - x0 + kPad, y - y0 + kPad) = m.contrast[size_t(at)];
  }
  if (!whole) {
    // A piece of a split keeps only its main strokes: bits of a neighbour's ink that the cut
    // left in it are dropped by prepare_digit's region filter.
    data::PrepOptions prep;
    prep.polarity = data::InkPolarity::kLightInk;
    prep.min_contrast = 1;  // the ink was already told from the paper
    data::PreparedDigit digit = data::prepare_digit(crop, prep);
    if (digit.ink_found) cut.digit = std::move(digit.image);
    return cut;
  }
  cut.digit = mnist_like(crop, kPad);
  return cut;
}

// Reads the cuts that hold ink, in one call of the classifier.
// Reads the cuts that hold ink, in one call of the classifier. With a reject class (index
// `reject` >= 0, a model trained with pieces that are no digit), the label is the likeliest
// digit and `rejected` says whether "no digit" was likelier still.
std::vector<Guess> classify_cuts(const std::vector<Cut>& cuts, const DigitClassifier& classify,
                                 int reject) {
  std::vector<GrayImage> batch;
  for (const Cut& c : cuts) {
    if (!c.digit.pixels.empty()) batch.push_back(c.digit);
  }
  const std::vector<std::vector<double>> p =
      batch.empty() ? std::vector<std::vector<double>>{} : classify(batch);
  std::vector<Guess> out(cuts.size());
  size_t k = 0;
  for (size_t i = 0; i < cuts.size(); ++i) {
    out[i].box = cuts[i].box;
    out[i].map_width = cuts[i].map_width;
    if (cuts[i].digit.pixels.empty() || k >= p.size() || p[k].empty()) continue;
    const std::vector<double>& q = p[k++];
    int best = -1;
    for (int c = 0; c < int(q.size()); ++c) {
      if (c != reject && (best < 0 || q[size_t(c)] > q[size_t(best)])) best = c;
    }
    const double none = reject >= 0 && reject < int(q.size()) ? q[size_t(reject)] : 0;
    out[i].label = best;
    out[i].probability = best < 0 ? 0 : q[size_t(best)];
    out[i].rejected = none > out[i].probability;
    // How sure the digit is, given that it is a digit at all.
    out[i].confidence = out[i].probability / std::max(1e-9, 1 - none);
  }
  return out;
}

// Candidate cut columns of a blob: local minima of its ink per column; the dips of its upper
// outline and the rises of its lower one (where two digits meet, the outline bends in); and a
// grid of columns (overlapping digits may meet where the ink is thickest). Away from its edges.
std::vector<int> cut_candidates(const InkMap& m, const Blob& b, double height) {
  const size_t w = size_t(b.box.width);
  std::vector<int> ink(w, 0), top(w, b.box.y + b.box.height), bottom(w, b.box.y - 1);
  for (int at : b.pixels) {
    const size_t c = size_t(at % m.width - b.box.x);
    const int y = at / m.width;
    ++ink[c];
    top[c] = std::min(top[c], y);
    bottom[c] = std::max(bottom[c], y);
  }
  const int margin = std::max(2, int(0.1 * height));
  std::vector<std::pair<int, int>> minima, dips, rises;  // (how good, column): smaller is better
  for (int c = margin; c < b.box.width - margin; ++c) {
    const size_t i = size_t(c);
    if (ink[i] <= ink[i - 1] && ink[i] <= ink[i + 1]) minima.emplace_back(ink[i], c);
    if (top[i] >= top[i - 1] && top[i] >= top[i + 1]) dips.emplace_back(-top[i], c);
    if (bottom[i] <= bottom[i - 1] && bottom[i] <= bottom[i + 1]) rises.emplace_back(bottom[i], c);
  }
  std::vector<int> cuts;
  for (auto* list : {&minima, &dips, &rises}) {
    std::sort(list->begin(), list->end());
    for (size_t k = 0; k < std::min<size_t>(list->size(), 3); ++k)
      cuts.push_back((*list)[k].second);
  }
  const int step = std::max(2, int(height / 5));
  for (int c = margin; c < b.box.width - margin; c += step) cuts.push_back(c);
  std::sort(cuts.begin(), cuts.end());
  std::vector<int> out;
  for (int c : cuts) {
    if (out.empty() || c - (out.back() - b.box.x) > 1) out.push_back(b.box.x + c);
  }
  return out;
}

// Score of reading a piece as one digit: its confidence, a cost per piece (so that a digit is
// not cut in two confident halves) and one for pieces wider than digits are.
double piece_score(const Guess& g, double height) {
  return std::log(std::max(1e-9, g.probability)) - 0.7 -
         2 * std::max(0.0, double(g.map_width) / height - 0.9);
}

// The blob read as 1 to 4 digits: the split whose pieces read best (all candidate pieces are
// classified in one batch, then the best path over the cuts is chosen).
// The pieces a split of the blob may consist of: cut columns (`nodes`, the blob's edges first
// and last) and every span between two of them that is as wide as a digit can be.
void enumerate_cuts(const InkMap& m, const Blob& b, double height, bool line_framing,
                    std::vector<int>& nodes, std::vector<std::pair<size_t, size_t>>& spans,
                    std::vector<Cut>& cuts) {
  nodes = cut_candidates(m, b, height);
  nodes.insert(nodes.begin(), b.box.x);
  nodes.push_back(b.box.x + b.box.width);
  for (size_t j = 1; j < nodes.size(); ++j) {
    for (size_t i = 0; i < j; ++i) {
      // The whole blob is always a candidate: a wide 0 is one digit.
      const double width = nodes[j] - nodes[i];
      const bool whole = i == 0 && j + 1 == nodes.size();
      if (width < 0.1 * height || (width > 1.3 * height && !whole)) continue;
      spans.emplace_back(i, j);
      cuts.push_back(cut_piece(m, b, nodes[i], nodes[j], false, line_framing ? height : 0));
    }
  }
}

std::vector<Guess> split_blob(const InkMap& m, const Blob& b, double height,
                              const DigitClassifier& classify, int reject) {
  std::vector<int> nodes;
  std::vector<std::pair<size_t, size_t>> spans;
  std::vector<Cut> cuts;
  enumerate_cuts(m, b, height, reject >= 0, nodes, spans, cuts);
  const size_t n = nodes.size();
  const std::vector<Guess> guesses = classify_cuts(cuts, classify, reject);
  constexpr int kMaxPieces = 4;
  constexpr double kNone = -1e18;
  // best[j][k]: the best score of columns nodes[0]..nodes[j] read as k pieces; from: the piece.
  std::vector<std::vector<double>> best(n, std::vector<double>(kMaxPieces + 1, kNone));
  std::vector<std::vector<size_t>> from(n, std::vector<size_t>(kMaxPieces + 1, 0));
  best[0][0] = 0;
  for (size_t s = 0; s < spans.size(); ++s) {  // spans are ordered by their end
    const auto [i, j] = spans[s];
    if (guesses[s].label < 0) continue;
    const double score = piece_score(guesses[s], height);
    for (int k = 0; k < kMaxPieces; ++k) {
      const double total = best[i][size_t(k)] + score;
      if (best[i][size_t(k)] <= kNone || total <= best[j][size_t(k + 1)]) continue;
      best[j][size_t(k + 1)] = total;
      from[j][size_t(k + 1)] = s;
    }
  }
  int pieces = 0;
  for (int k = 1; k <= kMaxPieces; ++k) {
    if (best[n - 1][size_t(k)] > kNone &&
        (pieces == 0 || best[n - 1][size_t(k)] > best[n - 1][size_t(pieces)])) {
      pieces = k;
    }
  }
  std::vector<Guess> out;
  for (size_t j = n - 1; pieces > 0; --pieces) {
    const size_t s = from[j][size_t(pieces)];
    out.push_back(guesses[s]);
    j = spans[s].first;
  }
  std::reverse(out.begin(), out.end());
  return out;
}

// A phone photo is read at most kMaxSide pixels on a side: digits stay many pixels tall, and
// the time stays that of a scan. Returns false when `image` is small enough to read as it is;
// else reads it scaled down with `read` into `r`, boxes given in the image's own pixels.
bool read_scaled_down(const GrayImage& image, const std::function<Reading(const GrayImage&)>& read,
                      Reading& r) {
  constexpr int kMaxSide = 1600;
  if (std::max(image.width, image.height) <= kMaxSide) return false;
  const double f = double(kMaxSide) / std::max(image.width, image.height);
  r = read(data::resize_image(image, std::max(1, int(image.width * f)),
                              std::max(1, int(image.height * f))));
  auto scale = [f](PixelBox& b) {
    b = {int(b.x / f), int(b.y / f), int(std::ceil(b.width / f)), int(std::ceil(b.height / f))};
  };
  for (ReadNumber& n : r.numbers) {
    scale(n.box);
    for (ReadDigit& d : n.digits) scale(d.box);
  }
  return true;
}

}  // namespace

Reading read_numbers(const GrayImage& image, const DigitClassifier& classify,
                     const std::vector<std::string>& class_names, const ReadOptions& o) {
  Reading r;
  if (read_scaled_down(
          image,
          [&](const GrayImage& small) { return read_numbers(small, classify, class_names, o); },
          r)) {
    return r;
  }
  const InkMap m = find_ink(image, o.polarity);
  if (!m.reason.empty()) {
    r.reason = m.reason;
    return r;
  }
  const std::vector<std::vector<Blob>> lines = find_lines(m);
  // A model with a reject class was trained on pieces framed at the line's scale.
  const auto none = std::find(class_names.begin(), class_names.end(), kRejectClass);
  const int reject = none == class_names.end() ? -1 : int(none - class_names.begin());
  // Every blob read whole first, in one batch; only the wide or poorly read ones are split.
  std::vector<Cut> wholes;
  for (const auto& line : lines) {
    const double height = std::max(1.0, median_height(line));
    for (const Blob& b : line) {
      wholes.push_back(cut_piece(m, b, b.box.x, b.box.x + b.box.width, /*whole=*/true,
                                 reject >= 0 ? height : 0));
    }
  }
  const std::vector<Guess> whole = classify_cuts(wholes, classify, reject);
  size_t next = 0;
  for (const std::vector<Blob>& line : lines) {
    const double height = std::max(1.0, median_height(line));
    ReadNumber number;
    int right = 0;
    auto finish = [&] {
      if (number.digits.empty()) return;
      r.numbers.push_back(std::move(number));
      number = ReadNumber{};
    };
    for (const Blob& b : line) {
      const Guess& g = whole[next++];
      if (!number.digits.empty() && b.box.x - right > 0.9 * height) finish();
      right = std::max(right, b.box.x + b.box.width);
      // As wide as one digit: one digit, unless it reads poorly (a 1 touching a narrow 0). A
      // reader model has seen pairs at their true width and rejects them, so a wide piece it
      // reads well is one wide digit (an open 0).
      const double one_width = reject >= 0 ? 1.5 : 0.95;
      const bool one = b.box.width < 0.6 * height ||
                       (b.box.width <= one_width * height && g.probability >= 0.9 && !g.rejected);
      // Dust or a stray mark: no digit. A thin 1 may read as "none" too, but is as tall as digits.
      if (one && g.rejected && b.box.height < 0.7 * height) continue;
      std::vector<Guess> digits =
          one ? std::vector<Guess>{g} : split_blob(m, b, height, classify, reject);
      if (digits.empty()) digits = {g};
      for (const Guess& d : digits) {
        if (d.label < 0 || size_t(d.label) >= class_names.size()) continue;
        ReadDigit digit{class_names[size_t(d.label)], d.confidence, d.box,
                        d.confidence < o.min_confidence};
        number.text += digit.uncertain ? "?" : digit.label;
        number.box = number.digits.empty() ? digit.box : unite(number.box, digit.box);
        number.digits.push_back(std::move(digit));
      }
    }
    finish();
  }
  for (const ReadNumber& n : r.numbers) r.text += (r.text.empty() ? "" : " ") + n.text;
  if (r.numbers.empty()) r.reason = "no digits found";
  return r;
}

std::vector<CandidatePiece> candidate_pieces(const GrayImage& image) {
  std::vector<CandidatePiece> out;
  const InkMap m = find_ink(image);
  if (!m.reason.empty()) return out;
  for (const std::vector<Blob>& line : find_lines(m)) {
    const double height = std::max(1.0, median_height(line));
    for (const Blob& b : line) {
      Cut whole = cut_piece(m, b, b.box.x, b.box.x + b.box.width, /*whole=*/true, height);
      if (!whole.digit.pixels.empty()) out.push_back({whole.box, std::move(whole.digit), true});
      if (b.box.width < 0.6 * height) continue;
      std::vector<int> nodes;
      std::vector<std::pair<size_t, size_t>> spans;
      std::vector<Cut> cuts;
      enumerate_cuts(m, b, height, /*line_framing=*/true, nodes, spans, cuts);
      for (Cut& c : cuts) {
        if (!c.digit.pixels.empty()) out.push_back({c.box, std::move(c.digit), false});
      }
    }
  }
  return out;
}

namespace {

// The blobs' ink as a line model sees it (NumberLine).
NumberLine frame_number(const InkMap& m, std::vector<Blob> blobs, double height) {
  NumberLine n;
  n.height = height;
  n.box = blobs.front().box;
  for (const Blob& b : blobs) n.box = unite(n.box, b.box);
  n.scale = std::min(double(kLineDigitHeight) / height, (kLineHeight - 4.0) / n.box.height);
  // A long run of tiny marks (a dotted rule) would otherwise become a strip of many thousand
  // pixels; numbers are far shorter than kMaxLineWidth at the line's scale.
  n.scale = std::min(n.scale, double(kMaxLineWidth - 2 * kLineMargin) / n.box.width);
  GrayImage crop(n.box.width, n.box.height, 0);
  for (const Blob& b : blobs) {
    for (int at : b.pixels) {
      crop.at(at % m.width - n.box.x, at / m.width - n.box.y) = m.contrast[size_t(at)];
    }
  }
  const int w = std::max(1, int(std::lround(n.box.width * n.scale)));
  const int h = std::max(1, int(std::lround(n.box.height * n.scale)));
  const GrayImage small = data::resize_image(crop, w, h);
  const int peak = std::max(1, int(*std::max_element(small.pixels.begin(), small.pixels.end())));
  n.image = GrayImage(w + 2 * kLineMargin, kLineHeight, 0);
  const int oy = std::max(0, (kLineHeight - h) / 2);
  for (int y = 0; y < h && y + oy < kLineHeight; ++y) {
    for (int x = 0; x < w; ++x) {
      n.image.at(x + kLineMargin, y + oy) =
          uint8_t(std::min(255, small.pixels[size_t(y) * size_t(w) + size_t(x)] * 255 / peak));
    }
  }
  n.blobs = std::move(blobs);
  return n;
}

}  // namespace

std::vector<NumberLine> number_lines(const InkMap& m) {
  std::vector<NumberLine> out;
  for (std::vector<Blob>& line : find_lines(m)) {
    const double height = std::max(1.0, median_height(line));
    std::vector<Blob> number;
    int right = 0;
    for (Blob& b : line) {
      if (!number.empty() && b.box.x - right > 0.9 * height) {
        out.push_back(frame_number(m, std::move(number), height));
        number.clear();
      }
      right = std::max(right, b.box.x + b.box.width);
      number.push_back(std::move(b));
    }
    if (!number.empty()) out.push_back(frame_number(m, std::move(number), height));
  }
  return out;
}

std::vector<FrameDigit> decode_frames(const LineFrames& frames) {
  std::vector<FrameDigit> out;
  int previous = kLineClasses - 1;
  for (size_t t = 0; t < frames.size(); ++t) {
    const std::vector<float>& p = frames[t];
    if (p.size() != size_t(kLineClasses)) {
      throw core::RuntimeError("decode_frames: a frame of " + std::to_string(p.size()) +
                               " probabilities, not " + std::to_string(kLineClasses));
    }
    const int best = int(std::max_element(p.begin(), p.end()) - p.begin());
    // Given that a digit is here: a digit's mass is shared with the blank in the frames at its
    // edges, which says where it is, not which digit it is.
    const double digit_mass = 1.0 - p[size_t(kLineClasses - 1)];
    const double confidence = digit_mass > 0 ? std::min(1.0, p[size_t(best)] / digit_mass) : 0;
    if (best != kLineClasses - 1 && best == previous) {
      out.back().last = int(t);
      out.back().confidence = std::max(out.back().confidence, confidence);
    } else if (best != kLineClasses - 1) {
      out.push_back({best, confidence, int(t), int(t)});
    }
    previous = best;
  }
  return out;
}

namespace {

// The number's ink in map columns [c0, c1) as an image box; empty (width 0) when there is none.
PixelBox ink_box(const InkMap& m, const NumberLine& n, double c0, double c1) {
  double ix0 = 1e9, ix1 = -1e9;
  int y0 = m.height, y1 = -1;
  for (const Blob& b : n.blobs) {
    for (int at : b.pixels) {
      const int x = at % m.width, y = at / m.width;
      if (x < c0 || x >= c1) continue;
      ix0 = std::min(ix0, m.image_x(x, y)), ix1 = std::max(ix1, m.image_x(x, y));
      y0 = std::min(y0, y), y1 = std::max(y1, y);
    }
  }
  if (y1 < 0) return {};
  return {int(std::lround(ix0)), y0, int(std::lround(ix1 - ix0)) + 1, y1 - y0 + 1};
}

// The number of a line model's reading: each digit's box spans its number's ink from the
// midpoint with the previous digit's frames to the midpoint with the next one's.
ReadNumber number_of(const InkMap& m, const NumberLine& n, const std::vector<FrameDigit>& digits,
                     const ReadOptions& o) {
  ReadNumber number;
  auto map_x = [&](double column) { return (column - kLineMargin) / n.scale + n.box.x; };
  auto centre = [](const FrameDigit& d) { return (d.first + d.last + 1) * kLineFrame / 2.0; };
  for (size_t k = 0; k < digits.size(); ++k) {
    const double c0 = k == 0 ? -1e9 : map_x((centre(digits[k - 1]) + centre(digits[k])) / 2);
    const double c1 =
        k + 1 == digits.size() ? 1e9 : map_x((centre(digits[k]) + centre(digits[k + 1])) / 2);
    PixelBox box = ink_box(m, n, c0, c1);
    if (box.width == 0) {  // no ink of its own: the columns of its frames, inside the image
      const double x = m.image_x(map_x(centre(digits[k])), n.box.y + n.box.height / 2.0);
      const int half = std::max(1, int(n.height / 4));
      const int x0 = std::clamp(int(std::lround(x)) - half, 0, m.width - 1);
      box = {x0, n.box.y, std::clamp(2 * half, 1, m.width - x0), n.box.height};
    }
    ReadDigit digit{std::to_string(digits[k].label), digits[k].confidence, box,
                    digits[k].confidence < o.min_confidence};
    number.text += digit.uncertain ? "?" : digit.label;
    number.box = number.digits.empty() ? box : unite(number.box, box);
    number.digits.push_back(std::move(digit));
  }
  return number;
}

}  // namespace

Reading read_lines(const GrayImage& image, const LineRecognizer& recognize, const ReadOptions& o) {
  Reading r;
  if (read_scaled_down(
          image, [&](const GrayImage& small) { return read_lines(small, recognize, o); }, r)) {
    return r;
  }
  const InkMap m = find_ink(image, o.polarity);
  if (!m.reason.empty()) {
    r.reason = m.reason;
    return r;
  }
  const std::vector<NumberLine> found = number_lines(m);
  std::vector<GrayImage> images;
  for (const NumberLine& n : found) images.push_back(n.image);
  const std::vector<LineFrames> frames =
      images.empty() ? std::vector<LineFrames>{} : recognize(images);
  if (frames.size() != found.size()) {
    throw core::RuntimeError("read_lines: the line model answered " +
                             std::to_string(frames.size()) + " lines for " +
                             std::to_string(found.size()));
  }
  for (size_t i = 0; i < found.size(); ++i) {
    // Frames past the image's own width are padding of a batch of wider lines.
    LineFrames own = frames[i];
    own.resize(std::min(own.size(), size_t((found[i].image.width + kLineFrame - 1) / kLineFrame)));
    ReadNumber number = number_of(m, found[i], decode_frames(own), o);
    if (!number.digits.empty()) r.numbers.push_back(std::move(number));
  }
  for (const ReadNumber& n : r.numbers) r.text += (r.text.empty() ? "" : " ") + n.text;
  if (r.numbers.empty()) r.reason = "no digits found";
  return r;
}

int edit_distance(const std::string& truth, const std::string& read,
                  std::map<std::string, int>* errors) {
  const size_t n = truth.size(), m = read.size();
  std::vector<std::vector<int>> d(n + 1, std::vector<int>(m + 1));
  for (size_t i = 0; i <= n; ++i) d[i][0] = int(i);
  for (size_t j = 0; j <= m; ++j) d[0][j] = int(j);
  for (size_t i = 1; i <= n; ++i) {
    for (size_t j = 1; j <= m; ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1,
                          d[i - 1][j - 1] + (truth[i - 1] == read[j - 1] ? 0 : 1)});
    }
  }
  if (!errors) return d[n][m];
  for (size_t i = n, j = m; i > 0 || j > 0;) {
    if (i > 0 && j > 0 && d[i][j] == d[i - 1][j - 1] + (truth[i - 1] == read[j - 1] ? 0 : 1)) {
      if (truth[i - 1] != read[j - 1])
        ++(*errors)[std::string(1, truth[i - 1]) + ">" + read[j - 1]];
      --i, --j;
    } else if (i > 0 && d[i][j] == d[i - 1][j] + 1) {
      ++(*errors)[std::string(1, truth[i - 1]) + ">-"];
      --i;
    } else {
      ++(*errors)[std::string("->") + read[j - 1]];
      --j;
    }
  }
  return d[n][m];
}

namespace {

nlohmann::json box_json(const PixelBox& b) { return {b.x, b.y, b.x + b.width, b.y + b.height}; }

}  // namespace

nlohmann::json to_json(const Reading& r) {
  nlohmann::json numbers = nlohmann::json::array();
  for (const ReadNumber& n : r.numbers) {
    nlohmann::json digits = nlohmann::json::array();
    for (const ReadDigit& d : n.digits) {
      digits.push_back({{"label", d.label},
                        {"confidence", std::round(d.confidence * 1e4) / 1e4},
                        {"box", box_json(d.box)},
                        {"uncertain", d.uncertain}});
    }
    numbers.push_back({{"text", n.text}, {"box", box_json(n.box)}, {"digits", digits}});
  }
  nlohmann::json j = {{"text", r.text}, {"numbers", numbers}};
  if (!r.reason.empty()) j["reason"] = r.reason;
  return j;
}

}  // namespace digitlab::read
