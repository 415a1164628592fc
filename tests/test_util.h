// Shared test helpers: temporary directories, small IDX fixtures, running the program, reading
// run directories.
#pragma once

#include <sys/wait.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/files.h"
#include "data/idx.h"

namespace digitlab::testing {

// A fresh directory under /tmp, removed when the object goes away.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/digitlab-test-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Synthetic digits: class c is a bright 6x6 block at a position that depends on c, plus noise, so
// a small network learns them in one or two epochs. Deterministic for a seed.
inline void make_synthetic(size_t n, uint64_t seed, data::IdxArray& images,
                           data::IdxArray& labels) {
  std::mt19937_64 rng(seed);
  images.dims = {uint32_t(n), 28, 28};
  labels.dims = {uint32_t(n)};
  images.data.assign(n * 784, 0);
  labels.data.assign(n, 0);
  for (size_t i = 0; i < n; ++i) {
    const int c = int(i % 10);
    labels.data[i] = uint8_t(c);
    const int r0 = 2 + (c / 5) * 12 + int(rng() % 3), c0 = 1 + (c % 5) * 5 + int(rng() % 2);
    for (int r = 0; r < 6; ++r) {
      for (int q = 0; q < 5; ++q) {
        const int rr = std::min(27, r0 + r), cc = std::min(27, c0 + q);
        images.data[i * 784 + size_t(rr * 28 + cc)] = uint8_t(180 + rng() % 76);
      }
    }
    for (int k = 0; k < 20; ++k) images.data[i * 784 + rng() % 784] = uint8_t(rng() % 120);
  }
}

// Writes a synthetic "mnist" data set (train and t10k files) under root/mnist.
inline void write_synthetic_mnist(const std::string& root, size_t n_train, size_t n_test) {
  std::filesystem::create_directories(root + "/mnist");
  data::IdxArray im, lb;
  make_synthetic(n_train, 1, im, lb);
  data::write_idx(root + "/mnist/train-images-idx3-ubyte", im);
  data::write_idx(root + "/mnist/train-labels-idx1-ubyte", lb);
  make_synthetic(n_test, 2, im, lb);
  data::write_idx(root + "/mnist/t10k-images-idx3-ubyte", im);
  data::write_idx(root + "/mnist/t10k-labels-idx1-ubyte", lb);
}

// Line `n` of test_paths.txt beside the test program, which tests/CMakeLists.txt writes: the
// paths come from there rather than from compiled-in strings, so that the test objects are the
// same in every clone and build folder (and a compiler cache shares them).
inline std::string test_path(size_t n) {
  static const std::vector<std::string> lines = [] {
    std::error_code ec;
    const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    std::ifstream in(exe.parent_path() / "test_paths.txt");
    std::vector<std::string> v;
    for (std::string line; std::getline(in, line);) v.push_back(line);
    return v;
  }();
  if (n >= lines.size() || lines[n].empty()) {
    throw std::runtime_error("test_paths.txt beside the test program lacks line " +
                             std::to_string(n + 1) + " (rebuild with CMake)");
  }
  return lines[n];
}

// The source tree.
inline std::string source_dir() { return test_path(0); }

// The digitlab program (torch builds only).
inline std::string program() { return test_path(1); }

// The real data root ($DIGITLAB_DATA or the source tree's data/), for tests on MNIST slices.
inline std::string real_data_root() {
  const char* env = std::getenv("DIGITLAB_DATA");
  return env && *env ? env : source_dir() + "/data";
}

// Occurrences of `what` in `text`.
inline size_t count_of(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t pos = 0; (pos = text.find(what, pos)) != std::string::npos; pos += what.size()) ++n;
  return n;
}

// A run's metrics.jsonl without the fields that measure time, which differ run to run.
inline std::vector<nlohmann::json> metrics_without_timing(const std::string& run) {
  std::vector<nlohmann::json> out;
  std::istringstream lines(core::read_file(run + "/metrics.jsonl"));
  std::string line;
  while (std::getline(lines, line)) {
    auto j = nlohmann::json::parse(line);
    j.erase("seconds");
    j.erase("images_per_second");
    out.push_back(j);
  }
  return out;
}

// What one run of the program gave.
struct ProgramResult {
  int code = -1;  // exit code; -1 when it did not exit normally
  std::string out, err;
  double seconds = 0;
};

// Runs the digitlab binary with `args` (shell words) after the environment prefix `env`
// ("K=V ..."), stdin closed; stdout and stderr go through files in `io_dir`.
inline ProgramResult run_program(const std::string& args, const std::string& env,
                                 const std::string& io_dir) {
  const std::string out = io_dir + "/out", err = io_dir + "/err";
  const std::string cmd =
      env + " " + program() + " " + args + " >" + out + " 2>" + err + " </dev/null";
  const auto t0 = std::chrono::steady_clock::now();
  const int status = std::system(cmd.c_str());
  ProgramResult r;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = core::read_file(out);
  r.err = core::read_file(err);
  return r;
}

}  // namespace digitlab::testing
