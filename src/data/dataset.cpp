// Data sets as tensors: splits, partition, normalization, batches.
#include "data/dataset.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

namespace digitlab::data {
namespace {

// Fisher-Yates with a fixed engine: std::shuffle's algorithm differs between standard libraries,
// and partitions and epoch orders must be the same everywhere.
void fisher_yates(std::vector<int64_t>& v, std::mt19937_64& rng) {
  for (int64_t i = int64_t(v.size()) - 1; i > 0; --i) {
    std::swap(v[size_t(i)], v[size_t(rng() % uint64_t(i + 1))]);
  }
}

void check_val_count(int64_t val_count, int64_t n) {
  if (val_count < 0 || val_count >= n) {
    throw core::UsageError("--val-split: " + std::to_string(val_count) +
                           " must be at least 0 and below the " + std::to_string(n) +
                           " training images");
  }
}

}  // namespace

TensorSplit to_tensors(const RawSplit& raw, int64_t limit) {
  int64_t n = static_cast<int64_t>(raw.images.count());
  if (limit > 0 && limit < n) n = limit;
  const int64_t h = raw.images.dims[1], w = raw.images.dims[2];
  TensorSplit t;
  t.images =
      torch::from_blob(const_cast<uint8_t*>(raw.images.data.data()), {n, h, w}, torch::kUInt8)
          .clone();
  t.labels = torch::from_blob(const_cast<uint8_t*>(raw.labels.data.data()), {n}, torch::kUInt8)
                 .to(torch::kInt64);
  return t;
}

TensorSplit subset(const TensorSplit& split, const torch::Tensor& index) {
  return {split.images.index_select(0, index), split.labels.index_select(0, index)};
}

TrainValIndices split_train_val(int64_t n, int64_t val_count, uint64_t seed) {
  check_val_count(val_count, n);
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(seed ^ 0x5eedf00dULL);
  fisher_yates(order, rng);
  TrainValIndices r;
  r.val.assign(order.begin(), order.begin() + val_count);
  r.train.assign(order.begin() + val_count, order.end());
  std::sort(r.val.begin(), r.val.end());
  std::sort(r.train.begin(), r.train.end());
  return r;
}

TrainValIndices split_train_val_stratified(const std::vector<int64_t>& labels, int64_t val_count,
                                           uint64_t seed, int num_classes) {
  const int64_t n = int64_t(labels.size());
  check_val_count(val_count, n);
  std::vector<std::vector<int64_t>> by_class(static_cast<size_t>(num_classes));
  for (int64_t i = 0; i < n; ++i) by_class[size_t(labels[size_t(i)])].push_back(i);
  // Quotas: floor of each class's exact share, then one more for the largest remainders.
  std::vector<int64_t> quota(static_cast<size_t>(num_classes));
  std::vector<std::pair<double, int>> remainders;
  int64_t given = 0;
  for (int c = 0; c < num_classes; ++c) {
    const double exact = double(val_count) * double(by_class[size_t(c)].size()) / double(n);
    quota[size_t(c)] = int64_t(std::floor(exact));
    given += quota[size_t(c)];
    remainders.push_back({exact - std::floor(exact), c});
  }
  std::stable_sort(remainders.begin(), remainders.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  for (size_t i = 0; given < val_count; ++i, ++given) ++quota[size_t(remainders[i].second)];
  std::mt19937_64 rng(seed ^ 0x5eedf00dULL);
  TrainValIndices r;
  for (int c = 0; c < num_classes; ++c) {
    auto& ids = by_class[size_t(c)];
    fisher_yates(ids, rng);
    r.val.insert(r.val.end(), ids.begin(), ids.begin() + quota[size_t(c)]);
    r.train.insert(r.train.end(), ids.begin() + quota[size_t(c)], ids.end());
  }
  std::sort(r.val.begin(), r.val.end());
  std::sort(r.train.begin(), r.train.end());
  return r;
}

TrainValIndices partition(const TensorSplit& all, int64_t val_count, uint64_t seed,
                          const std::string& strategy, int num_classes) {
  if (strategy == "random") return split_train_val(all.size(), val_count, seed);
  if (strategy != "stratified") {
    throw core::UsageError("--val-strategy: unknown '" + strategy +
                           "' (allowed: random, stratified)");
  }
  auto labels = all.labels.contiguous();
  std::vector<int64_t> v(labels.data_ptr<int64_t>(), labels.data_ptr<int64_t>() + labels.numel());
  return split_train_val_stratified(v, val_count, seed, num_classes);
}

Normalization make_normalization(const std::string& mode, const torch::Tensor& images_u8) {
  Normalization::check_mode(mode);
  Normalization n;
  n.mode = mode;
  if (mode == "standard") {
    auto x = images_u8.to(torch::kFloat64).div_(255.0);
    n.mean = x.mean().item<double>();
    n.std = x.std(/*unbiased=*/false).item<double>();
    if (n.std <= 0) n.std = 1.0;
  }
  return n;
}

torch::Tensor to_input(const torch::Tensor& images_u8, const Normalization& norm) {
  auto x = images_u8.to(torch::kFloat32).unsqueeze(1);
  const double scale = norm.scale(), shift = norm.shift();
  if (scale != 1.0) x.mul_(scale);
  if (shift != 0.0) x.add_(shift);
  return x;
}

std::vector<int64_t> epoch_order(int64_t n, bool shuffle, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  if (shuffle) {
    std::mt19937_64 rng(seed * 0x9e3779b97f4a7c15ULL + uint64_t(epoch) + 1);
    fisher_yates(order, rng);
  }
  return order;
}

std::vector<torch::Tensor> epoch_batches(int64_t n, int64_t batch_size, bool shuffle, uint64_t seed,
                                         int64_t epoch, bool drop_last) {
  std::vector<int64_t> order = epoch_order(n, shuffle, seed, epoch);
  std::vector<torch::Tensor> batches;
  for (int64_t start = 0; start < n; start += batch_size) {
    const int64_t len = std::min(batch_size, n - start);
    if (drop_last && len < batch_size) break;
    batches.push_back(torch::from_blob(order.data() + start, {len}, torch::kInt64).clone());
  }
  return batches;
}

}  // namespace digitlab::data
