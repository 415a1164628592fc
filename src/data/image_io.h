// Grayscale images in memory, a small built-in font for labels, and PNG output (gray and RGB).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace digitlab::data {

struct GrayImage {
  int width = 0, height = 0;
  std::vector<uint8_t> pixels;  // row-major
  GrayImage() = default;
  GrayImage(int w, int h, uint8_t fill)
      : width(w), height(h), pixels(size_t(w) * size_t(h), fill) {}
  uint8_t& at(int x, int y) { return pixels[size_t(y) * size_t(width) + size_t(x)]; }
};

// Copies an h x w source scaled up by an integer `zoom` (nearest) with its top-left at (x, y);
// pixels falling outside `dst` are skipped.
void blit(GrayImage& dst, const uint8_t* src, int h, int w, int x, int y, int zoom);

// Draws the digits and '-' of `text` in a 5x7 font scaled by `zoom`, top-left at (x, y).
// Other characters leave a blank cell. Each character takes 6*zoom pixels of width.
void draw_text(GrayImage& dst, int x, int y, const std::string& text, int zoom, uint8_t value);

// Writes the image as an 8-bit grayscale PNG through a temporary file and a rename.
// Throws core::RuntimeError naming `path` when it cannot be written.
void write_png(const std::string& path, const GrayImage& image);

// Encodes row-major 8-bit pixels (`channels` 1 = gray, 3 = RGB) as PNG bytes in memory, for
// embedding as data: URIs. Requires pixels.size() == width * height * channels and both sizes
// >= 1; otherwise, or when encoding fails, throws core::RuntimeError naming `what`.
std::string encode_png(int width, int height, int channels, const std::vector<uint8_t>& pixels,
                       const std::string& what = "image");

// Writes row-major RGB pixels (3 bytes each, rgb.size() == width * height * 3) as a PNG through a
// temporary file and a rename. Throws core::RuntimeError naming `path` for a size mismatch or a
// failed write; any previous `path` stays untouched then.
void write_png_rgb(const std::string& path, int width, int height, const std::vector<uint8_t>& rgb);

}  // namespace digitlab::data
