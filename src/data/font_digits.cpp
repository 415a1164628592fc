// Rendering the digits of fonts with stb_truetype, thickened and slanted, framed as MNIST was.
#include "data/font_digits.h"

#include <stb/stb_truetype.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>

#include "core/error.h"
#include "core/files.h"
#include "data/digit_prep.h"
#include "data/image_io.h"

namespace digitlab::data {
namespace {

constexpr int kGlyphHeight = 96;  // pixels of the font's size at which glyphs are drawn

// The glyph of `digit` as ink (bright) on 0, with a margin for thickening and slant.
GrayImage draw_glyph(const stbtt_fontinfo& font, char digit) {
  const float scale = stbtt_ScaleForPixelHeight(&font, kGlyphHeight);
  int w = 0, h = 0, xoff = 0, yoff = 0;
  unsigned char* bitmap = stbtt_GetCodepointBitmap(&font, 0, scale, digit, &w, &h, &xoff, &yoff);
  constexpr int kMargin = 40;
  GrayImage out(std::max(1, w) + 2 * kMargin, std::max(1, h) + 2 * kMargin, 0);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) out.at(x + kMargin, y + kMargin) = bitmap[y * w + x];
  }
  stbtt_FreeBitmap(bitmap, nullptr);
  return out;
}

// Thicker by `radius` pixels (the brightest pixel within the disc) and sheared by `shear`
// (x moves by shear * height above the centre), nearest pixel.
GrayImage thicken_and_slant(const GrayImage& g, int radius, double shear) {
  GrayImage thick(g.width, g.height, 0);
  for (int y = 0; y < g.height; ++y) {
    for (int x = 0; x < g.width; ++x) {
      uint8_t v = 0;
      for (int dy = -radius; dy <= radius; ++dy) {
        for (int dx = -radius; dx <= radius; ++dx) {
          const int sx = x + dx, sy = y + dy;
          if (dx * dx + dy * dy > radius * radius || sx < 0 || sy < 0 || sx >= g.width ||
              sy >= g.height)
            continue;
          v = std::max(v, g.pixels[size_t(sy) * size_t(g.width) + size_t(sx)]);
        }
      }
      thick.at(x, y) = v;
    }
  }
  GrayImage out(g.width, g.height, 0);
  for (int y = 0; y < g.height; ++y) {
    const int shift = int(std::lround(shear * (g.height / 2.0 - y)));
    for (int x = 0; x < g.width; ++x) {
      const int sx = x - shift;
      if (sx >= 0 && sx < g.width) out.at(x, y) = thick.at(sx, y);
    }
  }
  return out;
}

}  // namespace

std::vector<std::string> font_files(const std::vector<std::string>& names) {
  namespace fs = std::filesystem;
  std::vector<std::string> out;
  for (const std::string& name : names) {
    std::error_code ec;
    if (fs::is_regular_file(name, ec)) {
      out.push_back(name);
      continue;
    }
    if (!fs::is_directory(name, ec))
      throw core::RuntimeError(name + ": no such font file or folder");
    std::vector<std::string> found;
    for (const auto& entry : fs::directory_iterator(name, ec)) {
      const std::string ext = entry.path().extension().string();
      if (entry.is_regular_file(ec) && (ext == ".ttf" || ext == ".otf"))
        found.push_back(entry.path().string());
    }
    if (found.empty()) throw core::RuntimeError(name + ": no .ttf or .otf fonts in the folder");
    std::sort(found.begin(), found.end());
    out.insert(out.end(), found.begin(), found.end());
  }
  return out;
}

void append_split(RawSplit& split, const RawSplit& more) {
  split.images.data.insert(split.images.data.end(), more.images.data.begin(),
                           more.images.data.end());
  split.labels.data.insert(split.labels.data.end(), more.labels.data.begin(),
                           more.labels.data.end());
  split.images.dims[0] += uint32_t(more.images.count());
  split.labels.dims[0] += uint32_t(more.labels.count());
}

RawSplit font_digit_split(const std::vector<std::string>& font_files, int variants, uint64_t seed) {
  if (font_files.empty()) throw core::UsageError("fonts: give at least one font file");
  if (variants < 1) throw core::UsageError("fonts: variants must be 1 or more");
  RawSplit split;
  split.images.dims = {0, 28, 28};
  split.labels.dims = {0};
  std::mt19937_64 rng(seed);
  for (const std::string& file : font_files) {
    const std::string bytes = core::read_file(file);
    const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
    stbtt_fontinfo font;
    if (bytes.size() < 12 || stbtt_GetFontOffsetForIndex(data, 0) < 0 ||
        !stbtt_InitFont(&font, data, stbtt_GetFontOffsetForIndex(data, 0))) {
      throw core::RuntimeError(file + ": not a TrueType or OpenType font");
    }
    for (char digit = '0'; digit <= '9'; ++digit) {
      if (stbtt_FindGlyphIndex(&font, digit) == 0) {
        throw core::RuntimeError(file + ": the font has no glyph for the digit " +
                                 std::string(1, digit));
      }
      const GrayImage glyph = draw_glyph(font, digit);
      for (int v = 0; v < variants; ++v) {
        const int radius = int(rng() % 4);  // 0-3 px at 96 px: the font's weight to about twice
        const double shear = std::tan((double(rng() % 1601) / 100.0 - 8.0) * M_PI / 180.0);
        PrepOptions prep;
        prep.polarity = InkPolarity::kLightInk;
        const PreparedDigit d = prepare_digit(thicken_and_slant(glyph, radius, shear), prep);
        if (!d.ink_found) {
          throw core::RuntimeError(file + ": the glyph of the digit " + std::string(1, digit) +
                                   " is empty");
        }
        split.images.data.insert(split.images.data.end(), d.image.pixels.begin(),
                                 d.image.pixels.end());
        split.labels.data.push_back(uint8_t(digit - '0'));
        ++split.images.dims[0];
        ++split.labels.dims[0];
      }
    }
  }
  return split;
}

int make_font_digits_command(const std::vector<std::string>& fonts, const std::string& out,
                             int per_digit, uint64_t seed) {
  namespace fs = std::filesystem;
  if (out.empty()) throw core::UsageError("--out: required (the folder to write)");
  if (per_digit < 1 || per_digit > 10000) throw core::UsageError("--per-digit: must be 1 to 10000");
  std::error_code ec;
  if (fs::exists(out, ec) && !(fs::is_directory(out, ec) && fs::is_empty(out, ec))) {
    throw core::UsageError("--out: " + out + " exists and is not an empty folder");
  }
  const std::vector<std::string> files = font_files(fonts);
  const std::string tmp =
      fs::path(out).lexically_normal().string() + ".tmp-" + std::to_string(::getpid());
  try {
    for (int d = 0; d < 10; ++d) core::make_dirs(core::join_path(tmp, std::to_string(d)));
    const int n = int(files.size());
    for (int f = 0; f < n; ++f) {
      const int variants = per_digit / n + (f < per_digit % n ? 1 : 0);
      if (variants == 0) continue;
      const RawSplit split = font_digit_split({files[size_t(f)]}, variants, seed + uint64_t(f));
      // Two fonts of one file name (a/Foo.ttf, b/Foo.ttf) must not overwrite each other's images.
      std::string stem = fs::path(files[size_t(f)]).stem().string();
      for (int g = 0; g < n; ++g) {
        if (g != f && fs::path(files[size_t(g)]).stem().string() == stem) {
          stem += "-" + std::to_string(f);
          break;
        }
      }
      for (size_t i = 0; i < split.labels.count(); ++i) {
        GrayImage paper(28, 28, 0);  // ink dark on white, as written on paper
        for (size_t p = 0; p < 784; ++p)
          paper.pixels[p] = uint8_t(255 - split.images.data[i * 784 + p]);
        char name[32];
        std::snprintf(name, sizeof name, "-%04zu.png", i % size_t(variants));
        write_png(core::join_path(core::join_path(tmp, std::to_string(split.labels.data[i])),
                                  stem + name),
                  paper);
      }
    }
    if (fs::exists(out, ec)) fs::remove(out, ec);  // the empty folder makes way
    fs::rename(tmp, out, ec);
    if (ec) throw core::RuntimeError(out + ": cannot be written (" + ec.message() + ")");
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  std::printf("wrote %s: %d images of each digit (0-9) from %zu fonts, dark ink on white\n",
              out.c_str(), per_digit, files.size());
  return 0;
}

}  // namespace digitlab::data
