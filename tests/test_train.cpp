// Training end to end through the library: accuracy on an MNIST slice, determinism, early stopping.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>

#include "core/files.h"
#include "data/dataset.h"
#include "models/builder.h"
#include "test_util.h"
#include "train/checkpoint.h"
#include "train/evaluate.h"
#include "train/precision.h"
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

// The test for bf16: same seed and protocol (seed-002 CNN, one epoch with a cosine
// schedule on all 60,000 training images, batch 64), test accuracies within 0.15 points; then the
// bf16 inference path on the fp32 model agrees with fp32 inference on nearly every test image.
TEST(Train, Bf16TrainsAsWellAsFp32AndInfersTheSameDigits) {
  const std::string root = testing::real_data_root();
  if (!core::file_exists(root + "/mnist/train-images-idx3-ubyte")) {
    GTEST_SKIP() << "MNIST not fetched under " << root << " (scripts/setup fetches it)";
  }
  TempDir dir;
  auto test =
      data::to_tensors(data::load_raw_split(root, data::find_dataset("mnist"), data::Split::kTest));
  auto accuracy = [&](const std::string& precision) {
    TrainOptions o = small_options(root, dir / precision);
    o.train_limit = 0;
    o.val_split = 0;
    o.batch_size = 64;
    o.epochs = 1;
    // The learning rate decays to 0, so the end point does not hang on the last few steps'
    // noise (at constant lr one epoch ends 0.3 points apart between runs of different numerics).
    o.lr_schedule = "cosine";
    o.precision = precision;
    train(o, {});
    LoadedCheckpoint ck = load_checkpoint(dir / precision);
    return predict_split(ck.net, ck.spec.head, test.images, test.labels, ck.meta.normalization)
        .accuracy;
  };
  const double fp32 = accuracy("fp32"), bf16 = accuracy("bf16");
  std::printf("one epoch, test accuracy: fp32 %.2f%%, bf16 %.2f%%\n", 100 * fp32, 100 * bf16);
  EXPECT_GT(fp32, 0.97);
  EXPECT_NEAR(bf16, fp32, 0.0015);

  LoadedCheckpoint a = load_checkpoint(dir / "fp32");
  LoadedCheckpoint b = load_checkpoint(dir / "fp32");
  prepare_for_inference(b.net, Precision::kBf16);
  auto pa = predict_split(a.net, a.spec.head, test.images, test.labels, a.meta.normalization);
  auto pb = predict_split(b.net, b.spec.head, test.images, test.labels, b.meta.normalization);
  const double agree = pa.predicted.eq(pb.predicted).to(torch::kFloat64).mean().item<double>();
  std::printf(
      "bf16 inference agrees with fp32 on %.2f%% of the test set (accuracy %.2f%% vs "
      "%.2f%%)\n",
      100 * agree, 100 * pb.accuracy, 100 * pa.accuracy);
  EXPECT_GE(agree, 0.998);
  EXPECT_NEAR(pb.accuracy, pa.accuracy, 0.001);
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
