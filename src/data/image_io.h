// Grayscale images in memory, drawing labels with a small built-in font, and PNG output.
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

}  // namespace digitlab::data
