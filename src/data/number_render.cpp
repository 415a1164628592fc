// Composing numbers: digit placement (gaps, overlaps, baseline, size, slant), ruled lines and
// boxes, then paper, light, blur, noise and JPEG as in the scan-like renderer.
#include "data/number_render.h"

#include <stb/stb_image_write.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "data/decode.h"
#include "data/render_util.h"

namespace digitlab::data {
namespace {

struct InkBox {
  int x0 = 27, y0 = 27, x1 = 0, y1 = 0;  // inclusive, MNIST pixels
};

InkBox ink_box(const uint8_t* d) {
  InkBox b;
  for (int y = 0; y < 28; ++y) {
    for (int x = 0; x < 28; ++x) {
      if (d[y * 28 + x] < 32) continue;
      b.x0 = std::min(b.x0, x), b.x1 = std::max(b.x1, x);
      b.y0 = std::min(b.y0, y), b.y1 = std::max(b.y1, y);
    }
  }
  if (b.x1 < b.x0) b = {4, 4, 23, 23};
  return b;
}

// One digit placed in the image: scale k (image px per MNIST px), its ink box's top-left at
// (left, top) before the slant.
struct Placed {
  const uint8_t* d;
  InkBox ink;
  double k, left, top;
};

void draw_digit(std::vector<float>& cover, int w, int h, const Placed& p, double shear,
                double base_y, PixelBox& box) {
  const double iw = (p.ink.x1 - p.ink.x0 + 1) * p.k, ih = (p.ink.y1 - p.ink.y0 + 1) * p.k;
  const double dx_lo = std::min(shear * (p.top - base_y), shear * (p.top + ih - base_y));
  const double dx_hi = std::max(shear * (p.top - base_y), shear * (p.top + ih - base_y));
  const int x0 = std::max(0, int(std::floor(p.left + dx_lo)) - 1);
  const int x1 = std::min(w - 1, int(std::ceil(p.left + iw + dx_hi)) + 1);
  const int y0 = std::max(0, int(std::floor(p.top)) - 1);
  const int y1 = std::min(h - 1, int(std::ceil(p.top + ih)) + 1);
  int bx0 = w, by0 = h, bx1 = -1, by1 = -1;
  for (int y = y0; y <= y1; ++y) {
    for (int x = x0; x <= x1; ++x) {
      const double sx = x + 0.5 - shear * (y + 0.5 - base_y);  // undo the slant
      const double u = (sx - p.left) / p.k + p.ink.x0 - 0.5,
                   q = (y + 0.5 - p.top) / p.k + p.ink.y0 - 0.5;
      const int u0 = int(std::floor(u)), q0 = int(std::floor(q));
      auto at = [&](int a, int b) {
        return a < 0 || b < 0 || a > 27 || b > 27 ? 0.f : p.d[b * 28 + a] / 255.f;
      };
      const float fu = float(u - u0), fq = float(q - q0);
      const float v = (1 - fq) * ((1 - fu) * at(u0, q0) + fu * at(u0 + 1, q0)) +
                      fq * ((1 - fu) * at(u0, q0 + 1) + fu * at(u0 + 1, q0 + 1));
      float& c = cover[size_t(y) * size_t(w) + size_t(x)];
      c = std::max(c, v);  // overlapping strokes: ink does not add up past solid
      if (v > 0.25f)
        bx0 = std::min(bx0, x), bx1 = std::max(bx1, x), by0 = std::min(by0, y),
        by1 = std::max(by1, y);
    }
  }
  box = bx1 < 0 ? PixelBox{} : PixelBox{bx0, by0, bx1 - bx0 + 1, by1 - by0 + 1};
}

void draw_rect(std::vector<float>& cover, int w, int h, int x0, int y0, int x1, int y1, float v) {
  for (int y = std::max(0, y0); y <= std::min(h - 1, y1); ++y) {
    for (int x = std::max(0, x0); x <= std::min(w - 1, x1); ++x) {
      float& c = cover[size_t(y) * size_t(w) + size_t(x)];
      c = std::max(c, v);
    }
  }
}

void append(void* context, void* data, int size) {
  static_cast<std::string*>(context)->append(static_cast<const char*>(data), size_t(size));
}

}  // namespace

RenderedNumber render_number(const std::vector<const uint8_t*>& digits, const std::string& labels,
                             const NumberStyle& s, uint64_t seed) {
  if (digits.empty() || digits.size() != labels.size()) {
    throw core::UsageError("render_number: one label per digit, at least one digit");
  }
  Draw draw(seed);
  const int w = s.width, h = s.height;
  double height = draw.uniform(s.digit_lo, s.digit_hi) * h;  // ink height of a digit, px
  std::vector<Placed> placed;
  std::vector<double> gaps;
  double total = 0;
  for (size_t i = 0; i < digits.size(); ++i) {
    Placed p{digits[i], ink_box(digits[i]), 0, 0, 0};
    p.k = height * (1 + draw.uniform(-s.scale, s.scale)) / 20.0;
    total += (p.ink.x1 - p.ink.x0 + 1) * p.k;
    if (i > 0) gaps.push_back(draw.uniform(s.gap_lo, s.gap_hi) * height);
    if (i > 0) total += gaps.back();
    placed.push_back(p);
  }
  const double shear = std::tan(draw.uniform(-s.slant, s.slant) * 3.14159265358979323846 / 180);
  const double room = w - 2 * (0.06 * w + std::abs(shear) * height);
  const double fit = total > room ? room / total : 1.0;  // shrink a long number to fit
  height *= fit;
  const double base_y = h / 2.0 + height / 2 + draw.uniform(-0.1, 0.1) * (h - height);
  double x =
      draw.uniform(0.06 * w + std::abs(shear) * height,
                   std::max(0.06 * w + std::abs(shear) * height + 1, w - 0.06 * w - total * fit));
  std::vector<float> cover(size_t(w) * size_t(h), 0.f);
  RenderedNumber out;
  out.text = labels;
  for (size_t i = 0; i < placed.size(); ++i) {
    Placed& p = placed[i];
    p.k *= fit;
    if (i > 0) {
      x += gaps[i - 1] * fit;
      out.gaps.push_back(gaps[i - 1] * fit);
    }
    p.left = x;
    const double ih = (p.ink.y1 - p.ink.y0 + 1) * p.k;
    p.top = base_y - ih + draw.uniform(-s.baseline, s.baseline) * height;
    PixelBox box;
    draw_digit(cover, w, h, p, shear, base_y, box);
    out.boxes.push_back(box);
    x += (p.ink.x1 - p.ink.x0 + 1) * p.k;
  }
  int nx0 = w, nx1 = 0, ny0 = h, ny1 = 0;
  for (const PixelBox& b : out.boxes) {
    if (b.width == 0) continue;
    nx0 = std::min(nx0, b.x), nx1 = std::max(nx1, b.x + b.width - 1);
    ny0 = std::min(ny0, b.y), ny1 = std::max(ny1, b.y + b.height - 1);
  }
  const int thick = int(std::lround(draw.uniform(1, std::max(1.5, h / 60.0))));
  const float line_ink = float(draw.uniform(0.5, 1.0));
  if (draw.chance(s.line_prob)) {  // a ruled line just under the baseline, across the field
    const int y = int(base_y + draw.uniform(0.0, 0.12) * height);
    draw_rect(cover, w, h, int(nx0 - draw.uniform(0.1, 1.0) * height), y,
              int(nx1 + draw.uniform(0.1, 1.0) * height), y + thick - 1, line_ink);
  } else if (draw.chance(s.box_prob)) {  // a form box around the field
    const int m = int(draw.uniform(0.15, 0.4) * height);
    const int x0 = nx0 - m - int(draw.uniform(0, 0.5) * height), x1 = nx1 + m;
    const int y0 = ny0 - m, y1 = ny1 + m;
    draw_rect(cover, w, h, x0, y0, x1, y0 + thick - 1, line_ink);
    draw_rect(cover, w, h, x0, y1 - thick + 1, x1, y1, line_ink);
    draw_rect(cover, w, h, x0, y0, x0 + thick - 1, y1, line_ink);
    draw_rect(cover, w, h, x1 - thick + 1, y0, x1, y1, line_ink);
  }
  if (draw.chance(s.blur_prob))
    cover = gaussian_blur(cover, w, h, draw.uniform(0.2, 0.6) * height / 20);
  const double paper = draw.uniform(s.paper_lo, s.paper_hi), ink = draw.uniform(s.ink_lo, s.ink_hi);
  const double noise = draw.uniform(0, s.noise_hi);
  const double falloff = draw.uniform(0, s.gradient), dir = draw.uniform(0, 2 * kPi);
  out.image = GrayImage(w, h, 0);
  for (int y = 0; y < h; ++y) {
    for (int xx = 0; xx < w; ++xx) {
      const double t =
          ((xx + 0.5) / w - 0.5) * std::cos(dir) + ((y + 0.5) / h - 0.5) * std::sin(dir);
      const double m = cover[size_t(y) * size_t(w) + size_t(xx)];
      const double v = paper + (ink - paper) * m + falloff * (t - 0.5) + noise * draw.normal();
      out.image.at(xx, y) = uint8_t(std::clamp(std::lround(v), 0L, 255L));
    }
  }
  if (draw.chance(s.jpeg_prob)) {
    std::string bytes;
    if (stbi_write_jpg_to_func(append, &bytes, w, h, 1, out.image.pixels.data(),
                               int(std::lround(draw.uniform(50, 95))))) {
      out.image = decode_image(bytes, "number JPEG");
    }
  }
  return out;
}

NumberDigits draw_number_digits(const RawSplit& split, std::mt19937_64& pick, int min_length,
                                int max_length) {
  const size_t available = size_t(split.images.count());
  NumberDigits out;
  const int length = min_length + int(pick() % uint64_t(max_length - min_length + 1));
  for (int k = 0; k < length; ++k) {
    const size_t at = size_t(pick() % available);
    out.digits.push_back(split.images.data.data() + at * 784);
    out.text += char('0' + split.labels.data[at] % 10);
  }
  return out;
}

}  // namespace digitlab::data
