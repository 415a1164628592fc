// TensorBoard event files: CRC32C, protobuf encoding/decoding of the Event subset, writer, reader.
#include "monitor/tfevents.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <stdexcept>

#include "core/error.h"
#include "core/files.h"

namespace digitlab::monitor {
namespace {

// Byte-at-a-time table for the reflected Castagnoli polynomial; event files are small, so the
// hardware CRC instruction is not worth a CPU-dependent code path.
std::array<uint32_t, 256> make_crc_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    table[i] = c;
  }
  return table;
}

void put_le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t get_le(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= uint64_t(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

// Protobuf wire types used here.
constexpr int kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5;

// Walks the fields of one message. Errors are plain runtime_errors; decode_event turns them into
// core::RuntimeErrors that name the file and record.
class ProtoReader {
 public:
  explicit ProtoReader(std::string_view bytes) : p_(bytes) {}
  bool next() {
    if (p_.empty()) return false;
    const uint64_t k = varint();
    field_ = static_cast<int>(k >> 3);
    wire_ = static_cast<int>(k & 7);
    if (field_ == 0) throw std::runtime_error("field number 0");
    return true;
  }
  int field() const { return field_; }
  int wire() const { return wire_; }

  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_.empty()) throw std::runtime_error("varint runs past the end");
      const auto b = static_cast<unsigned char>(p_.front());
      p_.remove_prefix(1);
      v |= uint64_t(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    throw std::runtime_error("varint longer than 10 bytes");
  }
  uint64_t fixed(int bytes) {
    if (p_.size() < size_t(bytes)) throw std::runtime_error("fixed-width value runs past the end");
    const uint64_t v = get_le(p_.data(), bytes);
    p_.remove_prefix(size_t(bytes));
    return v;
  }
  std::string_view bytes() {
    const uint64_t n = varint();
    if (n > p_.size()) throw std::runtime_error("length-delimited field runs past the end");
    std::string_view s = p_.substr(0, size_t(n));
    p_.remove_prefix(size_t(n));
    return s;
  }
  double as_double() {
    expect(kFixed64);
    const uint64_t bits = fixed(8);
    double d;
    std::memcpy(&d, &bits, sizeof d);
    return d;
  }
  float as_float() {
    expect(kFixed32);
    const auto bits = static_cast<uint32_t>(fixed(4));
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
  }
  int64_t as_int() {
    expect(kVarint);
    return static_cast<int64_t>(varint());
  }
  std::string_view as_bytes() {
    expect(kLengthDelimited);
    return bytes();
  }
  // Repeated double, packed (one length-delimited run) or not (one fixed64 per element); parsers
  // must accept both.
  void append_doubles(std::vector<double>& out) {
    if (wire_ == kFixed64) {
      out.push_back(as_double());
      return;
    }
    std::string_view run = as_bytes();
    if (run.size() % 8 != 0) throw std::runtime_error("packed doubles not a multiple of 8 bytes");
    for (size_t i = 0; i < run.size(); i += 8) {
      const uint64_t bits = get_le(run.data() + i, 8);
      double d;
      std::memcpy(&d, &bits, sizeof d);
      out.push_back(d);
    }
  }
  void skip() {
    switch (wire_) {
      case kVarint:
        varint();
        break;
      case kFixed64:
        fixed(8);
        break;
      case kLengthDelimited:
        bytes();
        break;
      case kFixed32:
        fixed(4);
        break;
      default:
        throw std::runtime_error("unsupported wire type " + std::to_string(wire_));
    }
  }

 private:
  void expect(int wire) {
    if (wire_ != wire) {
      throw std::runtime_error("field " + std::to_string(field_) + " has wire type " +
                               std::to_string(wire_) + ", expected " + std::to_string(wire));
    }
  }
  std::string_view p_;
  int field_ = 0, wire_ = 0;
};

std::string encode_histogram(const Histogram& h) {
  ProtoWriter w;
  w.add_double(1, h.min);
  w.add_double(2, h.max);
  w.add_double(3, h.num);
  w.add_double(4, h.sum);
  w.add_double(5, h.sum_squares);
  w.add_packed_doubles(6, h.limits);
  w.add_packed_doubles(7, h.counts);
  return w.bytes();
}

std::string encode_image(const Image& im) {
  ProtoWriter w;
  w.add_int(1, im.height);
  w.add_int(2, im.width);
  w.add_int(3, im.colorspace);
  w.add_bytes(4, im.encoded);
  return w.bytes();
}

std::string encode_value(const SummaryValue& v) {
  ProtoWriter w;
  w.add_bytes(1, v.tag);
  if (v.simple_value) w.add_float(2, *v.simple_value);
  if (v.image) w.add_bytes(4, encode_image(*v.image));
  if (v.histogram) w.add_bytes(5, encode_histogram(*v.histogram));
  return w.bytes();
}

Histogram decode_histogram(std::string_view bytes) {
  Histogram h;
  ProtoReader r(bytes);
  while (r.next()) {
    switch (r.field()) {
      case 1:
        h.min = r.as_double();
        break;
      case 2:
        h.max = r.as_double();
        break;
      case 3:
        h.num = r.as_double();
        break;
      case 4:
        h.sum = r.as_double();
        break;
      case 5:
        h.sum_squares = r.as_double();
        break;
      case 6:
        r.append_doubles(h.limits);
        break;
      case 7:
        r.append_doubles(h.counts);
        break;
      default:
        r.skip();
    }
  }
  return h;
}

Image decode_image(std::string_view bytes) {
  Image im;
  ProtoReader r(bytes);
  while (r.next()) {
    switch (r.field()) {
      case 1:
        im.height = static_cast<int>(r.as_int());
        break;
      case 2:
        im.width = static_cast<int>(r.as_int());
        break;
      case 3:
        im.colorspace = static_cast<int>(r.as_int());
        break;
      case 4:
        im.encoded = std::string(r.as_bytes());
        break;
      default:
        r.skip();
    }
  }
  return im;
}

SummaryValue decode_value(std::string_view bytes) {
  SummaryValue v;
  ProtoReader r(bytes);
  while (r.next()) {
    switch (r.field()) {
      case 1:
        v.tag = std::string(r.as_bytes());
        break;
      case 2:
        v.simple_value = r.as_float();
        break;
      case 4:
        v.image = decode_image(r.as_bytes());
        break;
      case 5:
        v.histogram = decode_histogram(r.as_bytes());
        break;
      default:
        r.skip();
    }
  }
  return v;
}

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof(buf) - 1) != 0 || buf[0] == '\0') return "localhost";
  // A '/' in a host name would turn the file name into a path.
  std::string name(buf);
  std::replace(name.begin(), name.end(), '/', '_');
  return name;
}

double now_seconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

// Files are flushed once this much is queued, so a long epoch of batch scalars or many images
// does not hold unbounded memory.
constexpr size_t kAutoFlushBytes = size_t(1) << 20;

}  // namespace

// ---- checksums -----------------------------------------------------------------------------

uint32_t crc32c(const void* data, size_t size, uint32_t crc) {
  static const std::array<uint32_t, 256> table = make_crc_table();
  const auto* p = static_cast<const unsigned char*>(data);
  uint32_t c = ~crc;
  for (size_t i = 0; i < size; ++i) c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
  return ~c;
}

uint32_t crc32c(std::string_view bytes) { return crc32c(bytes.data(), bytes.size()); }

uint32_t mask_crc(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

uint32_t unmask_crc(uint32_t masked) {
  const uint32_t rot = masked - 0xa282ead8u;
  return (rot >> 17) | (rot << 15);
}

uint32_t masked_crc32c(std::string_view bytes) { return mask_crc(crc32c(bytes)); }

// ---- protobuf ------------------------------------------------------------------------------

void ProtoWriter::raw_varint(uint64_t value) {
  while (value >= 0x80) {
    out_.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out_.push_back(static_cast<char>(value));
}

void ProtoWriter::key(int field, int wire_type) {
  raw_varint((static_cast<uint64_t>(field) << 3) | static_cast<uint64_t>(wire_type));
}

void ProtoWriter::add_varint(int field, uint64_t value) {
  key(field, kVarint);
  raw_varint(value);
}

void ProtoWriter::add_double(int field, double value) {
  uint64_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  key(field, kFixed64);
  put_le(out_, bits, 8);
}

void ProtoWriter::add_float(int field, float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  key(field, kFixed32);
  put_le(out_, bits, 4);
}

void ProtoWriter::add_bytes(int field, std::string_view bytes) {
  key(field, kLengthDelimited);
  raw_varint(bytes.size());
  out_.append(bytes.data(), bytes.size());
}

void ProtoWriter::add_packed_doubles(int field, const std::vector<double>& values) {
  std::string run;
  run.reserve(values.size() * 8);
  for (double v : values) {
    uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    put_le(run, bits, 8);
  }
  add_bytes(field, run);
}

std::string encode_event(const Event& event) {
  ProtoWriter w;
  w.add_double(1, event.wall_time);
  if (event.step != 0) w.add_int(2, event.step);
  if (!event.file_version.empty()) w.add_bytes(3, event.file_version);
  if (!event.values.empty()) {
    ProtoWriter summary;
    for (const SummaryValue& v : event.values) summary.add_bytes(1, encode_value(v));
    w.add_bytes(5, summary.bytes());
  }
  return w.bytes();
}

Event decode_event(std::string_view bytes, const std::string& what) {
  Event e;
  try {
    ProtoReader r(bytes);
    while (r.next()) {
      switch (r.field()) {
        case 1:
          e.wall_time = r.as_double();
          break;
        case 2:
          e.step = r.as_int();
          break;
        case 3:
          e.file_version = std::string(r.as_bytes());
          break;
        case 5: {
          ProtoReader s(r.as_bytes());
          while (s.next()) {
            if (s.field() == 1) {
              e.values.push_back(decode_value(s.as_bytes()));
            } else {
              s.skip();
            }
          }
          break;
        }
        default:
          r.skip();
      }
    }
  } catch (const std::runtime_error& err) {
    throw core::RuntimeError(what + ": malformed Event proto (" + err.what() + ")");
  }
  return e;
}

std::string frame_record(std::string_view data) {
  std::string header;
  put_le(header, data.size(), 8);
  std::string out = header;
  put_le(out, masked_crc32c(header), 4);
  out.append(data.data(), data.size());
  put_le(out, masked_crc32c(data), 4);
  return out;
}

Histogram make_histogram(const std::vector<float>& values, int buckets) {
  Histogram h;
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (float f : values) {
    if (!std::isfinite(f)) continue;
    const double v = f;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    h.num += 1;
    h.sum += v;
    h.sum_squares += v * v;
  }
  if (h.num == 0) return h;
  h.min = lo;
  h.max = hi;
  if (lo == hi || buckets <= 1) {
    h.limits = {hi};
    h.counts = {h.num};
    return h;
  }
  const double width = (hi - lo) / buckets;
  h.counts.assign(size_t(buckets), 0.0);
  for (int i = 0; i < buckets; ++i) h.limits.push_back(lo + width * (i + 1));
  h.limits.back() = hi;  // exact, whatever the rounding of lo + width * buckets
  for (float f : values) {
    if (!std::isfinite(f)) continue;
    auto i = static_cast<int>((double(f) - lo) / width);
    h.counts[size_t(std::clamp(i, 0, buckets - 1))] += 1;
  }
  return h;
}

// ---- writer --------------------------------------------------------------------------------

EventWriter::EventWriter(const std::string& dir) {
  core::make_dirs(dir);
  const std::string base =
      core::join_path(dir, "events.out.tfevents." +
                               std::to_string(static_cast<long long>(std::floor(now_seconds()))) +
                               "." + host_name() + "." + std::to_string(::getpid()));
  // O_EXCL: two writers started in the same second in one process must not append to one file.
  for (int n = 0; fd_ < 0; ++n) {
    path_ = n == 0 ? base : base + "." + std::to_string(n);
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
    if (fd_ < 0 && (errno != EEXIST || n >= 1000)) {
      throw core::RuntimeError(path_ + ": cannot create event file (" + std::strerror(errno) + ")");
    }
  }
  Event header;
  header.file_version = "brain.Event:2";
  try {
    add_event(header);
    flush();
  } catch (...) {
    ::close(fd_);  // the destructor does not run for a throwing constructor
    throw;
  }
}

EventWriter::~EventWriter() {
  try {
    flush();
  } catch (...) {
  }
  if (fd_ >= 0) ::close(fd_);
}

void EventWriter::add_event(Event event) {
  if (event.wall_time == 0) event.wall_time = now_seconds();
  pending_ += frame_record(encode_event(event));
  if (pending_.size() > kAutoFlushBytes) flush();
}

void EventWriter::add_scalar(const std::string& tag, int64_t step, double value) {
  Event e;
  e.step = step;
  SummaryValue v;
  v.tag = tag;
  v.simple_value = static_cast<float>(value);
  e.values.push_back(std::move(v));
  add_event(std::move(e));
}

void EventWriter::add_histogram(const std::string& tag, int64_t step,
                                const std::vector<float>& values) {
  Event e;
  e.step = step;
  SummaryValue v;
  v.tag = tag;
  v.histogram = make_histogram(values);
  e.values.push_back(std::move(v));
  add_event(std::move(e));
}

void EventWriter::add_image(const std::string& tag, int64_t step, int width, int height,
                            int channels, const std::string& png_bytes) {
  if (width <= 0 || height <= 0 || channels < 1 || channels > 4) {
    throw core::RuntimeError("tensorboard image '" + tag + "': need width, height > 0 and 1-4 " +
                             "channels, got " + std::to_string(width) + "x" +
                             std::to_string(height) + "x" + std::to_string(channels));
  }
  Event e;
  e.step = step;
  SummaryValue v;
  v.tag = tag;
  v.image = Image{width, height, channels, png_bytes};
  e.values.push_back(std::move(v));
  add_event(std::move(e));
}

void EventWriter::flush() {
  // Everything queued is whole records, written with as few write() calls as the kernel allows.
  size_t done = 0;
  while (done < pending_.size()) {
    const ssize_t n = ::write(fd_, pending_.data() + done, pending_.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      pending_.erase(0, done);  // keep what did not go out, for a retry
      throw core::RuntimeError(path_ + ": cannot write event file (" +
                               (n == 0 ? std::string("no progress") : std::strerror(err)) + ")");
    }
    done += size_t(n);
  }
  pending_.clear();
}

// ---- reader --------------------------------------------------------------------------------

std::vector<Event> read_event_file(const std::string& path, ReadMode mode) {
  return parse_event_records(core::read_file(path), path, mode);
}

std::vector<Event> parse_event_records(std::string_view bytes, const std::string& name,
                                       ReadMode mode) {
  std::vector<Event> events;
  size_t pos = 0;
  for (size_t index = 0; pos < bytes.size(); ++index) {
    const std::string where = name + ": record " + std::to_string(index);
    const size_t left = bytes.size() - pos;
    auto truncated = [&](const char* what) {
      if (mode == ReadMode::kTolerateTruncatedTail) return true;
      throw core::RuntimeError(where + ": truncated " + what + " (" + std::to_string(left) +
                               " bytes left at offset " + std::to_string(pos) + ")");
    };
    if (left < 12 && truncated("header")) break;
    const std::string_view header(bytes.data() + pos, 8);
    const uint64_t length = get_le(header.data(), 8);
    const auto length_crc = static_cast<uint32_t>(get_le(bytes.data() + pos + 8, 4));
    // The length is checked before it is trusted, so a corrupted one is reported as corruption,
    // not as a huge truncated record.
    if (masked_crc32c(header) != length_crc) {
      throw core::RuntimeError(where + ": length CRC mismatch at offset " + std::to_string(pos) +
                               " (corrupt file)");
    }
    if (length > left - 12 || left - 12 - length < 4) {
      if (truncated("data")) break;
    }
    const std::string_view data(bytes.data() + pos + 12, size_t(length));
    const auto data_crc = static_cast<uint32_t>(get_le(data.data() + length, 4));
    if (masked_crc32c(data) != data_crc) {
      throw core::RuntimeError(where + ": data CRC mismatch at offset " + std::to_string(pos) +
                               " (corrupt file)");
    }
    events.push_back(decode_event(data, where));
    pos += 12 + size_t(length) + 4;
  }
  return events;
}

std::vector<std::string> find_event_files(const std::string& dir) {
  namespace fs = std::filesystem;
  std::vector<std::string> out;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, ec), end;
  if (ec) throw core::RuntimeError(dir + ": cannot list directory (" + ec.message() + ")");
  for (; it != end; it.increment(ec)) {
    if (ec) throw core::RuntimeError(dir + ": cannot list directory (" + ec.message() + ")");
    std::error_code ec2;
    if (it->is_regular_file(ec2) &&
        it->path().filename().string().find("tfevents") != std::string::npos) {
      out.push_back(it->path().string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace digitlab::monitor
