// TensorBoard event files: CRC32C vectors, proto bytes, write/read round trips, corruption and
// truncation, and the TensorBoardLog observer's runs, tags and steps.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/files.h"
#include "monitor/tfevents.h"
#include "test_util.h"
#include "train/tensorboard_log.h"

namespace digitlab::monitor {
namespace {

using testing::TempDir;

uint32_t le32(const std::string& s, size_t pos) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t(static_cast<unsigned char>(s[pos + i])) << (8 * i);
  return v;
}

uint64_t le64(const std::string& s, size_t pos) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t(static_cast<unsigned char>(s[pos + i])) << (8 * i);
  return v;
}

// Message of the exception `f` throws, or "" when it throws none.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const core::RuntimeError& e) {
    return e.what();
  }
  return "";
}

// The one event file under `dir`.
std::string only_event_file(const std::string& dir) {
  const auto files = find_event_files(dir);
  EXPECT_EQ(files.size(), 1u) << dir;
  return files.empty() ? "" : files[0];
}

TEST(Crc32c, KnownVectors) {
  EXPECT_EQ(crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(crc32c(std::string(32, '\xff')), 0x62A8AB43u);  // RFC 3720 B.4
  EXPECT_EQ(crc32c(""), 0u);
  // Continuing a CRC equals the CRC of the concatenation.
  EXPECT_EQ(crc32c("6789", 4, crc32c("12345")), 0xE3069283u);
}

TEST(Crc32c, MaskedCrc) {
  EXPECT_EQ(mask_crc(0xE3069283u), 0xC78AB0E5u);
  EXPECT_EQ(masked_crc32c("123456789"), 0xC78AB0E5u);
  for (uint32_t c : {0u, 1u, 0xE3069283u, 0xFFFFFFFFu, 0x80000000u}) {
    EXPECT_EQ(unmask_crc(mask_crc(c)), c);
  }
  // Every TensorFlow event file starts with a 24-byte file_version record: length 0x18 and the
  // length CRC a3 7f 4b 22, as seen in any tfevents hexdump.
  EXPECT_EQ(masked_crc32c(std::string("\x18\0\0\0\0\0\0\0", 8)), 0x224B7FA3u);
}

TEST(Proto, EventBytes) {
  Event e;
  e.wall_time = 1.0;
  e.step = 3;
  SummaryValue v;
  v.tag = "a";
  v.simple_value = 0.5f;
  e.values.push_back(v);
  const std::string expected(
      "\x09\0\0\0\0\0\0\xf0\x3f"  // wall_time = 1.0 (field 1, fixed64)
      "\x10\x03"                  // step = 3 (field 2, varint)
      "\x2a\x0a"                  // summary (field 5), 10 bytes
      "\x0a\x08"                  // value (field 1), 8 bytes
      "\x0a\x01\x61"              // tag = "a"
      "\x15\x00\x00\x00\x3f",     // simple_value = 0.5f (field 2, fixed32)
      23);
  EXPECT_EQ(encode_event(e), expected);

  Event header;
  header.wall_time = 2.5;
  header.file_version = "brain.Event:2";
  EXPECT_EQ(encode_event(header).size(), 24u);  // the 0x18 of every event file's first record
  EXPECT_EQ(encode_event(header).substr(9), std::string("\x1a\x0d") + "brain.Event:2");
}

TEST(Proto, RoundTripAndZeroSimpleValue) {
  Event e;
  e.wall_time = 1234.5;
  e.step = -7;  // a 10-byte varint
  SummaryValue zero;
  zero.tag = "zero";
  zero.simple_value = 0.0f;  // a oneof member: must survive although it is the default
  e.values.push_back(zero);
  SummaryValue h;
  h.tag = "h";
  h.histogram = make_histogram({1, 2, 3});
  e.values.push_back(h);
  const Event d = decode_event(encode_event(e));
  EXPECT_EQ(d.wall_time, 1234.5);
  EXPECT_EQ(d.step, -7);
  ASSERT_EQ(d.values.size(), 2u);
  ASSERT_TRUE(d.values[0].simple_value.has_value());
  EXPECT_EQ(*d.values[0].simple_value, 0.0f);
  EXPECT_FALSE(d.values[0].histogram.has_value());
  ASSERT_TRUE(d.values[1].histogram.has_value());
  EXPECT_EQ(d.values[1].histogram->counts, h.histogram->counts);
  EXPECT_EQ(d.values[1].histogram->limits, h.histogram->limits);
}

TEST(Proto, MalformedBytesThrow) {
  const std::string good = encode_event(Event{1.0, 5, "", {}});
  EXPECT_NO_THROW(decode_event(good));
  const std::string msg = error_of([&] { decode_event(good.substr(0, 5), "rec 9"); });
  EXPECT_NE(msg.find("rec 9"), std::string::npos) << msg;
  EXPECT_NE(error_of([] { decode_event(std::string("\x2a\x10\x0a", 3)); }), "");  // length > end
  EXPECT_NE(error_of([] { decode_event(std::string("\x0b", 1)); }), "");          // wire type 3
}

TEST(Histogram, EqualWidthBuckets) {
  std::vector<float> v;
  for (int i = 0; i < 100; ++i) v.push_back(float(i));
  v.push_back(std::numeric_limits<float>::quiet_NaN());
  v.push_back(std::numeric_limits<float>::infinity());
  const Histogram h = make_histogram(v);
  EXPECT_EQ(h.num, 100);  // non-finite values left out
  EXPECT_EQ(h.min, 0);
  EXPECT_EQ(h.max, 99);
  EXPECT_EQ(h.sum, 4950);
  EXPECT_EQ(h.sum_squares, 328350);
  ASSERT_EQ(h.limits.size(), 30u);
  ASSERT_EQ(h.counts.size(), 30u);
  EXPECT_NEAR(h.limits[0], 3.3, 1e-12);
  EXPECT_EQ(h.limits[29], 99);
  EXPECT_EQ(h.counts[0], 4);   // 0 1 2 3 (width 3.3)
  EXPECT_EQ(h.counts[29], 4);  // 96 97 98 99: the max lands in the last bucket
  double total = 0;
  for (double c : h.counts) total += c;
  EXPECT_EQ(total, 100);

  // min + 30 * ((max - min) / 30) rounds away from max for these two: the last limit is still max.
  const Histogram pair = make_histogram({-1.6069432497024536f, 2.161738634109497f});
  EXPECT_EQ(pair.limits.back(), pair.max);
  EXPECT_EQ(pair.counts.back(), 1);

  const Histogram same = make_histogram({2, 2, 2});
  EXPECT_EQ(same.limits, std::vector<double>{2});
  EXPECT_EQ(same.counts, std::vector<double>{3});
  const Histogram none = make_histogram({std::nanf("")});
  EXPECT_EQ(none.num, 0);
  EXPECT_TRUE(none.counts.empty());
}

TEST(EventFile, WriteAndReadBack) {
  TempDir tmp;
  const std::string dir = tmp / "logs/train";            // parents are created
  const std::string png("\x89PNG\r\n\x1a\n\0\x01", 10);  // binary, with a NUL
  std::string path;
  {
    EventWriter w(dir);
    path = w.path();
    w.add_scalar("epoch_loss", 1, 0.75);
    w.add_scalar("epoch_loss", 2, 0.25);
    w.add_histogram("dense/weights", 2, {-1, 0.125, 0.5, 1});
    w.add_image("samples", 2, 3, 2, 1, png);
  }  // the destructor flushes
  EXPECT_EQ(find_event_files(tmp.path()), std::vector<std::string>{path});
  const std::string name = std::filesystem::path(path).filename().string();
  EXPECT_EQ(name.rfind("events.out.tfevents.", 0), 0u) << name;
  EXPECT_NE(name.find("." + std::to_string(::getpid())), std::string::npos) << name;

  const std::vector<Event> events = read_event_file(path);
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events[0].file_version, "brain.Event:2");
  EXPECT_TRUE(events[0].values.empty());
  const double now = double(std::time(nullptr));
  EXPECT_NEAR(events[0].wall_time, now, 120);
  EXPECT_NEAR(events[1].wall_time, now, 120);

  ASSERT_EQ(events[1].values.size(), 1u);
  EXPECT_EQ(events[1].step, 1);
  EXPECT_EQ(events[1].values[0].tag, "epoch_loss");
  EXPECT_EQ(events[1].values[0].simple_value, 0.75f);
  EXPECT_EQ(events[2].step, 2);
  EXPECT_EQ(events[2].values[0].simple_value, 0.25f);

  ASSERT_EQ(events[3].values.size(), 1u);
  const SummaryValue& hv = events[3].values[0];
  EXPECT_EQ(hv.tag, "dense/weights");
  EXPECT_FALSE(hv.simple_value.has_value());
  ASSERT_TRUE(hv.histogram.has_value());
  EXPECT_EQ(hv.histogram->min, -1);
  EXPECT_EQ(hv.histogram->max, 1);
  EXPECT_EQ(hv.histogram->num, 4);
  EXPECT_EQ(hv.histogram->sum, 0.625);
  EXPECT_EQ(hv.histogram->sum_squares, 2.265625);
  ASSERT_EQ(hv.histogram->counts.size(), 30u);
  EXPECT_EQ(hv.histogram->counts[0], 1);
  EXPECT_EQ(hv.histogram->counts[16], 1);  // 0.125: 16.9 widths of 1/15 above -1
  EXPECT_EQ(hv.histogram->counts[22], 1);  // 0.5: 22.5 widths
  EXPECT_EQ(hv.histogram->counts[29], 1);

  const SummaryValue& iv = events[4].values[0];
  EXPECT_EQ(iv.tag, "samples");
  ASSERT_TRUE(iv.image.has_value());
  EXPECT_EQ(iv.image->width, 3);
  EXPECT_EQ(iv.image->height, 2);
  EXPECT_EQ(iv.image->colorspace, 1);
  EXPECT_EQ(iv.image->encoded, png);

  // Both CRCs of every record, checked here without the reader.
  const std::string bytes = core::read_file(path);
  size_t pos = 0, records = 0;
  while (pos < bytes.size()) {
    ASSERT_LE(pos + 12, bytes.size());
    const uint64_t len = le64(bytes, pos);
    EXPECT_EQ(le32(bytes, pos + 8), masked_crc32c(bytes.substr(pos, 8)));
    ASSERT_LE(pos + 12 + len + 4, bytes.size());
    EXPECT_EQ(le32(bytes, pos + 12 + len), masked_crc32c(bytes.substr(pos + 12, len)));
    pos += 12 + len + 4;
    ++records;
  }
  EXPECT_EQ(records, 5u);
  EXPECT_EQ(bytes.substr(0, 12), std::string("\x18\0\0\0\0\0\0\0\xa3\x7f\x4b\x22", 12));
}

TEST(EventFile, FlushMakesRecordsVisibleAndNamesNeverCollide) {
  TempDir tmp;
  EventWriter a(tmp.path());
  EventWriter b(tmp.path());  // same second, same process
  EXPECT_NE(a.path(), b.path());
  a.add_scalar("x", 1, 1.0);
  EXPECT_EQ(read_event_file(a.path()).size(), 1u);  // queued, not yet written
  a.flush();
  EXPECT_EQ(read_event_file(a.path()).size(), 2u);
  EXPECT_EQ(find_event_files(tmp.path()).size(), 2u);
}

TEST(EventFile, BadImageAndUnwritableDirectoryThrow) {
  TempDir tmp;
  EventWriter w(tmp.path());
  const std::string msg = error_of([&] { w.add_image("pred", 1, 2, 2, 5, "x"); });
  EXPECT_NE(msg.find("pred"), std::string::npos) << msg;
  EXPECT_NE(error_of([&] { w.add_image("pred", 1, 0, 2, 1, "x"); }), "");

  core::write_file_atomic(tmp / "plain", "not a directory");
  const std::string bad = tmp / "plain/run";
  const std::string open_msg = error_of([&] { EventWriter x(bad); });
  EXPECT_NE(open_msg.find(bad), std::string::npos) << open_msg;
  const std::string list_msg = error_of([&] { find_event_files(tmp / "missing"); });
  EXPECT_NE(list_msg.find("missing"), std::string::npos) << list_msg;
  const std::string read_msg = error_of([&] { read_event_file(tmp / "missing.tfevents"); });
  EXPECT_NE(read_msg.find("missing.tfevents"), std::string::npos) << read_msg;
}

// Writes a header and three scalars, returns the file's path.
std::string write_three(const TempDir& tmp) {
  EventWriter w(tmp.path());
  for (int s = 1; s <= 3; ++s) w.add_scalar("loss", s, 1.0 / s);
  w.flush();
  return w.path();
}

void overwrite(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
}

TEST(EventFile, CorruptByteIsDetectedInBothModes) {
  TempDir tmp;
  const std::string path = write_three(tmp);
  const std::string good = core::read_file(path);
  ASSERT_EQ(read_event_file(path).size(), 4u);

  // Record 1 starts after the 40-byte header record (12 + 24 + 4); its data starts 12 later.
  std::string bad = good;
  bad[40 + 12 + 3] ^= 0x01;
  overwrite(path, bad);
  for (ReadMode mode : {ReadMode::kStrict, ReadMode::kTolerateTruncatedTail}) {
    const std::string msg = error_of([&] { read_event_file(path, mode); });
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find("record 1"), std::string::npos) << msg;
    EXPECT_NE(msg.find("data CRC"), std::string::npos) << msg;
  }

  bad = good;
  bad[40 + 2] ^= 0x40;  // the length field of record 1
  overwrite(path, bad);
  const std::string msg = error_of([&] { read_event_file(path); });
  EXPECT_NE(msg.find("record 1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("length CRC"), std::string::npos) << msg;

  bad = good;
  bad[bad.size() - 1] ^= 0x80;  // the data CRC itself of the last record
  overwrite(path, bad);
  EXPECT_NE(error_of([&] { read_event_file(path); }).find("record 3"), std::string::npos);
}

TEST(EventFile, TruncatedTail) {
  TempDir tmp;
  const std::string path = write_three(tmp);
  const std::string good = core::read_file(path);
  // Cut inside the last record's data, then inside its 12-byte header.
  const size_t last_len = 12 + size_t(le64(good, 40)) + 4;  // all scalar records are alike
  for (size_t cut : {size_t(6), last_len - 5}) {
    overwrite(path, good.substr(0, good.size() - cut));
    const std::string msg = error_of([&] { read_event_file(path); });
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find("record 3"), std::string::npos) << msg;
    EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
    const auto events = read_event_file(path, ReadMode::kTolerateTruncatedTail);
    ASSERT_EQ(events.size(), 3u) << "cut " << cut;
    EXPECT_EQ(events[2].step, 2);
    EXPECT_EQ(events[2].values[0].simple_value, 0.5f);
  }
  overwrite(path, good.substr(0, good.size() - last_len));  // a clean record boundary
  EXPECT_EQ(read_event_file(path).size(), 3u);
}

// tag -> step -> value over all events of a file.
std::map<std::string, std::map<int64_t, float>> scalars(const std::string& path) {
  std::map<std::string, std::map<int64_t, float>> out;
  const auto events = read_event_file(path);
  EXPECT_FALSE(events.empty());
  if (!events.empty()) {
    EXPECT_EQ(events[0].file_version, "brain.Event:2");
  }
  for (const Event& e : events) {
    for (const SummaryValue& v : e.values) {
      if (v.simple_value) out[v.tag][e.step] = *v.simple_value;
    }
  }
  return out;
}

TEST(TensorBoardLog, KerasLayoutOfRunsTagsAndSteps) {
  TempDir tmp;
  const std::string log_dir = tmp / "run/tensorboard";
  {
    train::TensorBoardLog tb(log_dir, /*every_n_steps=*/3);
    // Nothing before on_train_begin: the trainer has not yet checked the run directory.
    EXPECT_FALSE(core::dir_exists(log_dir));
    train::TrainBegin begin;
    begin.batches_per_epoch = 4;
    begin.epochs = 2;
    tb.on_train_begin(begin);
    EXPECT_EQ(find_event_files(log_dir).size(), 1u);  // train/ exists before the first epoch
    for (int epoch = 1; epoch <= 2; ++epoch) {
      for (int64_t b = 1; b <= 4; ++b) {
        train::BatchEnd be;
        be.epoch = epoch;
        be.epochs = 2;
        be.batch = b;
        be.batches = 4;
        be.loss = 10.0 * epoch + double(b);
        be.acc = 0.1 * double(b);
        tb.on_batch_end(be);
      }
      train::EpochEnd ee;
      ee.epoch = epoch;
      ee.epochs = 2;
      ee.train_loss = 1.0 / epoch;
      ee.train_acc = 0.5 + 0.1 * epoch;
      ee.val_loss = 2.0 / epoch;
      ee.val_acc = 0.4 + 0.1 * epoch;
      if (epoch == 2) {
        ee.test_loss = 0.125;
        ee.test_acc = 0.875;
      }
      ee.lr = 0.001 * epoch;
      ee.images_per_second = 1000.0 * epoch;
      tb.on_epoch_end(ee);
      if (epoch == 1) {
        // Flushed at the epoch's end: readable while training goes on.
        EXPECT_EQ(scalars(only_event_file(log_dir + "/validation"))["epoch_loss"].size(), 1u);
      }
    }
    tb.add_histogram("dense/weights", 2, {1, 2, 3});
    tb.on_train_end(train::TrainEnd{});
  }
  EXPECT_EQ(find_event_files(log_dir).size(), 3u);

  auto train = scalars(only_event_file(log_dir + "/train"));
  std::vector<std::string> tags;
  for (const auto& [tag, steps] : train) tags.push_back(tag);
  EXPECT_EQ(tags, (std::vector<std::string>{"batch_accuracy", "batch_loss", "epoch_accuracy",
                                            "epoch_images_per_second", "epoch_learning_rate",
                                            "epoch_loss"}));
  EXPECT_EQ(train["epoch_loss"], (std::map<int64_t, float>{{1, 1.0f}, {2, 0.5f}}));
  EXPECT_EQ(train["epoch_accuracy"], (std::map<int64_t, float>{{1, 0.6f}, {2, 0.7f}}));
  EXPECT_EQ(train["epoch_learning_rate"], (std::map<int64_t, float>{{1, 0.001f}, {2, 0.002f}}));
  EXPECT_EQ(train["epoch_images_per_second"],
            (std::map<int64_t, float>{{1, 1000.0f}, {2, 2000.0f}}));
  // Global steps 3 and 6: epoch 1 batch 3, epoch 2 batch 2.
  EXPECT_EQ(train["batch_loss"], (std::map<int64_t, float>{{3, 13.0f}, {6, 22.0f}}));
  EXPECT_EQ(train["batch_accuracy"], (std::map<int64_t, float>{{3, 0.3f}, {6, 0.2f}}));
  bool histogram = false;
  for (const Event& e : read_event_file(only_event_file(log_dir + "/train"))) {
    for (const SummaryValue& v : e.values) histogram |= v.tag == "dense/weights" && v.histogram;
  }
  EXPECT_TRUE(histogram);

  auto val = scalars(only_event_file(log_dir + "/validation"));
  EXPECT_EQ(val.size(), 2u);
  EXPECT_EQ(val["epoch_loss"], (std::map<int64_t, float>{{1, 2.0f}, {2, 1.0f}}));
  EXPECT_EQ(val["epoch_accuracy"], (std::map<int64_t, float>{{1, 0.5f}, {2, 0.6f}}));

  auto test = scalars(only_event_file(log_dir + "/test"));
  EXPECT_EQ(test.size(), 2u);
  EXPECT_EQ(test["epoch_loss"], (std::map<int64_t, float>{{2, 0.125f}}));
  EXPECT_EQ(test["epoch_accuracy"], (std::map<int64_t, float>{{2, 0.875f}}));
}

TEST(TensorBoardLog, NoValidationRunWithoutValidationMetrics) {
  TempDir tmp;
  {
    train::TensorBoardLog tb(tmp.path());
    train::EpochEnd ee;
    ee.epoch = 1;
    ee.train_loss = 0.5;
    tb.on_epoch_end(ee);
    train::BatchEnd be;
    be.epoch = 1;
    be.batch = 1;
    be.batches = 1;
    tb.on_batch_end(be);  // every_n_steps 0: no batch scalars
  }
  EXPECT_TRUE(core::dir_exists(tmp / "train"));
  EXPECT_FALSE(core::dir_exists(tmp / "validation"));
  EXPECT_FALSE(core::dir_exists(tmp / "test"));
  auto train = scalars(only_event_file(tmp / "train"));
  EXPECT_EQ(train.count("batch_loss"), 0u);
  EXPECT_EQ(train["epoch_loss"], (std::map<int64_t, float>{{1, 0.5f}}));
}

}  // namespace
}  // namespace digitlab::monitor
