// TensorBoard event files without TensorFlow or protobuf: CRC32C, TFRecord framing, the few Event
// proto fields TensorBoard reads for scalars, histograms and images, a writer and a checking
// reader.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace digitlab::monitor {

// ---- checksums -----------------------------------------------------------------------------

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as TFRecord uses. `crc` continues a
// previous result, so crc32c(b, n2, crc32c(a, n1)) equals the CRC of a followed by b.
// Requires: `data` points to `size` readable bytes (may be null when size is 0).
uint32_t crc32c(const void* data, size_t size, uint32_t crc = 0);
uint32_t crc32c(std::string_view bytes);

// TFRecord stores CRCs masked ((crc >> 15 | crc << 17) + 0xa282ead8) because a CRC of data that
// itself embeds CRCs is weak; unmask_crc inverts mask_crc exactly.
uint32_t mask_crc(uint32_t crc);
uint32_t unmask_crc(uint32_t masked);
uint32_t masked_crc32c(std::string_view bytes);

// ---- protobuf wire format ------------------------------------------------------------------

// Appends protobuf fields to a byte string. Only what Event needs: varint (int32/int64), 64-bit
// (double), 32-bit (float) and length-delimited (string, bytes, sub-message, packed doubles).
// Guarantees: little-endian encoding whatever the host, negative integers as 10-byte varints.
class ProtoWriter {
 public:
  void add_varint(int field, uint64_t value);
  void add_int(int field, int64_t value) { add_varint(field, static_cast<uint64_t>(value)); }
  void add_double(int field, double value);
  void add_float(int field, float value);
  void add_bytes(int field, std::string_view bytes);
  // Packed repeated double: one length-delimited field holding the 8-byte values back to back.
  void add_packed_doubles(int field, const std::vector<double>& values);
  const std::string& bytes() const { return out_; }

 private:
  void key(int field, int wire_type);
  void raw_varint(uint64_t value);
  std::string out_;
};

// ---- the Event proto subset ----------------------------------------------------------------
// Field numbers follow tensorboard/compat/proto/{event,summary,histogram}.proto:
// Event{wall_time=1 double, step=2 int64, file_version=3 string, summary=5 Summary},
// Summary{value=1 repeated Value}, Value{tag=1, simple_value=2 float, image=4, histo=5},
// Image{height=1, width=2, colorspace=3, encoded_image_string=4},
// HistogramProto{min=1, max=2, num=3, sum=4, sum_squares=5, bucket_limit=6, bucket=7}.

// HistogramProto: bucket i counts values in (limits[i-1], limits[i]]; TensorBoard draws the first
// bucket from `min` and the last one up to `max`.
struct Histogram {
  double min = 0, max = 0, num = 0, sum = 0, sum_squares = 0;
  std::vector<double> limits, counts;
};

// Summary.Image: an encoded (PNG) image. colorspace 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA.
struct Image {
  int width = 0, height = 0, colorspace = 0;
  std::string encoded;
};

// Summary.Value: a tag and one of the three kinds of value this module handles. Values of other
// kinds (tensors, audio) are read as a tag with all three empty.
struct SummaryValue {
  std::string tag;
  std::optional<float> simple_value;
  std::optional<Histogram> histogram;
  std::optional<Image> image;
};

// Event: either the file_version header (first record of every file) or a summary of values.
struct Event {
  double wall_time = 0;
  int64_t step = 0;
  std::string file_version;
  std::vector<SummaryValue> values;
};

// Serializes `event` as an Event proto. Guarantees: file_version is written only when non-empty
// and the summary only when there are values; a set simple_value is written even when 0, because
// it is a oneof member whose presence TensorBoard checks.
std::string encode_event(const Event& event);

// Parses an Event proto, skipping fields this module does not know.
// Throws core::RuntimeError "<what>: ..." for malformed bytes (bad varint, length past the end,
// unsupported wire type).
Event decode_event(std::string_view bytes, const std::string& what = "event");

// Frames `data` as one TFRecord: uint64 little-endian length, uint32 masked CRC32C of those 8
// bytes, the data, uint32 masked CRC32C of the data.
std::string frame_record(std::string_view data);

// Histogram of the finite values in `values` with 30 equal-width buckets between their min and
// max, the default of TF2's tf.summary.histogram; all-equal values give one bucket, no finite
// values give num = 0 and no buckets. Non-finite values are left out so a diverged layer still
// logs.
Histogram make_histogram(const std::vector<float>& values, int buckets = 30);

// ---- writing -------------------------------------------------------------------------------

// Appends events to a new file `events.out.tfevents.<unix seconds>.<hostname>.<pid>` in a
// directory (a ".N" suffix is added if that name exists, so two writers never share a file).
// Event files are append-only by nature, so instead of write-then-rename the writer keeps whole
// records in memory and writes them at flush(): a crash loses at most the unflushed records and
// leaves at most a truncated last record, which read_event_file(kTolerateTruncatedTail) skips.
// Not thread-safe.
class EventWriter {
 public:
  // Creates `dir` (and parents) and the file, and writes the file_version "brain.Event:2" header
  // at once. Throws core::RuntimeError naming the path when either cannot be created.
  explicit EventWriter(const std::string& dir);
  // Flushes what is pending; errors here are swallowed (a destructor must not throw), so callers
  // that care call flush() first.
  ~EventWriter();
  EventWriter(const EventWriter&) = delete;
  EventWriter& operator=(const EventWriter&) = delete;

  const std::string& path() const { return path_; }

  // Queues one scalar (stored as float simple_value, TensorBoard's scalar format).
  void add_scalar(const std::string& tag, int64_t step, double value);
  // Queues a histogram of `values` (see make_histogram).
  void add_histogram(const std::string& tag, int64_t step, const std::vector<float>& values);
  // Queues an encoded image. Requires width, height > 0 and channels in 1..4 (the colorspace);
  // otherwise throws core::RuntimeError naming the tag. The bytes are stored as given (PNG).
  void add_image(const std::string& tag, int64_t step, int width, int height, int channels,
                 const std::string& png_bytes);
  // Queues any event; wall_time 0 is replaced by the current time.
  void add_event(Event event);

  // Writes all queued records to the file. Throws core::RuntimeError naming the path on a
  // failed write. Pending records also go out when more than 1 MiB is queued.
  void flush();

 private:
  std::string path_;
  int fd_ = -1;
  std::string pending_;
};

// ---- reading -------------------------------------------------------------------------------

enum class ReadMode {
  kStrict,                 // any truncated record is an error
  kTolerateTruncatedTail,  // an incomplete last record (a crash mid-write) is dropped
};

// Reads every record of an event file, checking the length CRC and the data CRC of each.
// Throws core::RuntimeError naming `path` and the record index (from 0) for an unreadable file,
// a CRC mismatch (in either mode) or a malformed Event, and in kStrict mode for a truncated record.
std::vector<Event> read_event_file(const std::string& path, ReadMode mode = ReadMode::kStrict);

// What read_event_file does after reading the file: parses the TFRecords in `bytes`, naming
// `name` in errors. Requires: nothing (any bytes). Guarantees: the events of every whole record,
// in order, or a core::RuntimeError "<name>: record N: ..." (no other exception type).
std::vector<Event> parse_event_records(std::string_view bytes, const std::string& name,
                                       ReadMode mode = ReadMode::kStrict);

// Paths of the event files (names containing "tfevents") under `dir`, searched recursively,
// sorted. Throws core::RuntimeError naming `dir` when it is not a readable directory.
std::vector<std::string> find_event_files(const std::string& dir);

}  // namespace digitlab::monitor
