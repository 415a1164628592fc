// SHA-256 digests (FIPS 180-4) for verifying data set files.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace digitlab::core {

// Incremental SHA-256. update() any number of times, then hex_digest() once.
class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t size);
  // Finishes the hash and returns it as 64 lower-case hex digits.
  std::string hex_digest();

 private:
  void block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

std::string sha256_hex(std::string_view bytes);

// Hashes a file in chunks. Throws RuntimeError naming `path` when it cannot be read.
std::string sha256_file(const std::string& path);

}  // namespace digitlab::core
