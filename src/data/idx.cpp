// IDX reading with strict validation, gzip support, and writing.
#include "data/idx.h"

#include <zlib.h>

#include <cstring>

#include "core/error.h"
#include "core/files.h"

namespace digitlab::data {
namespace {

using core::RuntimeError;

bool is_gzip(const std::string& b) {
  return b.size() >= 2 && uint8_t(b[0]) == 0x1f && uint8_t(b[1]) == 0x8b;
}

std::string gunzip(const std::string& in, const std::string& path) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 16) != Z_OK) throw RuntimeError(path + ": cannot start gzip decoder");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  std::string out;
  char buf[1 << 16];
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof(buf);
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&zs);
      if (rc == Z_BUF_ERROR) throw RuntimeError(path + ": gzip stream is truncated");
      throw RuntimeError(path + ": gzip data is corrupt (" + (zs.msg ? zs.msg : "inflate error") +
                         ")");
    }
    out.append(buf, sizeof(buf) - zs.avail_out);
    if (out.size() > kMaxIdxBytes) {
      inflateEnd(&zs);
      throw RuntimeError(path + ": decompressed size exceeds the limit of " +
                         std::to_string(kMaxIdxBytes) + " bytes");
    }
  }
  inflateEnd(&zs);
  return out;
}

uint32_t read_be32(const std::string& b, size_t at) {
  return uint32_t(uint8_t(b[at])) << 24 | uint32_t(uint8_t(b[at + 1])) << 16 |
         uint32_t(uint8_t(b[at + 2])) << 8 | uint32_t(uint8_t(b[at + 3]));
}

void put_be32(std::string& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(char((v >> s) & 0xff));
}

}  // namespace

size_t IdxArray::item_size() const {
  size_t n = 1;
  for (size_t i = 1; i < dims.size(); ++i) n *= dims[i];
  return n;
}

IdxArray parse_idx(const std::string& b, const std::string& name) {
  if (b.size() < 4) {
    throw RuntimeError(name + ": too short for an IDX header (" + std::to_string(b.size()) +
                       " bytes)");
  }
  if (b[0] != 0 || b[1] != 0) throw RuntimeError(name + ": bad magic number (not an IDX file)");
  const uint8_t type = uint8_t(b[2]);
  const uint8_t ndims = uint8_t(b[3]);
  if (type != 0x08) {
    throw RuntimeError(
        name + ": bad magic number (data type 0x" + std::string(1, "0123456789abcdef"[type >> 4]) +
        std::string(1, "0123456789abcdef"[type & 15]) + ", expected 0x08 unsigned byte)");
  }
  if (ndims < 1 || ndims > 4) {
    throw RuntimeError(name + ": bad magic number (" + std::to_string(ndims) +
                       " dimensions, expected 1 to 4)");
  }
  const size_t header = 4 + 4 * size_t(ndims);
  if (b.size() < header) throw RuntimeError(name + ": truncated header");
  IdxArray a;
  size_t total = 1;
  for (int i = 0; i < ndims; ++i) {
    uint32_t d = read_be32(b, 4 + 4 * size_t(i));
    if (d == 0) throw RuntimeError(name + ": dimension " + std::to_string(i) + " is zero");
    if (total > kMaxIdxBytes / d) throw RuntimeError(name + ": header claims an absurd size");
    total *= d;
    a.dims.push_back(d);
  }
  const size_t have = b.size() - header;
  if (have < total) {
    throw RuntimeError(name + ": truncated: header claims " + std::to_string(total) +
                       " data bytes, file has " + std::to_string(have));
  }
  if (have > total) {
    throw RuntimeError(name + ": " + std::to_string(have - total) +
                       " unexpected bytes after the data the header describes");
  }
  a.data.assign(b.begin() + static_cast<std::ptrdiff_t>(header), b.end());
  return a;
}

IdxArray read_idx(const std::string& path) {
  std::string bytes = core::read_file(path);
  if (is_gzip(bytes)) bytes = gunzip(bytes, path);
  return parse_idx(bytes, path);
}

void check_image_label_pair(const IdxArray& images, const std::string& images_path,
                            const IdxArray& labels, const std::string& labels_path,
                            int num_classes) {
  if (images.dims.size() != 3) {
    throw RuntimeError(images_path + ": expected 3 dimensions (count, rows, cols), found " +
                       std::to_string(images.dims.size()));
  }
  if (labels.dims.size() != 1) {
    throw RuntimeError(labels_path + ": expected 1 dimension (count), found " +
                       std::to_string(labels.dims.size()));
  }
  if (images.count() != labels.count()) {
    throw RuntimeError(labels_path + ": " + std::to_string(labels.count()) + " labels but " +
                       images_path + " has " + std::to_string(images.count()) + " images");
  }
  for (size_t i = 0; i < labels.data.size(); ++i) {
    if (labels.data[i] >= num_classes) {
      throw RuntimeError(labels_path + ": label " + std::to_string(labels.data[i]) + " at index " +
                         std::to_string(i) + " is outside 0.." + std::to_string(num_classes - 1));
    }
  }
}

std::string to_idx_bytes(const IdxArray& a) {
  std::string b;
  b.reserve(4 + 4 * a.dims.size() + a.data.size());
  b.push_back(0);
  b.push_back(0);
  b.push_back(char(0x08));
  b.push_back(char(a.dims.size()));
  for (uint32_t d : a.dims) put_be32(b, d);
  b.append(reinterpret_cast<const char*>(a.data.data()), a.data.size());
  return b;
}

void write_idx(const std::string& path, const IdxArray& a) {
  const std::string raw = to_idx_bytes(a);
  const bool gz = path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0;
  if (!gz) return core::write_file_atomic(path, raw);
  core::write_atomic_with(path, [&](const std::string& tmp) {
    gzFile f = gzopen(tmp.c_str(), "wb");
    if (!f) throw RuntimeError(path + ": cannot write");
    int n = gzwrite(f, raw.data(), static_cast<unsigned>(raw.size()));
    if (gzclose(f) != Z_OK || n != int(raw.size())) throw RuntimeError(path + ": write failed");
  });
}

}  // namespace digitlab::data
