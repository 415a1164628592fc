// IDX reader: valid files plain and gzipped, and every malformed case the reader must refuse.
#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "core/files.h"
#include "data/idx.h"
#include "test_util.h"

namespace digitlab::data {
namespace {

using testing::TempDir;

IdxArray small_images() {
  IdxArray a;
  a.dims = {3, 2, 2};
  for (int i = 0; i < 12; ++i) a.data.push_back(uint8_t(i * 20));
  return a;
}

IdxArray small_labels(std::vector<uint8_t> v = {0, 7, 9}) {
  IdxArray a;
  a.dims = {uint32_t(v.size())};
  a.data = v;
  return a;
}

// Expects read_idx(path) to throw a RuntimeError whose single line names `path` and `problem`.
void expect_bad(const std::string& path, const std::string& problem) {
  try {
    read_idx(path);
    FAIL() << "no error for " << path;
  } catch (const core::RuntimeError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find(problem), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

TEST(Idx, RoundTripPlainAndGzip) {
  TempDir dir;
  for (const std::string name : {"a-idx3-ubyte", "a-idx3-ubyte.gz"}) {
    write_idx(dir / name, small_images());
    IdxArray back = read_idx(dir / name);
    EXPECT_EQ(back.dims, small_images().dims);
    EXPECT_EQ(back.data, small_images().data);
    EXPECT_EQ(back.count(), 3u);
    EXPECT_EQ(back.item_size(), 4u);
  }
  // The gzip file really is compressed, not plain bytes under a .gz name.
  const std::string gz = core::read_file(dir / "a-idx3-ubyte.gz");
  EXPECT_EQ(uint8_t(gz[0]), 0x1f);
  EXPECT_EQ(uint8_t(gz[1]), 0x8b);
}

TEST(Idx, HeaderBytesAreBigEndian) {
  const std::string b = to_idx_bytes(small_images());
  ASSERT_EQ(b.size(), 4u + 12u + 12u);
  EXPECT_EQ(b.substr(0, 4), std::string("\0\0\x08\x03", 4));
  EXPECT_EQ(b.substr(4, 4), std::string("\0\0\0\x03", 4));
}

TEST(Idx, TruncatedDataIsRefused) {
  TempDir dir;
  std::string b = to_idx_bytes(small_images());
  core::write_file_atomic(dir / "t", b.substr(0, b.size() - 5));
  expect_bad(dir / "t", "truncated");
}

TEST(Idx, TruncatedHeaderIsRefused) {
  TempDir dir;
  core::write_file_atomic(dir / "h", to_idx_bytes(small_images()).substr(0, 9));
  expect_bad(dir / "h", "truncated header");
  core::write_file_atomic(dir / "s", std::string("\0\0", 2));
  expect_bad(dir / "s", "too short");
}

TEST(Idx, WrongMagicIsRefused) {
  TempDir dir;
  std::string b = to_idx_bytes(small_labels());
  b[0] = 'P';  // e.g. a PNG or text file
  core::write_file_atomic(dir / "m", b);
  expect_bad(dir / "m", "bad magic number");
  b = to_idx_bytes(small_labels());
  b[2] = 0x0D;  // float data
  core::write_file_atomic(dir / "f", b);
  expect_bad(dir / "f", "bad magic number");
  b = to_idx_bytes(small_labels());
  b[3] = 0;  // no dimensions
  core::write_file_atomic(dir / "d", b);
  expect_bad(dir / "d", "bad magic number");
}

TEST(Idx, ZeroAndAbsurdDimensionsAreRefused) {
  TempDir dir;
  std::string b = to_idx_bytes(small_images());
  b[4] = b[5] = b[6] = b[7] = 0;
  core::write_file_atomic(dir / "z", b);
  expect_bad(dir / "z", "is zero");
  b = to_idx_bytes(small_images());
  for (int i = 4; i < 16; ++i) b[size_t(i)] = char(0xff);
  core::write_file_atomic(dir / "x", b);
  expect_bad(dir / "x", "absurd");
}

TEST(Idx, TrailingBytesAreRefused) {
  TempDir dir;
  core::write_file_atomic(dir / "e", to_idx_bytes(small_labels()) + "xx");
  expect_bad(dir / "e", "unexpected bytes");
}

TEST(Idx, CorruptAndTruncatedGzipAreRefused) {
  TempDir dir;
  write_idx(dir / "ok.gz", small_images());
  std::string gz = core::read_file(dir / "ok.gz");
  core::write_file_atomic(dir / "cut.gz", gz.substr(0, gz.size() / 2));
  expect_bad(dir / "cut.gz", "truncated");
  std::string bad = gz;
  for (size_t i = 12; i < bad.size() - 8; ++i) bad[i] = char(~bad[i]);
  core::write_file_atomic(dir / "bad.gz", bad);
  expect_bad(dir / "bad.gz", "gzip");
}

TEST(Idx, MissingFileIsNamed) {
  TempDir dir;
  expect_bad(dir / "nope", "cannot open");
}

TEST(Idx, PairChecksCountsShapesAndLabelRange) {
  const IdxArray im = small_images();
  EXPECT_NO_THROW(check_image_label_pair(im, "im", small_labels(), "lb", 10));
  try {
    check_image_label_pair(im, "im", small_labels({1, 2}), "lb", 10);
    FAIL();
  } catch (const core::RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("2 labels but im has 3 images"), std::string::npos);
  }
  try {
    check_image_label_pair(im, "im", small_labels({1, 12, 2}), "lb", 10);
    FAIL();
  } catch (const core::RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("lb: label 12 at index 1"), std::string::npos);
  }
  try {
    check_image_label_pair(small_labels(), "im", small_labels(), "lb", 10);
    FAIL();
  } catch (const core::RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("im: expected 3 dimensions"), std::string::npos);
  }
}

}  // namespace
}  // namespace digitlab::data
