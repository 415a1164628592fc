// Training end to end through the library: accuracy on an MNIST slice, determinism, early stopping.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/files.h"
#include "data/dataset.h"
#include "models/builder.h"
#include "test_util.h"
#include "train/checkpoint.h"
#include "train/evaluate.h"
#include "train/trainer.h"

namespace digitlab::train {
namespace {

using testing::TempDir;

TrainOptions small_options(const std::string& data_root, const std::string& out) {
  TrainOptions o;
  o.data_root = data_root;
  o.out_dir = out;
  o.threads = 2;
  o.epochs = 1;
  o.train_limit = 1200;
  o.val_split = 200;
  o.batch_size = 32;
  return o;
}

TEST(Train, ShortRunOnAnMnistSliceReaches95Percent) {
  const std::string root = testing::real_data_root();
  if (!core::file_exists(root + "/mnist/train-images-idx3-ubyte")) {
    GTEST_SKIP() << "MNIST not fetched under " << root << " (scripts/setup fetches it)";
  }
  TempDir dir;
  TrainOptions o = small_options(root, dir / "run");
  o.train_limit = 6000;
  o.val_split = 1000;
  o.batch_size = 64;
  o.epochs = 3;
  TrainResult r = train(o, {});
  ASSERT_EQ(r.history.size(), 3u);
  EXPECT_LT(r.history[1].train_loss, r.history[0].train_loss);
  LoadedCheckpoint ck = load_checkpoint(dir / "run");
  auto test = data::to_tensors(
      data::load_raw_split(root, data::find_dataset("mnist"), data::Split::kTest), 5000);
  auto p = predict_split(ck.net, ck.spec.head, test.images, test.labels, ck.meta.normalization);
  EXPECT_GE(p.accuracy, 0.95) << "seed002-cnn, 5000 MNIST images, 3 epochs";
  EXPECT_NEAR(ck.meta.normalization.mean, 0.1307, 0.005);
}

TEST(Train, SameSeedAndThreadsGiveTheSameMetrics) {
  TempDir data;
  testing::write_synthetic_mnist(data.path(), 1200, 100);
  TempDir dir;
  auto run = [&](const std::string& name, uint64_t seed) {
    TrainOptions o = small_options(data.path(), dir / name);
    o.seed = seed;
    o.epochs = 2;
    return train(o, {}).history;
  };
  auto a = run("a", 5), b = run("b", 5), c = run("c", 6);
  ASSERT_EQ(a.size(), 2u);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].train_loss, b[i].train_loss);
    EXPECT_EQ(a[i].train_acc, b[i].train_acc);
    EXPECT_EQ(*a[i].val_loss, *b[i].val_loss);
  }
  EXPECT_NE(a[0].train_loss, c[0].train_loss);
  // Synthetic digits are easy: two epochs learn them.
  EXPECT_GT(*a[1].val_acc, 0.9);
}

TEST(Train, EarlyStoppingStopsAndKeepsTheBestEpoch) {
  TempDir data;
  testing::write_synthetic_mnist(data.path(), 600, 50);
  TempDir dir;
  TrainOptions o = small_options(data.path(), dir / "run");
  o.train_limit = 0;
  o.val_split = 100;
  o.epochs = 6;
  o.early_stopping.patience = 2;
  o.early_stopping.min_delta = 10.0;  // nothing after the first epoch counts as better
  TrainResult r = train(o, {});
  EXPECT_TRUE(r.stopped_early);
  EXPECT_EQ(r.history.size(), 3u);
  EXPECT_EQ(r.best_epoch, 1);
  EXPECT_EQ(load_checkpoint(dir / "run/checkpoints/best.pt").meta.epoch, 1);
  EXPECT_EQ(load_checkpoint(dir / "run/checkpoints/last.pt").meta.epoch, 3);
  EXPECT_TRUE(core::file_exists(dir / "run/config.json"));
}

TEST(Train, BaselinesTrainThroughTheSamePath) {
  TempDir data;
  testing::write_synthetic_mnist(data.path(), 600, 50);
  TempDir dir;
  for (const std::string model : {"knn3", "logreg", "linear-svm"}) {
    TrainOptions o = small_options(data.path(), dir / model);
    o.model = model;
    o.train_limit = 0;
    o.val_split = 100;
    o.epochs = 3;
    auto h = train(o, {}).history;
    ASSERT_EQ(h.size(), model == "knn3" ? 1u : 3u) << model;
    EXPECT_GT(*h.back().val_acc, 0.9) << model;
    EXPECT_EQ(load_checkpoint(dir / model).meta.model, model);
  }
}

TEST(Train, CosineScheduleEndsNearZero) {
  TempDir data;
  testing::write_synthetic_mnist(data.path(), 300, 50);
  TempDir dir;
  TrainOptions o = small_options(data.path(), dir / "run");
  o.train_limit = 0;
  o.val_split = 50;
  o.epochs = 3;
  o.lr_schedule = "cosine";
  auto h = train(o, {}).history;
  EXPECT_LT(h[0].lr, o.lr);
  EXPECT_GT(h[0].lr, h[1].lr);
  EXPECT_LT(h[2].lr, o.lr * 0.01);
}

}  // namespace
}  // namespace digitlab::train
