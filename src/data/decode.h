// Decoding image files (PNG, JPEG, BMP, GIF, PGM/PPM) into 8-bit grayscale, with size limits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "data/image_io.h"

namespace digitlab::data {

// Largest image accepted, in pixels (width * height), checked from the header before any pixel
// memory is allocated: a 40-megapixel photo decodes through about 200 MB of transient buffers.
constexpr int64_t kMaxImagePixels = 40'000'000;
// Largest encoded image accepted, in bytes.
constexpr size_t kMaxImageFileBytes = size_t(64) << 20;

// Callers that hold many decodes in flight at once (a server) may tighten both.
struct DecodeLimits {
  int64_t max_pixels = kMaxImagePixels;
  size_t max_bytes = kMaxImageFileBytes;
};

// Decodes PNG (any bit depth, palette, 16-bit), JPEG (baseline and progressive), BMP, GIF (first
// frame) or binary/ASCII PGM and PPM (P5, P6, P2, P3; maxval up to 65535), recognized by their
// magic bytes, never by `name`. Colour becomes luma (0.30 R + 0.59 G + 0.11 B); transparency is
// composited onto white, because a transparent drawing on a canvas means ink on paper.
// Requires nothing of `bytes`. Guarantees a returned image has width, height >= 1 and
// width * height pixels. Throws core::RuntimeError "<name>: <problem>" for data over a limit
// (size named; dimensions are checked from the header before decoding), a PNG whose pixel data
// inflates past what its dimensions need, a corrupt or truncated file, and
// "<name>: not a supported image (PNG, JPEG, BMP, GIF, PGM)" for anything else. Safe to call from
// several threads at once (Debian's libstb keeps stb_image's error state per thread).
GrayImage decode_image(const std::string& bytes, const std::string& name,
                       const DecodeLimits& limits = {});

// Reads `path` and decodes it. Refuses a file over limits.max_bytes before reading it. Throws
// core::RuntimeError naming `path` when it is missing, not a regular file, unreadable or not an
// image that decode_image accepts.
GrayImage read_image_file(const std::string& path, const DecodeLimits& limits = {});

// Whether `path` ends in an image extension decode_image handles (.png .jpg .jpeg .bmp .gif .pgm
// .ppm .pnm, any case), for choosing files in a directory walk. Looks at nothing but the name.
bool is_image_file_name(const std::string& path);

}  // namespace digitlab::data
