// IDX files (the MNIST container format): strict reading, plain or gzip, and writing.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace digitlab::data {

// An IDX array of unsigned bytes: dims as in the header, data row-major.
struct IdxArray {
  std::vector<uint32_t> dims;
  std::vector<uint8_t> data;
  size_t count() const { return dims.empty() ? 0 : dims[0]; }
  // Elements per item (28*28 for images, 1 for labels).
  size_t item_size() const;
};

// Largest decompressed IDX file accepted; guards against headers that claim absurd sizes.
constexpr size_t kMaxIdxBytes = size_t(2) << 30;

// Parses IDX bytes. Requires: nothing. Guarantees: a returned array has a valid magic
// (0x0000, type 0x08 = unsigned byte), 1 to 4 non-zero dimensions, and exactly as many data bytes
// as the header claims. Otherwise throws core::RuntimeError "<name>: <problem>".
IdxArray parse_idx(const std::string& bytes, const std::string& name);

// Reads `path`, gunzipping when it starts with the gzip magic, then parse_idx.
// Throws core::RuntimeError naming `path` for any unreadable, truncated or malformed file.
IdxArray read_idx(const std::string& path);

// Checks that `images` is [N,28,28]-shaped (any rows/cols >= 1) and `labels` is [N] with every
// label below `num_classes`. Throws core::RuntimeError naming the file at fault.
void check_image_label_pair(const IdxArray& images, const std::string& images_path,
                            const IdxArray& labels, const std::string& labels_path,
                            int num_classes);

// Serializes an array as IDX bytes (uncompressed).
std::string to_idx_bytes(const IdxArray& a);

// Writes an array to `path` as plain IDX, or gzipped when `path` ends in ".gz"; atomically.
void write_idx(const std::string& path, const IdxArray& a);

}  // namespace digitlab::data
