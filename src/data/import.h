// Bringing a user's data set (a folder of class folders, a Kaggle-style CSV, IDX files) into the
// data root as an MNIST-style data set with a manifest.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace digitlab::data {

struct ImportOptions {
  std::string source;           // a folder (formats folder and idx) or a .csv file
  std::string name;             // the data set's name, its folder under the data root
  std::string format;           // "folder", "csv" or "idx"; empty: guess_format(source)
  int size = 28;                // side of the square images written
  std::string invert = "auto";  // "auto" (per image, as predict decides), "yes", "no"
  bool strict = false;          // the first bad input fails the import
  double test_share = 0.2;      // of each class, when the source has no test split
  uint64_t seed = 42;           // which images the test share takes, and the order written
  std::string data_root = "data";
};

// What an import wrote; its manifest.json holds the same.
struct ImportSummary {
  std::string dir;  // the data set's folder
  std::string format;
  std::vector<std::string> class_names;
  std::vector<size_t> train_counts, test_counts;  // per class
  size_t inverted = 0, not_inverted = 0;          // dark ink on light paper turned around, or not
  std::map<std::string, size_t> skipped;          // reason -> inputs skipped for it
  bool test_from_source = false;                  // the source had a test split of its own
};

// The format `source` looks like: a .csv file is csv, a folder holding IDX files (names with
// "ubyte") idx, anything else folder. Looks at names only.
std::string guess_format(const std::string& source);

// Reads the source, prepares every image as `predict` prepares an image file (prepare_digit:
// ink bright on black, framed as MNIST; polarity per --invert) at o.size x o.size, splits off a
// seeded stratified test share when the source has no test split, and writes DATA_ROOT/NAME with
// mnist's four IDX file names and manifest.json. Requires nothing of the source. Guarantees: a
// bad flag value or NAME is a core::UsageError; a bad input is one line on stderr naming the file
// or row and is skipped and counted, or with o.strict a core::RuntimeError; an import without
// images or with fewer than 2 classes that have images is a core::RuntimeError. The data set
// appears whole or not at all: on any error a previous data set of that name stays as it was and
// no temporary folder is left behind.
ImportSummary import_dataset(const ImportOptions& o);

// `digitlab data import`: import_dataset, then a summary on stdout. Returns the exit code.
int import_command(const ImportOptions& o);

}  // namespace digitlab::data
