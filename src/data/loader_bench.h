// `digitlab bench --what loader`: throughput of the batch loader alone.
#pragma once

#include <string>

namespace digitlab::data {

struct LoaderBenchOptions {
  std::string data_root = "data";
  std::string dataset = "mnist";
  std::string augment;  // empty: none, seed002, and seed002 with elastic distortion
  int workers = 1;
  int64_t batch_size = 64;
  bool json = false;
};

// Times one epoch over the training split per augmentation setting and prints images/s.
// Returns the exit code.
int loader_bench_command(const LoaderBenchOptions& options);

}  // namespace digitlab::data
