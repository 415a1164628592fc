// Loader benchmark.
#include "data/loader_bench.h"

#include <chrono>
#include <cstdio>
#include <iostream>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/loader.h"

namespace digitlab::data {

int loader_bench_command(const LoaderBenchOptions& o) {
  const DatasetInfo info = find_dataset(o.dataset, o.data_root);
  const TensorSplit split = to_tensors(load_raw_split(o.data_root, info, Split::kTrain));
  std::vector<std::string> specs = {"none", "seed002", "seed002,elastic=34:4"};
  if (!o.augment.empty()) specs = {o.augment};
  nlohmann::json results = nlohmann::json::array();
  for (const auto& text : specs) {
    LoaderOptions lo;
    lo.batch_size = o.batch_size;
    lo.workers = o.workers;
    lo.augment = parse_augment(text);
    lo.normalization = make_normalization("standard", split.images);
    Loader loader(split, lo);
    const auto t0 = std::chrono::steady_clock::now();
    loader.start_epoch(1);
    int64_t images = 0;
    while (auto b = loader.next()) images += b->x.size(0);
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double ips = double(images) / secs;
    results.push_back({{"augment", to_string(lo.augment)},
                       {"workers", o.workers},
                       {"batch_size", o.batch_size},
                       {"images", images},
                       {"seconds", secs},
                       {"images_per_second", ips}});
    if (!o.json) {
      std::printf("loader %-40s workers %d batch %lld: %8.0f images/s (%lld images in %.2f s)\n",
                  to_string(lo.augment).c_str(), o.workers, static_cast<long long>(o.batch_size),
                  ips, static_cast<long long>(images), secs);
    }
  }
  if (o.json) std::cout << results.dump(2) << "\n";
  return 0;
}

}  // namespace digitlab::data
