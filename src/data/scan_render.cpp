// Scan-like rendering of MNIST digits: geometry, paper, light falloff, blur, noise, JPEG.
#include "data/scan_render.h"

#include <stb/stb_image_write.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "core/error.h"
#include "data/decode.h"
#include "data/render_util.h"

namespace digitlab::data {
namespace {

void append(void* context, void* data, int size) {
  static_cast<std::string*>(context)->append(static_cast<const char*>(data), size_t(size));
}

ScanVariant base(const std::string& name) {
  ScanVariant v;
  v.name = name;
  return v;
}

}  // namespace

std::vector<std::string> scan_variant_names() {
  return {"clean-large", "dark-on-light", "noisy-grey", "small-rotated", "light-on-dark", "all"};
}

ScanVariant scan_variant(const std::string& name) {
  ScanVariant v = base(name);
  if (name == "clean-large") {
    v.size_lo = 200, v.size_hi = 400;
    v.digit_lo = 0.45;
    v.paper_lo = 230, v.paper_hi = 245, v.ink_lo = 0, v.ink_hi = 30;
  } else if (name == "dark-on-light") {
    v.noise_lo = 1, v.noise_hi = 4, v.gradient = 15;
  } else if (name == "noisy-grey") {
    v.paper_lo = 150, v.paper_hi = 200, v.ink_lo = 20, v.ink_hi = 80;
    v.noise_lo = 6, v.noise_hi = 12, v.gradient = 30;
  } else if (name == "small-rotated") {
    v.size_lo = 60, v.size_hi = 120;
    v.noise_lo = 1, v.noise_hi = 4, v.rotate = 10, v.blur_prob = 0.5, v.blur_hi = 0.6;
  } else if (name == "light-on-dark") {
    v.paper_lo = 20, v.paper_hi = 70, v.ink_lo = 180, v.ink_hi = 250;
    v.noise_lo = 2, v.noise_hi = 6, v.gradient = 15;
  } else if (name == "all") {
    v.noise_lo = 0, v.noise_hi = 10, v.gradient = 25, v.rotate = 10, v.specks = 3;
    v.blur_prob = 0.5, v.blur_hi = 0.6, v.jpeg_prob = 0.5;
  } else {
    std::string known;
    for (const std::string& n : scan_variant_names()) known += (known.empty() ? "" : ", ") + n;
    throw core::UsageError("scan variant '" + name + "': unknown (known: " + known + ")");
  }
  return v;
}

GrayImage render_scan_like(const uint8_t* mnist28, const ScanVariant& v, uint64_t seed) {
  Draw draw(seed);
  const int w = int(std::lround(draw.uniform(v.size_lo, v.size_hi)));
  const double aspect = std::exp(draw.uniform(std::log(v.aspect_lo), std::log(v.aspect_hi)));
  const int h = std::clamp(int(std::lround(w * aspect)), v.size_lo, v.size_hi);

  // The digit's ink box centre goes to a random point that keeps the (possibly rotated) box inside.
  int bx0 = 27, by0 = 27, bx1 = 0, by1 = 0;
  for (int y = 0; y < 28; ++y) {
    for (int x = 0; x < 28; ++x) {
      if (!mnist28[y * 28 + x]) continue;
      bx0 = std::min(bx0, x), bx1 = std::max(bx1, x), by0 = std::min(by0, y),
      by1 = std::max(by1, y);
    }
  }
  if (bx1 < bx0) bx0 = by0 = 4, bx1 = by1 = 23;
  const double mcx = (bx0 + bx1) / 2.0, mcy = (by0 + by1) / 2.0;
  const double k = draw.uniform(v.digit_lo, v.digit_hi) * std::min(w, h) / 20.0;  // px per MNIST px
  const double angle = draw.uniform(-v.rotate, v.rotate) * kPi / 180;
  const double c = std::cos(angle), s = std::sin(angle);
  const double hw = (bx1 - bx0 + 2) / 2.0 * k, hh = (by1 - by0 + 2) / 2.0 * k;
  const double ex = std::abs(c) * hw + std::abs(s) * hh, ey = std::abs(s) * hw + std::abs(c) * hh;
  const double cx = ex < w / 2.0 ? draw.uniform(ex, w - ex) : w / 2.0;
  const double cy = ey < h / 2.0 ? draw.uniform(ey, h - ey) : h / 2.0;

  // Ink coverage per output pixel: the digit sampled bilinearly through the inverse rotation.
  std::vector<float> cover(size_t(w) * size_t(h), 0.f);
  auto mnist = [&](int x, int y) {
    return x < 0 || y < 0 || x > 27 || y > 27 ? 0.f : mnist28[y * 28 + x] / 255.f;
  };
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const double px = (x + 0.5 - cx) / k, py = (y + 0.5 - cy) / k;
      const double u = c * px + s * py + mcx, q = -s * px + c * py + mcy;
      const int u0 = int(std::floor(u)), q0 = int(std::floor(q));
      const float fu = float(u - u0), fq = float(q - q0);
      cover[size_t(y) * size_t(w) + size_t(x)] =
          (1 - fq) * ((1 - fu) * mnist(u0, q0) + fu * mnist(u0 + 1, q0)) +
          fq * ((1 - fu) * mnist(u0, q0 + 1) + fu * mnist(u0 + 1, q0 + 1));
    }
  }
  // Specks: solid dots of 0.2-0.6 MNIST pixels radius anywhere, on the digit or off it.
  const int specks = int(draw.uniform(0, v.specks + 1));
  for (int i = 0; i < specks; ++i) {
    const double sx = draw.uniform(0, w), sy = draw.uniform(0, h), r = draw.uniform(0.2, 0.6) * k;
    for (int y = std::max(0, int(sy - r - 1)); y < std::min(h, int(sy + r + 2)); ++y) {
      for (int x = std::max(0, int(sx - r - 1)); x < std::min(w, int(sx + r + 2)); ++x) {
        const double edge = r + 0.5 - std::hypot(x + 0.5 - sx, y + 0.5 - sy);
        float& cv = cover[size_t(y) * size_t(w) + size_t(x)];
        cv = std::max(cv, float(std::clamp(edge, 0.0, 1.0)));
      }
    }
  }
  if (draw.chance(v.blur_prob)) {
    const double sigma = draw.uniform(0.2, std::max(0.2, v.blur_hi)) * k;
    cover = gaussian_blur(cover, w, h, sigma);
  }

  const double paper = draw.uniform(v.paper_lo, v.paper_hi), ink = draw.uniform(v.ink_lo, v.ink_hi);
  const double noise = draw.uniform(v.noise_lo, v.noise_hi);
  // Light falls off linearly along a random direction: the far side is up to about `falloff`
  // grey levels darker.
  const double falloff = draw.uniform(0, v.gradient), dir = draw.uniform(0, 2 * kPi);
  GrayImage img(w, h, 0);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const double t =
          ((x + 0.5) / w - 0.5) * std::cos(dir) + ((y + 0.5) / h - 0.5) * std::sin(dir);
      const double light = falloff * (t - 0.5);
      const double m = cover[size_t(y) * size_t(w) + size_t(x)];
      const double value = paper + (ink - paper) * m + light + noise * draw.normal();
      img.at(x, y) = uint8_t(std::clamp(std::lround(value), 0L, 255L));
    }
  }
  if (draw.chance(v.jpeg_prob)) {
    const int quality = int(std::lround(draw.uniform(v.jpeg_lo, v.jpeg_hi)));
    std::string bytes;
    if (stbi_write_jpg_to_func(append, &bytes, w, h, 1, img.pixels.data(), quality)) {
      img = decode_image(bytes, "scan-like JPEG");
    }
  }
  return img;
}

GrayImage scan_preview_sheet(const uint8_t* digits, int n, const ScanVariant& v, uint64_t seed,
                             const PrepOptions& options) {
  constexpr int kZoom = 4, kCell = 28 * kZoom, kGap = 6, kCols = 4;
  GrayImage sheet(kCols * (kCell + kGap) + kGap, n * (kCell + kGap) + kGap, 96);
  for (int i = 0; i < n; ++i) {
    const uint8_t* d = digits + size_t(i) * 784;
    const int y = kGap + i * (kCell + kGap);
    auto x_of = [&](int col) { return kGap + col * (kCell + kGap); };
    blit(sheet, d, 28, 28, x_of(0), y, kZoom);
    const GrayImage scan = render_scan_like(d, v, seed + uint64_t(i));
    const double fit = double(kCell) / std::max(scan.width, scan.height);
    const int sw = std::max(1, int(std::lround(scan.width * fit)));
    const int sh = std::max(1, int(std::lround(scan.height * fit)));
    const GrayImage shown = resize_image(scan, sw, sh);
    blit(sheet, shown.pixels.data(), sh, sw, x_of(1) + (kCell - sw) / 2, y + (kCell - sh) / 2, 1);
    const PreparedDigit p = prepare_digit(scan, options);
    GrayImage naive = resize_image(scan, 28, 28);
    if (p.inverted) {
      for (uint8_t& px : naive.pixels) px = uint8_t(255 - px);
    }
    blit(sheet, naive.pixels.data(), 28, 28, x_of(2), y, kZoom);
    blit(sheet, p.image.pixels.data(), 28, 28, x_of(3), y, kZoom);
  }
  return sheet;
}

}  // namespace digitlab::data
