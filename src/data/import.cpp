// Importing image folders, Kaggle-style CSVs and IDX files as data sets with a manifest.
#include "data/import.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <random>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/files.h"
#include "core/interrupt.h"
#include "core/sha256.h"
#include "data/decode.h"
#include "data/digit_prep.h"
#include "data/idx.h"
#include "data/registry.h"

namespace digitlab::data {
namespace fs = std::filesystem;
using core::RuntimeError;
using core::UsageError;

namespace {

constexpr int kUnassigned = -1, kTrain = 0, kTest = 1;

struct Item {
  std::vector<uint8_t> pixels;  // size x size, prepared
  int label = 0;
  int split = kUnassigned;
};

bool hidden(const fs::path& p) { return p.filename().string().rfind('.', 0) == 0; }

bool whole_number(const std::string& s) {
  return !s.empty() && s.size() <= 3 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Reads the source into items; each reader below knows one format.
class Importer {
 public:
  explicit Importer(const ImportOptions& o) : o_(o) {
    if (o.invert == "yes") polarity_ = InkPolarity::kDarkInk;
    if (o.invert == "no") polarity_ = InkPolarity::kLightInk;
  }

  ImportSummary read() {
    s_.format = o_.format.empty() ? guess_format(o_.source) : o_.format;
    if (s_.format == "folder") {
      read_folder();
    } else if (s_.format == "csv") {
      read_csv();
    } else {
      read_idx_files();
    }
    finish_classes();
    assign_test_split();
    return s_;
  }
  const std::vector<Item>& items() const { return items_; }

 private:
  // A bad input: fatal with --strict, else one line on stderr and `count` inputs skipped.
  void problem(const std::string& line, const std::string& reason, size_t count = 1) {
    if (o_.strict) throw RuntimeError(line + " (--strict)");
    std::cerr << line << "\n";
    s_.skipped[reason] += count;
  }

  // Prepares `image` as predict does and keeps it, unless it holds no ink.
  void add(const GrayImage& image, const std::string& origin, int label, int split) {
    if (const int sig = core::interrupt_signal()) {
      throw core::Interrupted(sig, "data import: stopped; nothing written");
    }
    PrepOptions prep;
    prep.polarity = polarity_;
    PreparedDigit d = prepare_digit(image, prep);
    if (!d.ink_found) return problem(origin + ": no ink found (a blank image?)", "no ink");
    ++(d.inverted ? s_.inverted : s_.not_inverted);
    if (o_.size != 28) d.image = resize_image(d.image, o_.size, o_.size);
    items_.push_back({std::move(d.image.pixels), label, split});
  }

  void read_folder();
  void read_class_folder(const fs::path& dir, int label, int split);
  std::vector<std::pair<std::string, int>> class_folders(const fs::path& dir);
  void read_csv();
  void read_idx_files();
  std::vector<uint32_t> read_idx_split(const std::string& images_path,
                                       const std::string& labels_path, int split,
                                       const std::vector<uint32_t>& train_dims);
  void finish_classes();
  void assign_test_split();

  const ImportOptions& o_;
  InkPolarity polarity_ = InkPolarity::kAuto;
  ImportSummary s_;
  std::vector<Item> items_;
  bool numbered_ = true;  // labels are numbers from the source, not indices of sorted names
  bool classes_decided_ = false;
  std::vector<std::string> folder_names_;  // named classes: the folder names, sorted
};

// The class folders of `dir` with their labels: folder numbers when any folder name is a whole
// number (then the others are bad), else indices of the sorted names.
std::vector<std::pair<std::string, int>> Importer::class_folders(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!e.is_directory()) continue;  // files beside the class folders are not classes
    if (hidden(e.path())) {
      problem(e.path().string() + ": a hidden folder is no class", "bad class folder");
    } else {
      names.push_back(e.path().filename().string());
    }
  }
  std::sort(names.begin(), names.end());
  if (!classes_decided_) {  // the training folder decides; test/ follows it
    classes_decided_ = true;
    numbered_ = std::any_of(names.begin(), names.end(), whole_number);
    if (!numbered_) folder_names_ = names;
  }
  std::vector<std::pair<std::string, int>> out;
  for (const auto& n : names) {
    const std::string path = (dir / n).string();
    if (numbered_ && !whole_number(n)) {
      problem(path + ": not a number, as the other class folders are", "bad class folder");
    } else if (numbered_ && std::stoi(n) > 255) {
      problem(path + ": class numbers go up to 255", "bad class folder");
    } else if (!numbered_ && !std::binary_search(folder_names_.begin(), folder_names_.end(), n)) {
      problem(path + ": no class of that name in the training folder", "bad class folder");
    } else {
      const int label = numbered_
                            ? std::stoi(n)
                            : int(std::lower_bound(folder_names_.begin(), folder_names_.end(), n) -
                                  folder_names_.begin());
      if (numbered_ && s_.class_names.size() <= size_t(label)) s_.class_names.resize(label + 1);
      if (numbered_ && s_.class_names[size_t(label)].empty()) s_.class_names[size_t(label)] = n;
      if (numbered_ && s_.class_names[size_t(label)] != n) {
        problem(path + ": the same class number as folder " + s_.class_names[size_t(label)],
                "bad class folder");
        continue;
      }
      out.push_back({path, label});
    }
  }
  return out;
}

void Importer::read_class_folder(const fs::path& dir, int label, int split) {
  std::vector<fs::path> files;
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator();
       ++it) {
    if (hidden(it->path())) {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;  // .DS_Store, Thumbs caches, editors' files: not inputs
    }
    if (it->is_regular_file()) files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    GrayImage image;
    try {
      image = read_image_file(f.string());
    } catch (const RuntimeError& e) {
      problem(e.what(), "not an image");
      continue;
    }
    add(image, f.string(), label, split);
  }
}

void Importer::read_folder() {
  const fs::path root = o_.source;
  if (!core::dir_exists(o_.source)) throw RuntimeError(o_.source + ": not a folder");
  const bool splits =
      core::dir_exists((root / "train").string()) && core::dir_exists((root / "test").string());
  for (int split : {kTrain, kTest}) {
    if (split == kTest && !splits) break;
    const fs::path dir = splits ? root / (split == kTrain ? "train" : "test") : root;
    for (const auto& [path, label] : class_folders(dir)) read_class_folder(path, label, split);
  }
  if (!numbered_) s_.class_names = folder_names_;
  s_.test_from_source =
      std::any_of(items_.begin(), items_.end(), [](const Item& it) { return it.split == kTest; });
}

std::vector<std::string> split_fields(const std::string& line) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t comma; (comma = line.find(',', start)) != std::string::npos; start = comma + 1) {
    out.push_back(line.substr(start, comma - start));
  }
  out.push_back(line.substr(start));
  for (auto& f : out) {  // spaces and quotes around a field are layout, not content
    const size_t a = f.find_first_not_of(" \t\""), b = f.find_last_not_of(" \t\"");
    f = a == std::string::npos ? "" : f.substr(a, b - a + 1);
  }
  return out;
}

// A field's byte value, or -1 when it is no whole number from 0 to 255.
int byte_value(const std::string& field) {
  if (field.empty() || field.size() > 3 ||
      !std::all_of(field.begin(), field.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return -1;
  }
  const int v = std::stoi(field);
  return v <= 255 ? v : -1;
}

void Importer::read_csv() {
  if (!fs::is_regular_file(o_.source)) throw RuntimeError(o_.source + ": not a CSV file");
  const std::vector<std::string> lines = core::split_lines(core::read_file(o_.source));
  if (lines.empty()) throw RuntimeError(o_.source + ": empty");
  const std::vector<std::string> header = split_fields(lines[0]);
  const auto label_it = std::find(header.begin(), header.end(), "label");
  if (label_it == header.end()) {
    throw RuntimeError(o_.source +
                       ": no 'label' column in the header line; images without labels (as "
                       "Kaggle's test.csv) can be neither trained nor scored on");
  }
  const size_t label_col = size_t(label_it - header.begin()), pixels = header.size() - 1;
  const int side = int(std::lround(std::sqrt(double(pixels))));
  if (pixels == 0 || size_t(side) * size_t(side) != pixels) {
    throw RuntimeError(o_.source + ": " + std::to_string(pixels) +
                       " pixel columns in the header, not a square image");
  }
  for (size_t i = 1; i < lines.size(); ++i) {
    if (core::blank_line(lines[i])) continue;
    const std::string row = o_.source + ":" + std::to_string(i + 1);
    const std::vector<std::string> fields = split_fields(lines[i]);
    if (fields.size() != header.size()) {
      problem(row + ": " + std::to_string(fields.size()) + " fields, the header has " +
                  std::to_string(header.size()) + " (images of unequal sizes?)",
              "bad row");
      continue;
    }
    GrayImage image(side, side, 0);
    int label = -1;
    size_t bad = fields.size();
    for (size_t f = 0, p = 0; f < fields.size() && bad == fields.size(); ++f) {
      const int v = byte_value(fields[f]);
      if (v < 0) bad = f;
      if (f == label_col) label = v;
      if (f != label_col) image.pixels[p++] = uint8_t(std::max(v, 0));
    }
    if (bad != fields.size()) {
      problem(row + ": field " + std::to_string(bad + 1) + " ('" + fields[bad].substr(0, 20) +
                  "') is not a whole number from 0 to 255",
              "bad row");
      continue;
    }
    add(image, row, label, kUnassigned);
  }
}

// The one file in `names` whose lower-case name holds "ubyte", one of `split_words` and one of
// `kind_words`; "" when none. Two or more are a RuntimeError.
std::string pick_idx(const std::string& dir, const std::vector<std::string>& names,
                     const std::vector<std::string>& split_words,
                     const std::vector<std::string>& kind_words) {
  auto has_any = [](const std::string& n, const std::vector<std::string>& words) {
    return std::any_of(words.begin(), words.end(),
                       [&](const std::string& w) { return n.find(w) != std::string::npos; });
  };
  std::string found;
  for (const auto& name : names) {
    const std::string n = lower(name);
    if (n.find("ubyte") == std::string::npos || !has_any(n, split_words) ||
        !has_any(n, kind_words)) {
      continue;
    }
    if (!found.empty()) {
      throw RuntimeError(dir + ": both " + found + " and " + name + " look like the " +
                         split_words[0] + " " + kind_words[0] + "; keep one");
    }
    found = name;
  }
  return found.empty() ? "" : core::join_path(dir, found);
}

// Adds one split's images; returns their dims. Test images whose size differs from
// `train_dims` (when given) are skipped.
std::vector<uint32_t> Importer::read_idx_split(const std::string& images_path,
                                               const std::string& labels_path, int split,
                                               const std::vector<uint32_t>& train_dims) {
  const IdxArray images = read_idx(images_path), labels = read_idx(labels_path);
  check_image_label_pair(images, images_path, labels, labels_path, 256);
  const uint32_t rows = images.dims[1], cols = images.dims[2];
  if (!train_dims.empty() && (train_dims[1] != rows || train_dims[2] != cols)) {
    problem(images_path + ": images of " + std::to_string(rows) + "x" + std::to_string(cols) +
                ", the training images are " + std::to_string(train_dims[1]) + "x" +
                std::to_string(train_dims[2]) + " (unequal sizes)",
            "unequal size", images.count());
    return images.dims;
  }
  for (size_t i = 0; i < images.count(); ++i) {
    GrayImage image(int(cols), int(rows), 0);
    std::copy_n(images.data.begin() + long(i * rows * cols), rows * cols, image.pixels.begin());
    add(image, images_path + " image " + std::to_string(i), labels.data[i], split);
  }
  return images.dims;
}

void Importer::read_idx_files() {
  if (!core::dir_exists(o_.source)) throw RuntimeError(o_.source + ": not a folder");
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(o_.source)) {
    if (e.is_regular_file()) names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  const std::string train_images = pick_idx(o_.source, names, {"train"}, {"images", "imgs"});
  const std::string train_labels = pick_idx(o_.source, names, {"train"}, {"labels"});
  const std::string test_images = pick_idx(o_.source, names, {"t10k", "test"}, {"images", "imgs"});
  const std::string test_labels = pick_idx(o_.source, names, {"t10k", "test"}, {"labels"});
  if (train_images.empty() || train_labels.empty()) {
    throw RuntimeError(o_.source +
                       ": no train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz]");
  }
  if (test_images.empty() != test_labels.empty()) {
    throw RuntimeError(o_.source + ": " + (test_images.empty() ? test_labels : test_images) +
                       " without its " + (test_images.empty() ? "images" : "labels") + " file");
  }
  const std::vector<uint32_t> train_dims = read_idx_split(train_images, train_labels, kTrain, {});
  if (!test_images.empty()) read_idx_split(test_images, test_labels, kTest, train_dims);
  s_.test_from_source =
      std::any_of(items_.begin(), items_.end(), [](const Item& it) { return it.split == kTest; });
}

// Counts per class; for sources whose labels are numbers, every number up to the highest is a
// class, and one without training images is reported; named classes without images are dropped.
void Importer::finish_classes() {
  size_t k = s_.class_names.size();
  for (const Item& it : items_) k = std::max(k, size_t(it.label) + 1);
  std::vector<size_t> train(k, 0), any(k, 0);
  for (const Item& it : items_)
    ++any[size_t(it.label)], train[size_t(it.label)] += it.split != kTest;
  if (numbered_) {
    s_.class_names.resize(k);
    for (size_t c = 0; c < k; ++c) {
      if (s_.class_names[c].empty()) s_.class_names[c] = std::to_string(c);
      if (train[c] == 0) {
        problem(o_.source + ": class '" + s_.class_names[c] + "' has no training images",
                "empty class");
      }
    }
    return;
  }
  std::vector<int> new_label(k, -1);
  std::vector<std::string> kept;
  for (size_t c = 0; c < k; ++c) {
    if (train[c] == 0) {
      problem(o_.source + ": class '" + s_.class_names[c] + "' has no training images",
              "empty class", 1);
      continue;
    }
    new_label[c] = int(kept.size());
    kept.push_back(s_.class_names[c]);
  }
  std::vector<Item> items;
  for (Item& it : items_) {
    if (new_label[size_t(it.label)] < 0) continue;  // test images of a class without training
    it.label = new_label[size_t(it.label)];
    items.push_back(std::move(it));
  }
  items_ = std::move(items);
  s_.class_names = kept;
}

// Without a test split of the source's own, a seeded share of each class becomes the test split:
// at least one image of a class with two or more, never all of them.
void Importer::assign_test_split() {
  std::mt19937_64 rng(o_.seed);
  std::vector<std::vector<size_t>> by_class(s_.class_names.size());
  for (size_t i = 0; i < items_.size(); ++i) {
    if (items_[i].split == kUnassigned) items_[i].split = kTrain;
    if (!s_.test_from_source) by_class[size_t(items_[i].label)].push_back(i);
  }
  for (auto& members : by_class) {
    const long n = long(members.size());
    if (n < 2) continue;
    std::shuffle(members.begin(), members.end(), rng);
    const long t = std::clamp(std::lround(o_.test_share * double(n)), 1L, n - 1);
    for (long j = 0; j < t; ++j) items_[members[size_t(j)]].split = kTest;
  }
  s_.train_counts.assign(s_.class_names.size(), 0);
  s_.test_counts.assign(s_.class_names.size(), 0);
  for (const Item& it : items_)
    ++(it.split == kTest ? s_.test_counts : s_.train_counts)[size_t(it.label)];
}

void check_options(const ImportOptions& o, const std::string& dir) {
  if (o.source.empty()) throw UsageError("data import: give the source folder or .csv file");
  if (!valid_import_name(o.name)) {
    for (const auto& d : datasets()) {
      if (d.name == o.name) throw UsageError("--name: '" + o.name + "' is a built-in data set");
    }
    throw UsageError("--name: '" + o.name +
                     "' is not a plain name (1-64 of a-z, 0-9, '-' and '_', not starting with "
                     "'-')");
  }
  if (!o.format.empty() && o.format != "folder" && o.format != "csv" && o.format != "idx") {
    throw UsageError("--format: '" + o.format + "' is none of folder, csv, idx");
  }
  if (o.size < 8 || o.size > 128) throw UsageError("--size: must be 8 to 128");
  if (o.invert != "auto" && o.invert != "yes" && o.invert != "no") {
    throw UsageError("--invert: '" + o.invert + "' is none of auto, yes, no");
  }
  if (!(o.test_share > 0 && o.test_share < 1)) {
    throw UsageError("--test-share: must be above 0 and below 1");
  }
  if (!fs::exists(o.source)) throw RuntimeError(o.source + ": missing");
  if (fs::exists(dir) && !core::file_exists(core::join_path(dir, kManifestName))) {
    throw UsageError("--name: " + dir + " exists and is no imported data set; choose another name");
  }
}

nlohmann::json manifest_of(const ImportOptions& o, const ImportSummary& s) {
  nlohmann::json split = {{"from", "source"}};
  if (!s.test_from_source)
    split = {{"from", "test share"},
             {"test_share", o.test_share},
             {"seed", o.seed},
             {"stratified", true}};
  return {{"name", o.name},
          {"source", fs::absolute(o.source).lexically_normal().string()},
          {"format", s.format},
          {"conversion",
           {{"size", o.size},
            {"preprocessing",
             "prepare_digit as predict applies it to an image file: paper level from the "
             "border, ink bright on black, cropped, longer side 20 px, centre of mass at the "
             "centre of 28x28" +
                 std::string(o.size != 28 ? ", then resized" : "")},
            {"invert", o.invert},
            {"inverted", s.inverted},
            {"not_inverted", s.not_inverted}}},
          {"split", split},
          {"classes", s.class_names},
          {"counts", {{"train", s.train_counts}, {"test", s.test_counts}}},
          {"skipped", s.skipped}};
}

// Writes one split's IDX files into `dir`, in an order shuffled by `seed`.
void write_split(const std::string& dir, const DatasetInfo& names, const std::vector<Item>& items,
                 int split, int size, uint64_t seed) {
  std::vector<const Item*> chosen;
  for (const Item& it : items) {
    if (it.split == split) chosen.push_back(&it);
  }
  std::mt19937_64 rng(seed);
  std::shuffle(chosen.begin(), chosen.end(), rng);  // a --train-limit takes every class
  IdxArray images, labels;
  images.dims = {uint32_t(chosen.size()), uint32_t(size), uint32_t(size)};
  labels.dims = {uint32_t(chosen.size())};
  for (const Item* it : chosen) {
    images.data.insert(images.data.end(), it->pixels.begin(), it->pixels.end());
    labels.data.push_back(uint8_t(it->label));
  }
  const bool train = split == kTrain;
  write_idx(core::join_path(dir, train ? names.train_images.name : names.test_images.name), images);
  write_idx(core::join_path(dir, train ? names.train_labels.name : names.test_labels.name), labels);
}

// Fills `tmp` and puts it in the place of `dir`: the old data set moves aside until the new one
// is in place, and comes back if that fails.
void write_dataset(const std::string& tmp, const std::string& dir, const ImportOptions& o,
                   const ImportSummary& s, const std::vector<Item>& items) {
  const DatasetInfo& mnist = datasets().front();
  core::make_dirs(tmp);
  write_split(tmp, mnist, items, kTrain, o.size, o.seed + 1);
  write_split(tmp, mnist, items, kTest, o.size, o.seed + 2);
  nlohmann::json manifest = manifest_of(o, s);
  for (const auto& f : mnist.files()) {
    manifest["files"][f.name] = core::sha256_file(core::join_path(tmp, f.name));
  }
  core::write_file_atomic(core::join_path(tmp, kManifestName), manifest.dump(2) + "\n");
  if (const int sig = core::interrupt_signal()) {
    throw core::Interrupted(sig, "data import: stopped; nothing written");
  }
  const std::string old = tmp + ".old";
  const bool had_old = fs::exists(dir);
  std::error_code ec;
  if (had_old) fs::rename(dir, old, ec);
  if (!ec) fs::rename(tmp, dir, ec);
  if (ec) {
    if (had_old && fs::exists(old)) fs::rename(old, dir, ec);
    throw RuntimeError(dir + ": cannot put the imported data set in place");
  }
  fs::remove_all(old, ec);
}

}  // namespace

std::string guess_format(const std::string& source) {
  if (lower(fs::path(source).extension().string()) == ".csv") return "csv";
  std::error_code ec;
  if (fs::is_directory(source, ec)) {
    for (const auto& e : fs::directory_iterator(source, ec)) {
      if (e.is_regular_file(ec) &&
          lower(e.path().filename().string()).find("ubyte") != std::string::npos) {
        return "idx";
      }
    }
  }
  return "folder";
}

ImportSummary import_dataset(const ImportOptions& o) {
  const std::string dir = core::join_path(o.data_root, o.name);
  check_options(o, dir);
  core::InterruptGuard guard;  // Ctrl-C stops between images and removes the temporary folder
  Importer importer(o);
  ImportSummary s;
  try {
    s = importer.read();
  } catch (const fs::filesystem_error& e) {  // an unreadable folder, say
    throw RuntimeError(e.path1().string() + ": " + e.code().message());
  }
  size_t with_images = 0;
  for (size_t c = 0; c < s.class_names.size(); ++c) with_images += s.train_counts[c] > 0;
  if (importer.items().empty()) throw RuntimeError(o.source + ": no images to import");
  if (s.class_names.size() > 256) {
    throw RuntimeError(o.source + ": " + std::to_string(s.class_names.size()) +
                       " classes; IDX labels hold up to 256");
  }
  if (with_images < 2) {
    throw RuntimeError(o.source + ": " + std::to_string(with_images) +
                       " class with training images; a classifier needs 2 or more");
  }
  core::make_dirs(o.data_root);
  const std::string tmp =
      core::join_path(o.data_root, "." + o.name + ".import-" + std::to_string(::getpid()));
  try {
    write_dataset(tmp, dir, o, s, importer.items());
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
  s.dir = dir;
  return s;
}

int import_command(const ImportOptions& o) {
  const ImportSummary s = import_dataset(o);
  size_t train = 0, test = 0;
  for (size_t c = 0; c < s.class_names.size(); ++c)
    train += s.train_counts[c], test += s.test_counts[c];
  std::printf("imported %s (%s) into %s: %zu training and %zu test images of %dx%d, %zu classes\n",
              o.source.c_str(), s.format.c_str(), s.dir.c_str(), train, test, o.size, o.size,
              s.class_names.size());
  for (size_t c = 0; c < s.class_names.size(); ++c) {
    std::printf("  %-12s %6zu %6zu\n", s.class_names[c].c_str(), s.train_counts[c],
                s.test_counts[c]);
  }
  std::printf("test split: %s\n",
              s.test_from_source ? "the source's own" : "a seeded share of each class");
  std::printf("inverted (dark ink on light paper): %zu of %zu images\n", s.inverted,
              s.inverted + s.not_inverted);
  size_t skipped = 0;
  std::string reasons;
  for (const auto& [reason, n] : s.skipped) {
    skipped += n;
    reasons += (reasons.empty() ? "" : ", ") + std::to_string(n) + " " + reason;
  }
  if (skipped > 0) std::printf("skipped %zu inputs: %s\n", skipped, reasons.c_str());
  std::printf("train on it with --dataset %s\n", o.name.c_str());
  return 0;
}

}  // namespace digitlab::data
