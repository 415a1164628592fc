// Fuzz target for image decoding plus the predict preprocessing: a 28x28 digit or core::Error.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>

#include "core/error.h"
#include "data/decode.h"
#include "data/digit_prep.h"
#include "fuzz_check.h"

using digitlab::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  // The server's limits, smaller than the command line's, keep each input fast.
  digitlab::data::DecodeLimits limits;
  limits.max_pixels = 4'000'000;
  limits.max_bytes = 4 << 20;
  digitlab::data::GrayImage image;
  try {
    image = digitlab::data::decode_image(bytes, "fuzz", limits);
  } catch (const digitlab::core::Error&) {
    return 0;
  } catch (const std::exception& e) {
    digitlab::fuzz::unexpected("decode_image", e);
  }
  check(image.width >= 1 && image.height >= 1, "decoded sizes are positive");
  check(int64_t(image.width) * image.height <= limits.max_pixels, "decoded within the limit");
  check(image.pixels.size() == size_t(image.width) * size_t(image.height), "pixel count");
  try {
    const auto p = digitlab::data::prepare_digit(image);
    check(p.image.width == 28 && p.image.height == 28, "prepared digit is 28x28");
    check(p.image.pixels.size() == 784, "prepared pixel count");
    uint8_t peak = 0;
    for (uint8_t v : p.image.pixels) peak = v > peak ? v : peak;
    check(!p.ink_found || peak == 255, "ink found: its peak is 255");
  } catch (const digitlab::core::Error&) {
  } catch (const std::exception& e) {
    digitlab::fuzz::unexpected("prepare_digit", e);
  }
  return 0;
}
