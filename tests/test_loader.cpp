// The loader (every image once per epoch, order and augmentation independent of threads) and the
// stratified split.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>
#include <set>

#include "data/loader.h"

namespace digitlab::data {
namespace {

// N images whose first two pixels encode their index; label = index % 10.
TensorSplit numbered(int64_t n) {
  auto images = torch::zeros({n, 28, 28}, torch::kUInt8);
  auto acc = images.accessor<uint8_t, 3>();
  for (int64_t i = 0; i < n; ++i) acc[i][0][0] = uint8_t(i % 256), acc[i][0][1] = uint8_t(i / 256);
  return {images, torch::arange(n, torch::kInt64).remainder(10)};
}

LoaderOptions raw_options(int workers, int64_t batch, bool drop_last = false) {
  LoaderOptions o;
  o.batch_size = batch;
  o.workers = workers;
  o.drop_last = drop_last;
  o.seed = 11;
  o.normalization.mode = "none";
  return o;
}

TEST(Loader, EveryImageExactlyOncePerEpoch) {
  const int64_t n = 1003;
  const TensorSplit split = numbered(n);
  for (int workers : {0, 1, 3}) {
    for (bool drop_last : {false, true}) {
      Loader loader(split, raw_options(workers, 64, drop_last));
      for (int64_t epoch = 1; epoch <= 2; ++epoch) {
        loader.start_epoch(epoch);
        std::multiset<int64_t> seen;
        int64_t batches = 0;
        while (auto b = loader.next()) {
          EXPECT_EQ(b->index, batches++);
          EXPECT_EQ(b->x.sizes()[1], 1);
          for (int64_t i = 0; i < b->x.size(0); ++i) {
            const int64_t id = int64_t(b->x[i][0][0][0].item<float>()) +
                               256 * int64_t(b->x[i][0][0][1].item<float>());
            EXPECT_EQ(b->y[i].item<int64_t>(), id % 10) << "label follows its image";
            seen.insert(id);
          }
        }
        EXPECT_EQ(batches, loader.batches_per_epoch());
        EXPECT_EQ(seen.size(), drop_last ? size_t(n / 64 * 64) : size_t(n));
        EXPECT_EQ(std::set<int64_t>(seen.begin(), seen.end()).size(), seen.size());
        EXPECT_FALSE(loader.next().has_value());
      }
    }
  }
}

TEST(Loader, SameBatchesWhateverTheWorkerCount) {
  const TensorSplit split = numbered(300);
  LoaderOptions o = raw_options(0, 32);
  o.augment = parse_augment("seed002,elastic=34:4,erase=0.5");
  auto epoch = [&](int workers, int64_t e) {
    LoaderOptions w = o;
    w.workers = workers;
    Loader loader(split, w);
    loader.start_epoch(e);
    std::vector<torch::Tensor> xs;
    while (auto b = loader.next()) xs.push_back(b->x);
    return torch::cat(xs);
  };
  auto a = epoch(0, 1), b = epoch(3, 1), c = epoch(2, 2);
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_FALSE(torch::equal(a, c));
}

TEST(Loader, ShufflesPerEpochAndCanRestartMidEpoch) {
  const TensorSplit split = numbered(200);
  Loader loader(split, raw_options(2, 50));
  loader.start_epoch(1);
  auto first = loader.next()->y;
  loader.start_epoch(1);  // abandon epoch 1 half-way and begin again
  EXPECT_TRUE(torch::equal(loader.next()->y, first));
  loader.start_epoch(2);
  auto second = loader.next();
  ASSERT_TRUE(second);
  EXPECT_FALSE(torch::equal(second->x, torch::zeros_like(second->x)));
  int rest = 1;
  while (loader.next()) ++rest;
  EXPECT_EQ(rest, 4);
}

TEST(Loader, NormalizesAsTheCheckpointWill) {
  const TensorSplit split = numbered(10);
  LoaderOptions o = raw_options(1, 10);
  o.normalization = {"standard", 0.5, 0.25};
  o.shuffle = false;
  Loader loader(split, o);
  loader.start_epoch(1);
  auto b = loader.next();
  EXPECT_TRUE(torch::allclose(b->x, to_input(split.images, o.normalization)));
}

TEST(Split, StratifiedKeepsEachClassShare) {
  // 50 of class 0, 30 of class 1, 20 of class 2, interleaved.
  std::vector<int64_t> labels;
  for (int i = 0; i < 50; ++i) labels.push_back(0);
  for (int i = 0; i < 30; ++i) labels.push_back(1);
  for (int i = 0; i < 20; ++i) labels.push_back(2);
  std::swap(labels[3], labels[70]);
  auto r = split_train_val_stratified(labels, 10, 4, 3);
  std::map<int64_t, int> val_counts;
  for (int64_t i : r.val) ++val_counts[labels[size_t(i)]];
  EXPECT_EQ(val_counts[0], 5);
  EXPECT_EQ(val_counts[1], 3);
  EXPECT_EQ(val_counts[2], 2);
  EXPECT_EQ(r.train.size(), 90u);
  std::set<int64_t> all(r.train.begin(), r.train.end());
  all.insert(r.val.begin(), r.val.end());
  EXPECT_EQ(all.size(), 100u);
  // Uneven shares: rounding by largest remainder still gives exactly the asked count.
  auto u = split_train_val_stratified(labels, 7, 4, 3);
  std::map<int64_t, int> uc;
  for (int64_t i : u.val) ++uc[labels[size_t(i)]];
  EXPECT_EQ(u.val.size(), 7u);
  EXPECT_EQ(uc[0], 4);  // 3.5 -> 4 (largest remainder), 2.1 -> 2, 1.4 -> 1
  EXPECT_EQ(uc[1], 2);
  EXPECT_EQ(uc[2], 1);
  EXPECT_EQ(split_train_val_stratified(labels, 10, 4, 3).val, r.val);
  EXPECT_NE(split_train_val_stratified(labels, 10, 5, 3).val, r.val);
}

}  // namespace
}  // namespace digitlab::data
