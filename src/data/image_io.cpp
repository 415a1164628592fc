// Grayscale drawing and PNG output (stb_image_write).
#include "data/image_io.h"

#include <stb/stb_image_write.h>

#include "core/error.h"
#include "core/files.h"

namespace digitlab::data {
namespace {

// 5x7 glyphs, one byte per row, bit 4 = leftmost column.
constexpr uint8_t kDigits[10][7] = {
    {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}, {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E},
    {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}, {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E},
    {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}, {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E},
    {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}, {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08},
    {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}, {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}};
constexpr uint8_t kDash[7] = {0, 0, 0, 0x1F, 0, 0, 0};

void append(void* context, void* data, int size) {
  static_cast<std::string*>(context)->append(static_cast<const char*>(data), size_t(size));
}

}  // namespace

void blit(GrayImage& dst, const uint8_t* src, int h, int w, int x, int y, int zoom) {
  for (int r = 0; r < h * zoom; ++r) {
    for (int c = 0; c < w * zoom; ++c) {
      const int dx = x + c, dy = y + r;
      if (dx < 0 || dy < 0 || dx >= dst.width || dy >= dst.height) continue;
      dst.at(dx, dy) = src[(r / zoom) * w + c / zoom];
    }
  }
}

void draw_text(GrayImage& dst, int x, int y, const std::string& text, int zoom, uint8_t value) {
  for (size_t i = 0; i < text.size(); ++i) {
    const char ch = text[i];
    const uint8_t* glyph = ch >= '0' && ch <= '9' ? kDigits[ch - '0'] : ch == '-' ? kDash : nullptr;
    if (!glyph) continue;
    const int x0 = x + int(i) * 6 * zoom;
    for (int r = 0; r < 7 * zoom; ++r) {
      for (int c = 0; c < 5 * zoom; ++c) {
        if (!(glyph[r / zoom] & (0x10 >> (c / zoom)))) continue;
        const int dx = x0 + c, dy = y + r;
        if (dx >= 0 && dy >= 0 && dx < dst.width && dy < dst.height) dst.at(dx, dy) = value;
      }
    }
  }
}

void write_png(const std::string& path, const GrayImage& image) {
  std::string bytes;
  if (!stbi_write_png_to_func(append, &bytes, image.width, image.height, 1, image.pixels.data(),
                              image.width)) {
    throw core::RuntimeError(path + ": cannot encode PNG");
  }
  core::write_file_atomic(path, bytes);
}

std::string encode_png(int width, int height, int channels, const std::vector<uint8_t>& pixels,
                       const std::string& what) {
  if (width < 1 || height < 1 || (channels != 1 && channels != 3) ||
      pixels.size() != size_t(width) * size_t(height) * size_t(channels)) {
    throw core::RuntimeError(what + ": cannot encode PNG (" + std::to_string(width) + "x" +
                             std::to_string(height) + "x" + std::to_string(channels) + " with " +
                             std::to_string(pixels.size()) + " bytes)");
  }
  std::string bytes;
  if (!stbi_write_png_to_func(append, &bytes, width, height, channels, pixels.data(),
                              width * channels)) {
    throw core::RuntimeError(what + ": cannot encode PNG");
  }
  return bytes;
}

void write_png_rgb(const std::string& path, int width, int height,
                   const std::vector<uint8_t>& rgb) {
  core::write_file_atomic(path, encode_png(width, height, 3, rgb, path));
}

}  // namespace digitlab::data
