// Tensors from IDX: partition, batches, normalization.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>

#include "core/error.h"
#include "data/dataset.h"
#include "test_util.h"

namespace digitlab::data {
namespace {

TEST(Data, SplitIsDeterministicDisjointAndComplete) {
  auto a = split_train_val(1000, 100, 7);
  auto b = split_train_val(1000, 100, 7);
  auto c = split_train_val(1000, 100, 8);
  EXPECT_EQ(a.val, b.val);
  EXPECT_NE(a.val, c.val);
  EXPECT_EQ(a.val.size(), 100u);
  EXPECT_EQ(a.train.size(), 900u);
  std::set<int64_t> all(a.train.begin(), a.train.end());
  all.insert(a.val.begin(), a.val.end());
  EXPECT_EQ(all.size(), 1000u);
  EXPECT_EQ(*all.rbegin(), 999);
  EXPECT_EQ(split_train_val(10, 0, 1).train.size(), 10u);
  EXPECT_THROW(split_train_val(10, 10, 1), core::UsageError);
}

TEST(Data, EpochBatchesCoverEveryIndexOnce) {
  for (bool drop_last : {false, true}) {
    auto batches = epoch_batches(103, 10, true, 5, 1, drop_last);
    EXPECT_EQ(batches.size(), drop_last ? 10u : 11u);
    std::multiset<int64_t> seen;
    for (auto& b : batches) {
      for (int64_t i = 0; i < b.size(0); ++i) seen.insert(b[i].item<int64_t>());
    }
    EXPECT_EQ(seen.size(), drop_last ? 100u : 103u);
    EXPECT_EQ(std::set<int64_t>(seen.begin(), seen.end()).size(), seen.size());
  }
  // A new order each epoch, the same order for the same (seed, epoch).
  auto e1 = epoch_batches(50, 50, true, 5, 1)[0];
  auto e1b = epoch_batches(50, 50, true, 5, 1)[0];
  auto e2 = epoch_batches(50, 50, true, 5, 2)[0];
  EXPECT_TRUE(torch::equal(e1, e1b));
  EXPECT_FALSE(torch::equal(e1, e2));
  EXPECT_TRUE(torch::equal(epoch_batches(5, 5, false, 5, 1)[0], torch::arange(5)));
}

TEST(Data, NormalizationModes) {
  auto img = torch::tensor({0, 255, 51, 204}, torch::kUInt8).reshape({1, 2, 2});
  Normalization std_norm = make_normalization("standard", img);
  EXPECT_NEAR(std_norm.mean, 0.5, 1e-12);
  auto x = to_input(img, std_norm);
  EXPECT_EQ(x.sizes(), (std::vector<int64_t>{1, 1, 2, 2}));
  EXPECT_NEAR(x.mean().item<double>(), 0.0, 1e-6);
  EXPECT_NEAR(x.std(false).item<double>(), 1.0, 1e-5);
  auto u = to_input(img, make_normalization("unit", img));
  EXPECT_FLOAT_EQ(u.max().item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(u.min().item<float>(), 0.0f);
  auto n = to_input(img, make_normalization("none", img));
  EXPECT_FLOAT_EQ(n.max().item<float>(), 255.0f);
  EXPECT_THROW(make_normalization("zscore", img), core::UsageError);
  Normalization back = Normalization::from_json(std_norm.to_json());
  EXPECT_EQ(back.mode, "standard");
  EXPECT_DOUBLE_EQ(back.std, std_norm.std);
}

TEST(Data, TensorsFromIdxKeepOrderAndLimit) {
  RawSplit r;
  IdxArray im, lb;
  testing::make_synthetic(30, 3, im, lb);
  r.images = im;
  r.labels = lb;
  auto t = to_tensors(r, 12);
  EXPECT_EQ(t.size(), 12);
  EXPECT_EQ(t.images.scalar_type(), torch::kUInt8);
  EXPECT_EQ(t.labels[11].item<int64_t>(), 1);
  EXPECT_EQ(t.images[5][10].sum().item<int64_t>(),
            std::accumulate(im.data.begin() + 5 * 784 + 280, im.data.begin() + 5 * 784 + 308, 0));
}

}  // namespace
}  // namespace digitlab::data
