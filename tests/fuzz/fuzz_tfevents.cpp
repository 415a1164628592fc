// Fuzz target for TensorBoard event files: Event proto decoding and TFRecord reading, strict and
// tolerant, with re-encoding round trips.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "fuzz_check.h"
#include "monitor/tfevents.h"

using digitlab::fuzz::check;
namespace core = digitlab::core;
namespace monitor = digitlab::monitor;

namespace {

// Events compared through their encoding: byte-exact, and NaN-safe unlike ==.
std::string encode_all(const std::vector<monitor::Event>& events) {
  std::string out;
  for (const auto& e : events) out += monitor::frame_record(monitor::encode_event(e));
  return out;
}

// Decoding is faithful: decode(encode(decode(b))) encodes the same as decode(b).
void check_event_round_trip(const monitor::Event& e) {
  const std::string once = monitor::encode_event(e);
  monitor::Event again;
  try {
    again = monitor::decode_event(once, "re-encoded");
  } catch (const std::exception& err) {
    digitlab::fuzz::fail(std::string("a decoded event re-encodes to bytes that do not decode: ") +
                         err.what());
  }
  check(monitor::encode_event(again) == once, "event encode/decode round trip");
}

// Raw bytes as a file: strict and tolerant reading agree, and what is read re-reads the same.
void fuzz_records(std::string_view bytes) {
  std::vector<monitor::Event> strict, tolerant;
  bool strict_ok = false;
  try {
    strict = monitor::parse_event_records(bytes, "fuzz", monitor::ReadMode::kStrict);
    strict_ok = true;
  } catch (const core::Error&) {
  } catch (const std::exception& e) {
    digitlab::fuzz::unexpected("parse_event_records (strict)", e);
  }
  try {
    tolerant =
        monitor::parse_event_records(bytes, "fuzz", monitor::ReadMode::kTolerateTruncatedTail);
  } catch (const core::Error&) {
    check(!strict_ok, "tolerant reading fails where strict reading succeeds");
    return;
  } catch (const std::exception& e) {
    digitlab::fuzz::unexpected("parse_event_records (tolerant)", e);
  }
  if (strict_ok) check(encode_all(strict) == encode_all(tolerant), "strict == tolerant");
  const std::string again = encode_all(tolerant);
  std::vector<monitor::Event> reread;
  try {
    reread = monitor::parse_event_records(again, "re-framed", monitor::ReadMode::kStrict);
  } catch (const std::exception& e) {
    digitlab::fuzz::fail(std::string("re-framed events do not read back: ") + e.what());
  }
  check(reread.size() == tolerant.size() && encode_all(reread) == again, "re-read round trip");
}

}  // namespace

// The first byte picks what the rest is: 0 an event file's bytes, 1 one Event proto, 2 an Event
// proto framed as two records with correct CRCs, the second cut short by (first byte / 3) % 24
// bytes (random bytes almost never pass the CRCs, so this mode reaches the decoder through the
// reader).
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 3) {
    case 0:
      fuzz_records(rest);
      break;
    case 1: {
      monitor::Event e;
      try {
        e = monitor::decode_event(rest, "fuzz");
      } catch (const core::Error&) {
        return 0;
      } catch (const std::exception& err) {
        digitlab::fuzz::unexpected("decode_event", err);
      }
      check_event_round_trip(e);
      break;
    }
    case 2: {
      const std::string record = monitor::frame_record(rest);
      // At most one byte short of the whole second record: the first one stays whole.
      const size_t cut = std::min<size_t>((data[0] / 3) % 24, record.size() - 1);
      const std::string file = (record + record).substr(0, 2 * record.size() - cut);
      bool decodes = true;
      try {
        monitor::decode_event(rest, "fuzz");
      } catch (const core::Error&) {
        decodes = false;
      }
      // The first record is whole; the second is whole only when nothing was cut.
      std::vector<monitor::Event> events;
      try {
        events =
            monitor::parse_event_records(file, "fuzz", monitor::ReadMode::kTolerateTruncatedTail);
      } catch (const core::Error&) {
        check(!decodes, "a file of valid records is rejected");
        break;
      }
      check(decodes, "a record that does not decode is accepted");
      check(events.size() == (cut == 0 ? 2u : 1u), "tolerant reading keeps the whole records");
      bool strict_ok = true;
      try {
        monitor::parse_event_records(file, "fuzz", monitor::ReadMode::kStrict);
      } catch (const core::Error&) {
        strict_ok = false;
      }
      check(strict_ok == (cut == 0), "strict reading fails exactly on a truncated record");
      fuzz_records(file);
      break;
    }
  }
  return 0;
}
