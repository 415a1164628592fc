// Fuzz target for the IDX parser: consistent arrays or core::Error, and exact byte round trips.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>

#include "core/error.h"
#include "data/idx.h"
#include "fuzz_check.h"

using digitlab::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  digitlab::data::IdxArray a;
  try {
    a = digitlab::data::parse_idx(bytes, "fuzz.idx");
  } catch (const digitlab::core::Error&) {
    return 0;  // rejected with the promised error type
  } catch (const std::exception& e) {
    digitlab::fuzz::unexpected("parse_idx", e);
  }
  // What parse_idx guarantees for a returned array.
  check(!a.dims.empty() && a.dims.size() <= 4, "1 to 4 dimensions");
  size_t total = 1;
  for (uint32_t d : a.dims) {
    check(d != 0, "no zero dimension");
    total *= d;  // cannot overflow: the data below holds `total` bytes
  }
  check(total == a.data.size(), "data size is the product of the dimensions");
  check(a.count() * a.item_size() == a.data.size(), "count * item_size == data size");
  // Strict parsing accepts exactly one encoding, so writing gives back the input byte for byte.
  const std::string again = digitlab::data::to_idx_bytes(a);
  check(again == bytes, "to_idx_bytes(parse_idx(b)) == b");
  const auto b = digitlab::data::parse_idx(again, "fuzz.idx");
  check(b.dims == a.dims && b.data == a.data, "parse_idx(to_idx_bytes(a)) == a");
  return 0;
}
