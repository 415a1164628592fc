// Importing user data sets: image folders, CSVs and IDX files the tests write, bad inputs,
// --strict, atomic replacement, and the registry finding the result.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/files.h"
#include "core/sha256.h"
#include "data/decode.h"
#include "data/font_digits.h"
#include "data/image_io.h"
#include "data/import.h"
#include "data/registry.h"
#include "data/store.h"
#include "test_util.h"

namespace digitlab {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

// A shape of class `c` (0 a vertical bar, 1 a horizontal bar, 2 a square ring) in dark ink on
// light paper, at a size and place that vary with `seed`.
data::GrayImage shape(int c, uint64_t seed, int w = 40, int h = 40) {
  std::mt19937_64 rng(seed);
  data::GrayImage g(w, h, uint8_t(215 + rng() % 30));
  const int x0 = 8 + int(rng() % 6), y0 = 8 + int(rng() % 6), len = 18 + int(rng() % 6);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const int dx = x - x0, dy = y - y0;
      bool ink = false;
      if (c == 0) ink = dx >= 0 && dx < 4 && dy >= 0 && dy < len;
      if (c == 1) ink = dy >= 0 && dy < 4 && dx >= 0 && dx < len;
      if (c == 2) {
        ink = dx >= 0 && dy >= 0 && dx < len && dy < len &&
              (dx < 3 || dy < 3 || dx >= len - 3 || dy >= len - 3);
      }
      if (ink) g.at(x, y) = uint8_t(10 + rng() % 30);
    }
  }
  return g;
}

// `per_class` PNGs of each class under dir/<names[c]>/.
void write_class_folders(const std::string& dir, const std::vector<std::string>& names,
                         int per_class, uint64_t seed = 1) {
  for (size_t c = 0; c < names.size(); ++c) {
    fs::create_directories(dir + "/" + names[c]);
    for (int i = 0; i < per_class; ++i) {
      data::write_png(dir + "/" + names[c] + "/img" + std::to_string(i) + ".png",
                      shape(int(c), seed * 1000 + c * 100 + uint64_t(i), 36 + i % 8, 40));
    }
  }
}

data::ImportOptions options(const std::string& source, const std::string& root,
                            const std::string& name = "mine") {
  data::ImportOptions o;
  o.source = source;
  o.name = name;
  o.data_root = root;
  return o;
}

std::vector<std::string> listing(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

nlohmann::json manifest(const std::string& dir) {
  return nlohmann::json::parse(core::read_file(dir + "/manifest.json"));
}

std::string error_of(const data::ImportOptions& o) {
  try {
    data::import_dataset(o);
  } catch (const core::Error& e) {
    return e.what();
  }
  return "";
}

TEST(Import, NamedClassFoldersWithBadInputsSkippedAndCounted) {
  TempDir src, root;
  write_class_folders(src.path(), {"cat", "dog", "bird"}, 10);
  core::write_file_atomic(src / "cat/notes.txt", "not a picture");
  fs::create_directories(src / ".git/objects");
  fs::create_directories(src / "empty");
  core::write_file_atomic(src / ".DS_Store", "x");

  const data::ImportSummary s = data::import_dataset(options(src.path(), root.path()));
  EXPECT_EQ(s.format, "folder");
  EXPECT_EQ(s.class_names, (std::vector<std::string>{"bird", "cat", "dog"}));
  EXPECT_EQ(s.train_counts, (std::vector<size_t>{8, 8, 8}));  // 20% of each class is the test
  EXPECT_EQ(s.test_counts, (std::vector<size_t>{2, 2, 2}));
  EXPECT_EQ(s.inverted, 30u);  // dark ink on light paper, turned around as predict does
  EXPECT_EQ(s.skipped, (std::map<std::string, size_t>{
                           {"bad class folder", 1}, {"empty class", 1}, {"not an image", 1}}));

  // The registry finds it by its manifest; the files are checked and shaped as MNIST's.
  const data::DatasetInfo info = data::find_dataset("mine", root.path());
  EXPECT_TRUE(info.imported);
  EXPECT_EQ(info.class_names, s.class_names);
  for (const auto& c : data::verify_files(root.path(), info)) {
    EXPECT_EQ(c.state, data::FileCheck::State::kOk) << c.path;
  }
  const data::RawSplit train = data::load_raw_split(root.path(), info, data::Split::kTrain);
  ASSERT_EQ(train.images.dims, (std::vector<uint32_t>{24, 28, 28}));
  std::vector<size_t> per_class(3, 0);
  for (size_t i = 0; i < 24; ++i) {
    ++per_class[train.labels.data[i]];
    const auto* px = train.images.data.data() + i * 784;
    EXPECT_EQ(*std::max_element(px, px + 784), 255);  // ink bright on black
    EXPECT_EQ(px[0], 0);
  }
  EXPECT_EQ(per_class, (std::vector<size_t>{8, 8, 8}));
  const nlohmann::json m = manifest(root / "mine");
  EXPECT_EQ(m["format"], "folder");
  EXPECT_EQ(m["conversion"]["inverted"], 30);
  EXPECT_EQ(m["skipped"]["not an image"], 1);
  EXPECT_EQ(m["counts"]["test"], nlohmann::json({2, 2, 2}));
  EXPECT_EQ(m["files"]["train-images-idx3-ubyte"],
            core::sha256_file(root / "mine/train-images-idx3-ubyte"));

  // A changed file is a mismatch for `data verify`; the listing of imported sets holds it.
  std::string bytes = core::read_file(root / "mine/t10k-labels-idx1-ubyte");
  bytes.back() = char(bytes.back() ^ 1);
  core::write_file_atomic(root / "mine/t10k-labels-idx1-ubyte", bytes);
  EXPECT_EQ(data::verify_files(root.path(), info)[3].state, data::FileCheck::State::kMismatch);
  ASSERT_EQ(data::imported_datasets(root.path()).size(), 1u);
  ::testing::internal::CaptureStdout();  // "all" means the fetched data sets only
  EXPECT_EQ(data::verify_command(root.path(), "all"), 1);
  EXPECT_EQ(::testing::internal::GetCapturedStdout().find("mine"), std::string::npos);
  ::testing::internal::CaptureStdout();
  EXPECT_EQ(data::verify_command(root.path(), "mine"), 1);
  EXPECT_NE(::testing::internal::GetCapturedStdout().find("MISMATCH  " + root.path() +
                                                          "/mine/t10k-labels-idx1-ubyte"),
            std::string::npos);
  EXPECT_EQ(listing(root.path()), std::vector<std::string>{"mine"});
}

TEST(Import, NumberedFoldersAndTheSourcesOwnSplits) {
  TempDir src, root;
  write_class_folders(src / "train", {"0", "1", "2"}, 6);
  write_class_folders(src / "test", {"0", "1", "2"}, 2, 7);
  fs::create_directories(src / "train/notes");  // among numbers, a name is no label
  data::write_png(src / "train/notes/a.png", shape(0, 5));
  data::ImportOptions o = options(src.path(), root.path());
  o.invert = "yes";
  const data::ImportSummary s = data::import_dataset(o);
  EXPECT_TRUE(s.test_from_source);
  EXPECT_EQ(s.class_names, (std::vector<std::string>{"0", "1", "2"}));
  EXPECT_EQ(s.train_counts, (std::vector<size_t>{6, 6, 6}));
  EXPECT_EQ(s.test_counts, (std::vector<size_t>{2, 2, 2}));
  EXPECT_EQ(s.skipped.at("bad class folder"), 1u);

  // A gap in the numbers is an empty class; it stays a class so that labels keep their numbers.
  TempDir gap, root2;
  write_class_folders(gap.path(), {"0", "1", "03"}, 4);  // names are kept as given
  const data::ImportSummary g = data::import_dataset(options(gap.path(), root2.path()));
  EXPECT_EQ(g.class_names, (std::vector<std::string>{"0", "1", "2", "03"}));
  EXPECT_EQ(g.skipped.at("empty class"), 1u);
  EXPECT_EQ(g.train_counts[2] + g.test_counts[2], 0u);
}

TEST(Import, NamedClassesOfTheTestFolderFollowTheTrainingFolder) {
  TempDir src, root;
  write_class_folders(src / "train", {"a", "b"}, 4);
  write_class_folders(src / "test", {"a", "b", "c"}, 2, 3);
  const data::ImportSummary s = data::import_dataset(options(src.path(), root.path()));
  EXPECT_EQ(s.class_names, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(s.train_counts, (std::vector<size_t>{4, 4}));
  EXPECT_EQ(s.test_counts, (std::vector<size_t>{2, 2}));
  EXPECT_EQ(s.skipped, (std::map<std::string, size_t>{{"bad class folder", 1}}));
}

TEST(Import, StrictFailsOnTheFirstBadInputAndWritesNothing) {
  TempDir src, root;
  write_class_folders(src.path(), {"a", "b"}, 5);
  core::write_file_atomic(src / "b/broken.png", "\x89PNG\r\n\x1a\n truncated");
  data::ImportOptions o = options(src.path(), root.path());
  o.strict = true;
  const std::string e = error_of(o);
  EXPECT_NE(e.find(src / "b/broken.png"), std::string::npos) << e;
  EXPECT_NE(e.find("--strict"), std::string::npos) << e;
  EXPECT_TRUE(listing(root.path()).empty());
  o.strict = false;
  EXPECT_EQ(data::import_dataset(o).skipped.at("not an image"), 1u);
}

TEST(Import, AFailedImportLeavesThePreviousDataSetIntact) {
  TempDir src, root;
  write_class_folders(src.path(), {"a", "b"}, 5);
  data::ImportOptions o = options(src.path(), root.path());
  data::import_dataset(o);
  const std::string before = core::read_file(root / "mine/train-images-idx3-ubyte");
  const std::string manifest_before = core::read_file(root / "mine/manifest.json");

  // One class left: no classifier; a strict import of a bad folder: nothing replaced.
  fs::remove_all(src / "b");
  EXPECT_NE(error_of(o).find("2 or more"), std::string::npos) << error_of(o);
  write_class_folders(src.path(), {"c"}, 3);
  core::write_file_atomic(src / "c/x.txt", "text");
  o.strict = true;
  EXPECT_NE(error_of(o).find("x.txt"), std::string::npos);
  EXPECT_EQ(core::read_file(root / "mine/train-images-idx3-ubyte"), before);
  EXPECT_EQ(core::read_file(root / "mine/manifest.json"), manifest_before);
  EXPECT_EQ(listing(root.path()), std::vector<std::string>{"mine"});  // no temporary behind

  // A good import replaces it whole.
  o.strict = false;
  fs::remove(src / "c/x.txt");
  const data::ImportSummary s = data::import_dataset(o);
  EXPECT_EQ(s.class_names, (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(manifest(root / "mine")["classes"], nlohmann::json({"a", "c"}));
  EXPECT_EQ(listing(root.path()), std::vector<std::string>{"mine"});
}

TEST(Import, NamesAndFlagsAreChecked) {
  TempDir src, root;
  write_class_folders(src.path(), {"a", "b"}, 2);
  auto usage = [&](data::ImportOptions o, const std::string& what) {
    try {
      data::import_dataset(o);
      ADD_FAILURE() << "accepted: " << what;
    } catch (const core::UsageError& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  usage(options(src.path(), root.path(), "mnist"), "built-in");
  usage(options(src.path(), root.path(), "-x"), "plain name");
  usage(options(src.path(), root.path(), "My Set"), "plain name");
  usage(options(src.path(), root.path(), "../up"), "plain name");
  data::ImportOptions o = options(src.path(), root.path());
  o.test_share = 1;
  usage(o, "--test-share");
  o = options(src.path(), root.path());
  o.format = "parquet";
  usage(o, "--format");
  o = options(src.path(), root.path());
  o.invert = "maybe";
  usage(o, "--invert");
  fs::create_directories(root / "mine");  // a folder that no import made is not overwritten
  usage(options(src.path(), root.path()), "no imported data set");
  EXPECT_THROW(data::find_dataset("mine", root.path()), core::UsageError);
  o = options(src / "nothing-here", root.path(), "other");
  EXPECT_NE(error_of(o).find("missing"), std::string::npos);
}

std::string csv_row(int label, int c, uint64_t seed) {
  data::GrayImage g = shape(c, seed, 28, 28);
  std::string row = std::to_string(label);
  for (uint8_t p : g.pixels) row += "," + std::to_string(255 - p);  // light ink as Kaggle's
  return row;
}

TEST(Import, KaggleCsvWithBadRows) {
  TempDir dir, root;
  std::string text = "label";
  for (int i = 0; i < 784; ++i) text += ",pixel" + std::to_string(i);
  text += "\n";
  for (int i = 0; i < 24; ++i) text += csv_row(i % 3, i % 3, uint64_t(i)) + "\n";
  text += csv_row(1, 1, 99).substr(0, 100) + "\n";  // line 26: too few fields
  std::string word = csv_row(2, 2, 98);             // line 27: a pixel that is no number
  word.replace(word.find(',') + 1, word.find(',', 2) - word.find(',') - 1, "abc");
  text += word + "\n";
  std::string over = csv_row(2, 2, 97);
  over.replace(over.rfind(','), std::string::npos, ",300");  // line 28: a pixel over 255
  text += over + "\n\n";
  core::write_file_atomic(dir / "train.csv", text);

  const data::ImportSummary s = data::import_dataset(options(dir / "train.csv", root.path()));
  EXPECT_EQ(s.format, "csv");
  EXPECT_EQ(s.class_names, (std::vector<std::string>{"0", "1", "2"}));
  EXPECT_EQ(s.train_counts, (std::vector<size_t>{6, 6, 6}));
  EXPECT_EQ(s.test_counts, (std::vector<size_t>{2, 2, 2}));
  EXPECT_EQ(s.not_inverted, 24u);
  EXPECT_EQ(s.skipped.at("bad row"), 3u);

  data::ImportOptions strict = options(dir / "train.csv", root.path(), "strict");
  strict.strict = true;
  const std::string e = error_of(strict);
  EXPECT_NE(e.find("train.csv:26: "), std::string::npos) << e;

  // Kaggle's test.csv has no labels: refused in one line.
  core::write_file_atomic(dir / "test.csv", "pixel0,pixel1,pixel2,pixel3\n0,0,0,0\n");
  const std::string t = error_of(options(dir / "test.csv", root.path(), "t"));
  EXPECT_NE(t.find("no 'label' column"), std::string::npos) << t;
  EXPECT_FALSE(fs::exists(root / "t"));
}

void write_idx_split(const std::string& dir, const std::string& prefix, int n, int side,
                     uint64_t seed, const std::string& ext = "") {
  data::IdxArray images, labels;
  images.dims = {uint32_t(n), uint32_t(side), uint32_t(side)};
  labels.dims = {uint32_t(n)};
  for (int i = 0; i < n; ++i) {
    const data::GrayImage g = shape(i % 3, seed + uint64_t(i), side, side);
    for (uint8_t p : g.pixels) images.data.push_back(uint8_t(255 - p));
    labels.data.push_back(uint8_t(i % 3));
  }
  data::write_idx(dir + "/" + prefix + "-images-idx3-ubyte" + ext, images);
  data::write_idx(dir + "/" + prefix + "-labels-idx1-ubyte" + ext, labels);
}

TEST(Import, IdxFilesGzippedAndOfUnequalSizes) {
  TempDir src, root;
  write_idx_split(src.path(), "kmnist-train", 15, 28, 1, ".gz");
  write_idx_split(src.path(), "kmnist-t10k", 6, 28, 50);
  EXPECT_EQ(data::guess_format(src.path()), "idx");
  data::ImportSummary s = data::import_dataset(options(src.path(), root.path()));
  EXPECT_EQ(s.format, "idx");
  EXPECT_TRUE(s.test_from_source);
  EXPECT_EQ(s.train_counts, (std::vector<size_t>{5, 5, 5}));
  EXPECT_EQ(s.test_counts, (std::vector<size_t>{2, 2, 2}));

  // Test images of another size than the training images: skipped, and the test split is then
  // a share of the training images; --strict refuses them.
  TempDir odd, root2;
  write_idx_split(odd.path(), "train", 15, 28, 1);
  write_idx_split(odd.path(), "t10k", 6, 32, 50);
  data::ImportOptions o = options(odd.path(), root2.path());
  o.strict = true;
  const std::string e = error_of(o);
  EXPECT_NE(e.find("t10k-images-idx3-ubyte: images of 32x32"), std::string::npos) << e;
  o.strict = false;
  s = data::import_dataset(o);
  EXPECT_FALSE(s.test_from_source);
  EXPECT_EQ(s.skipped.at("unequal size"), 6u);
  EXPECT_EQ(s.test_counts, (std::vector<size_t>{1, 1, 1}));
}

TEST(Import, FontDigitsMakeAFolderThatImports) {
  const std::string font = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
  ASSERT_TRUE(core::file_exists(font)) << "scripts/setup installs fonts-dejavu-core";
  TempDir dir, root;
  ASSERT_EQ(data::make_font_digits_command({font}, dir / "digits", 3, 1), 0);
  for (int d = 0; d < 10; ++d) {
    EXPECT_EQ(listing(dir / ("digits/" + std::to_string(d))),
              (std::vector<std::string>{"DejaVuSans-0000.png", "DejaVuSans-0001.png",
                                        "DejaVuSans-0002.png"}));
  }
  const data::GrayImage first = data::read_image_file(dir / "digits/7/DejaVuSans-0000.png");
  EXPECT_EQ(first.pixels[0], 255);  // white paper
  EXPECT_THROW(data::make_font_digits_command({font}, dir / "digits", 3, 1), core::UsageError);
  EXPECT_EQ(listing(dir.path()), std::vector<std::string>{"digits"});

  const data::ImportSummary s = data::import_dataset(options(dir / "digits", root.path()));
  EXPECT_EQ(s.class_names.size(), 10u);
  EXPECT_EQ(s.inverted, 30u);
  EXPECT_EQ(s.test_counts, std::vector<size_t>(10, 1));
}

}  // namespace
}  // namespace digitlab
