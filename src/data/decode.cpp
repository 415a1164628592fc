// Image decoding: format sniffing, limits, stb_image for PNG/JPEG/BMP/GIF, an own PGM/PPM parser.
#include "data/decode.h"

#include <stb/stb_image.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <system_error>
#include <vector>

#include "core/error.h"
#include "core/files.h"

namespace digitlab::data {
namespace {

constexpr const char* kUnsupported = ": not a supported image (PNG, JPEG, BMP, GIF, PGM)";

enum class Format { kUnknown, kPng, kJpeg, kBmp, kGif, kPnm };

Format sniff(const std::string& b) {
  auto starts = [&](const char* magic, size_t n) {
    return b.size() >= n && b.compare(0, n, magic, n) == 0;
  };
  if (starts("\x89PNG\r\n\x1a\n", 8)) return Format::kPng;
  if (starts("\xFF\xD8\xFF", 3)) return Format::kJpeg;
  if (starts("GIF87a", 6) || starts("GIF89a", 6)) return Format::kGif;
  // "BM" alone also starts text files; stb checks the rest of the header.
  if (starts("BM", 2)) return Format::kBmp;
  if (b.size() >= 3 && b[0] == 'P' && b[1] != '\0' && std::strchr("2356", b[1]) &&
      std::isspace(uint8_t(b[2]))) {
    return Format::kPnm;
  }
  return Format::kUnknown;
}

const char* format_name(Format f) {
  switch (f) {
    case Format::kPng:
      return "PNG";
    case Format::kJpeg:
      return "JPEG";
    case Format::kBmp:
      return "BMP";
    case Format::kGif:
      return "GIF";
    case Format::kPnm:
      return "PGM/PPM";
    default:
      return "image";
  }
}

std::string megapixels(int64_t pixels) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", double(pixels) / 1e6);
  return buf;
}

void check_dimensions(int64_t w, int64_t h, const std::string& name, const DecodeLimits& limits) {
  if (w < 1 || h < 1) {
    throw core::RuntimeError(name + ": image has no pixels (" + std::to_string(w) + "x" +
                             std::to_string(h) + ")");
  }
  // Two 32-bit sides can overflow a signed 64-bit product (fuzz_image's regress-png-side-overflow):
  // compare each side first, then the product of sides no larger than the limit cannot overflow.
  if (w > limits.max_pixels || h > limits.max_pixels || w * h > limits.max_pixels) {
    const double mp = double(w) * double(h) / 1e6;
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", mp);
    throw core::RuntimeError(name + ": image is " + std::to_string(w) + "x" + std::to_string(h) +
                             " (" + buf + " megapixels), over the limit of " +
                             megapixels(limits.max_pixels) + " megapixels");
  }
}

uint32_t be32(const std::string& b, size_t at) {
  return uint32_t(uint8_t(b[at])) << 24 | uint32_t(uint8_t(b[at + 1])) << 16 |
         uint32_t(uint8_t(b[at + 2])) << 8 | uint32_t(uint8_t(b[at + 3]));
}

// stb_image grows its inflate buffer without bound (up to 4 GB), so a few kilobytes of IDAT
// could allocate gigabytes for a 1x1 PNG. Inflate once here into a scratch buffer and refuse the
// file when the stream yields more than the header's dimensions need, or when zlib cannot read
// it, or when a chunk claims more bytes than the file holds.
void check_png_inflated_size(const std::string& b, const std::string& name) {
  size_t at = 8;
  bool cgbi = false;  // Apple's PNG variant: raw deflate without the zlib header
  uint64_t limit = 0;
  z_stream zs{};
  bool started = false;
  std::unique_ptr<z_stream, void (*)(z_stream*)> guard(&zs, [](z_stream* z) { inflateEnd(z); });
  std::string scratch(size_t(1) << 16, '\0');
  uint64_t total = 0;
  while (at + 12 <= b.size()) {
    const uint32_t len = be32(b, at);
    const std::string type = b.substr(at + 4, 4);
    if (len > b.size() - at - 12) {
      // stb would allocate what the length claims (gigabytes) before finding the data missing.
      throw core::RuntimeError(name + ": corrupt PNG: a " + type + " chunk claims " +
                               std::to_string(len) + " bytes, the file has " +
                               std::to_string(b.size() - at - 12) + " after it");
    }
    const size_t data = at + 8;
    if (type == "CgBI") cgbi = true;
    if (type == "IHDR" && len >= 13) {
      const uint64_t w = be32(b, data), h = be32(b, data + 4);
      const int depth = uint8_t(b[data + 8]), color = uint8_t(b[data + 9]);
      const bool interlaced = uint8_t(b[data + 12]) != 0;
      const int channels = color == 2 ? 3 : color == 4 ? 2 : color == 6 ? 4 : 1;
      const uint64_t bits = uint64_t(channels) * uint64_t(depth);
      auto raw = [&](uint64_t pw, uint64_t ph) {
        return pw && ph ? ph * (1 + (pw * bits + 7) / 8) : 0;
      };
      if (!interlaced) {
        limit = raw(w, h);
      } else {
        static const int kAdam7[7][4] = {{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4},
                                         {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}};
        for (const auto& p : kAdam7) {
          limit += raw((w + p[2] - 1 - p[0]) / p[2] * (w > uint64_t(p[0])),
                       (h + p[3] - 1 - p[1]) / p[3] * (h > uint64_t(p[1])));
        }
      }
      // Some encoders append a few bytes of slack; nothing legitimate needs more than this.
      limit += 1 << 16;
    }
    if (type == "IDAT" && limit > 0) {
      if (!started) {
        if (inflateInit2(&zs, cgbi ? -15 : 15) != Z_OK) return;
        started = true;
      }
      zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(b.data() + data));
      zs.avail_in = len;
      while (zs.avail_in > 0) {
        zs.next_out = reinterpret_cast<Bytef*>(scratch.data());
        zs.avail_out = uInt(scratch.size());
        const int rc = inflate(&zs, Z_NO_FLUSH);
        total += scratch.size() - zs.avail_out;
        if (total > limit) {
          throw core::RuntimeError(name + ": PNG pixel data inflates to more than the " +
                                   std::to_string(limit) + " bytes its dimensions need");
        }
        if (rc == Z_STREAM_END) return;
        // stb's own inflater accepts streams zlib refuses and may then grow its buffer to
        // gigabytes, so a stream zlib cannot read is refused here, not left to stb.
        if (rc != Z_OK) {
          throw core::RuntimeError(
              name + ": corrupt PNG pixel data (" +
              (zs.msg ? std::string(zs.msg) : "inflate error " + std::to_string(rc)) + ")");
        }
      }
    }
    if (type == "IEND") return;
    at += 12 + size_t(len);
  }
}

// PGM/PPM header and pixels (Netpbm). stb_image reads only the binary forms, so all four are
// parsed here alike.
class PnmReader {
 public:
  PnmReader(const std::string& b, const std::string& name) : b_(b), name_(name) {}

  GrayImage read(const DecodeLimits& limits) {
    const char kind = b_[1];
    pos_ = 2;
    const int64_t w = number("width"), h = number("height"), maxval = number("maxval");
    if (maxval < 1 || maxval > 65535) fail("maxval " + std::to_string(maxval) + " not in 1-65535");
    check_dimensions(w, h, name_, limits);
    const bool binary = kind == '5' || kind == '6';
    const int channels = kind == '3' || kind == '6' ? 3 : 1;
    const size_t samples = size_t(w) * size_t(h) * size_t(channels);
    if (binary) {
      // Exactly one whitespace byte separates maxval from the raster.
      if (pos_ >= b_.size() || !std::isspace(uint8_t(b_[pos_]))) fail("no raster after header");
      ++pos_;
      const size_t need = samples * (maxval > 255 ? 2 : 1);
      if (b_.size() - pos_ < need) {
        fail("truncated: pixels need " + std::to_string(need) + " bytes, file has " +
             std::to_string(b_.size() - pos_));
      }
    } else if (b_.size() - pos_ < samples) {
      // Each ASCII sample takes at least one digit: refuse short files before allocating.
      fail("truncated: " + std::to_string(samples) + " samples expected");
    }
    GrayImage img(int(w), int(h), 0);
    uint32_t px[3] = {0, 0, 0};
    for (size_t i = 0; i < img.pixels.size(); ++i) {
      for (int c = 0; c < channels; ++c) {
        uint32_t v;
        if (!binary) {
          v = uint32_t(number("sample"));
        } else if (maxval > 255) {
          v = uint32_t(uint8_t(b_[pos_])) << 8 | uint8_t(b_[pos_ + 1]);
          pos_ += 2;
        } else {
          v = uint8_t(b_[pos_++]);
        }
        if (v > uint32_t(maxval)) {
          fail("sample " + std::to_string(v) + " above maxval " + std::to_string(maxval));
        }
        px[c] = (v * 255 + uint32_t(maxval) / 2) / uint32_t(maxval);
      }
      // Same integer luma as stb_image, so a PPM and a PNG of one picture decode alike.
      img.pixels[i] =
          channels == 1 ? uint8_t(px[0]) : uint8_t((px[0] * 77 + px[1] * 150 + px[2] * 29) >> 8);
    }
    return img;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw core::RuntimeError(name_ + ": bad PGM/PPM: " + what);
  }

  // Skips whitespace and '#' comments, then reads a decimal number.
  int64_t number(const char* what) {
    while (pos_ < b_.size()) {
      if (std::isspace(uint8_t(b_[pos_]))) {
        ++pos_;
      } else if (b_[pos_] == '#') {
        while (pos_ < b_.size() && b_[pos_] != '\n' && b_[pos_] != '\r') ++pos_;
      } else {
        break;
      }
    }
    if (pos_ >= b_.size() || !std::isdigit(uint8_t(b_[pos_]))) {
      fail(std::string("expected ") + what + (pos_ >= b_.size() ? " at end of file" : ""));
    }
    int64_t v = 0;
    while (pos_ < b_.size() && std::isdigit(uint8_t(b_[pos_]))) {
      v = v * 10 + (b_[pos_++] - '0');
      if (v > (int64_t(1) << 31)) fail(std::string(what) + " too large");
    }
    return v;
  }

  const std::string& b_;
  const std::string& name_;
  size_t pos_ = 0;
};

// Dimensions from the header, read here because stb_image refuses large images with nothing
// better than "unknown image type". False when the header is too broken to say; stb then reports.
bool header_size(const std::string& b, Format format, int64_t& w, int64_t& h) {
  auto u8 = [&](size_t at) { return uint32_t(uint8_t(b[at])); };
  auto le16 = [&](size_t at) { return u8(at) | u8(at + 1) << 8; };
  auto le32 = [&](size_t at) { return int32_t(le16(at) | le16(at + 2) << 16); };
  auto be16 = [&](size_t at) { return u8(at) << 8 | u8(at + 1); };
  switch (format) {
    case Format::kPng:
      if (b.size() < 24 || b.compare(12, 4, "IHDR") != 0) return false;
      w = be32(b, 16), h = be32(b, 20);
      return true;
    case Format::kGif:
      if (b.size() < 10) return false;
      w = le16(6), h = le16(8);
      return true;
    case Format::kBmp: {
      if (b.size() < 26) return false;
      const int32_t info = le32(14);
      if (info == 12) {  // OS/2 1.x header: 16-bit sizes
        w = le16(18), h = le16(20);
        return true;
      }
      if (info != 40 && info != 52 && info != 56 && info != 108 && info != 124) return false;
      w = le32(18), h = std::abs(int64_t(le32(22)));
      return true;
    }
    case Format::kJpeg:
      // Walk the marker segments to the first start-of-frame.
      for (size_t at = 2; at + 4 <= b.size();) {
        if (u8(at) != 0xFF) return false;
        const uint32_t marker = u8(at + 1);
        if (marker == 0xFF) {
          ++at;
        } else if ((marker >= 0xD0 && marker <= 0xD8) || marker == 0x01) {
          at += 2;
        } else if (marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 &&
                   marker != 0xCC) {
          if (at + 9 > b.size()) return false;
          h = be16(at + 5), w = be16(at + 7);
          return true;
        } else {
          at += 2 + be16(at + 2);
        }
      }
      return false;
    default:
      return false;
  }
}

GrayImage decode_with_stb(const std::string& bytes, const std::string& name, Format format,
                          const DecodeLimits& limits) {
  int64_t hw = 0, hh = 0;
  if (header_size(bytes, format, hw, hh)) check_dimensions(hw, hh, name, limits);
  const auto* data = reinterpret_cast<const stbi_uc*>(bytes.data());
  const int len = int(bytes.size());
  int w = 0, h = 0, comp = 0;
  if (!stbi_info_from_memory(data, len, &w, &h, &comp)) {
    // "BM" is too short a signature to call the rest a broken bitmap.
    if (format == Format::kBmp) throw core::RuntimeError(name + kUnsupported);
    throw core::RuntimeError(name + ": corrupt " + format_name(format) + " header");
  }
  check_dimensions(w, h, name, limits);
  if (format == Format::kPng) check_png_inflated_size(bytes, name);
  // Gray + alpha: stb converts colour to luma and gives every format an alpha channel.
  std::unique_ptr<stbi_uc, void (*)(void*)> px(stbi_load_from_memory(data, len, &w, &h, &comp, 2),
                                               stbi_image_free);
  if (!px) {
    throw core::RuntimeError(name + ": corrupt " + format_name(format) + " (" +
                             stbi_failure_reason() + ")");
  }
  check_dimensions(w, h, name, limits);
  GrayImage img(w, h, 0);
  for (size_t i = 0; i < img.pixels.size(); ++i) {
    const uint32_t g = px.get()[2 * i], a = px.get()[2 * i + 1];
    img.pixels[i] = uint8_t((g * a + 255 * (255 - a) + 127) / 255);
  }
  return img;
}

}  // namespace

GrayImage decode_image(const std::string& bytes, const std::string& name,
                       const DecodeLimits& limits) {
  if (bytes.empty()) throw core::RuntimeError(name + ": empty file, not an image");
  if (bytes.size() > limits.max_bytes) {
    throw core::RuntimeError(name + ": image file is " + std::to_string(bytes.size()) +
                             " bytes, over the limit of " + std::to_string(limits.max_bytes));
  }
  const Format format = sniff(bytes);
  switch (format) {
    case Format::kUnknown:
      throw core::RuntimeError(name + kUnsupported);
    case Format::kPnm:
      return PnmReader(bytes, name).read(limits);
    default:
      return decode_with_stb(bytes, name, format, limits);
  }
}

GrayImage read_image_file(const std::string& path, const DecodeLimits& limits) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) throw core::RuntimeError(path + ": no such file");
  if (!std::filesystem::is_regular_file(status)) {
    throw core::RuntimeError(path + ": not a regular file");
  }
  const uintmax_t size = std::filesystem::file_size(path, ec);
  if (!ec && size > limits.max_bytes) {
    throw core::RuntimeError(path + ": image file is " + std::to_string(size) +
                             " bytes, over the limit of " + std::to_string(limits.max_bytes));
  }
  return decode_image(core::read_file(path), path, limits);
}

bool is_image_file_name(const std::string& path) {
  const size_t dot = path.rfind('.');
  const size_t slash = path.rfind('/');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return false;
  std::string ext = path.substr(dot + 1);
  for (char& c : ext) c = char(std::tolower(uint8_t(c)));
  static const char* const kExt[] = {"png", "jpg", "jpeg", "bmp", "gif", "pgm", "ppm", "pnm"};
  return std::any_of(std::begin(kExt), std::end(kExt), [&](const char* e) { return ext == e; });
}

}  // namespace digitlab::data
