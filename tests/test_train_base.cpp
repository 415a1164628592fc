// Torch-free parts of training: confusion-matrix metrics, early stopping, option validation.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/error.h"
#include "train/early_stopping.h"
#include "train/metrics.h"
#include "train/options.h"
#include "train/schedule.h"

namespace digitlab::train {
namespace {

TEST(Metrics, ConfusionScores) {
  ConfusionMatrix cm(3);
  // truth 0: 8 right, 2 as class 1; truth 1: 5 right; truth 2: 3 right, 2 as class 0.
  cm.add(0, 0, 8);
  cm.add(0, 1, 2);
  cm.add(1, 1, 5);
  cm.add(2, 2, 3);
  cm.add(2, 0, 2);
  EXPECT_EQ(cm.total(), 20);
  EXPECT_DOUBLE_EQ(cm.accuracy(), 16.0 / 20.0);
  ClassScores s0 = cm.scores(0);
  EXPECT_DOUBLE_EQ(s0.precision, 8.0 / 10.0);
  EXPECT_DOUBLE_EQ(s0.recall, 8.0 / 10.0);
  EXPECT_DOUBLE_EQ(s0.f1, 0.8);
  ClassScores s1 = cm.scores(1);
  EXPECT_DOUBLE_EQ(s1.precision, 5.0 / 7.0);
  EXPECT_DOUBLE_EQ(s1.recall, 1.0);
  EXPECT_EQ(s1.support, 5);
  EXPECT_EQ(cm.to_json()[2][0], 2);
  EXPECT_EQ(cm.to_csv({"a", "b,c", "d"}),
            "true\\pred,a,\"b,c\",d\na,8,2,0\n\"b,c\",0,5,0\nd,2,0,3\n");
  ConfusionMatrix empty(2);
  EXPECT_EQ(empty.accuracy(), 0.0);
  EXPECT_EQ(empty.scores(1).f1, 0.0);
}

TEST(EarlyStopping, PatienceOnLoss) {
  EarlyStoppingOptions o;
  o.patience = 2;
  EarlyStopping es(o);
  EXPECT_TRUE(es.update(1, 0.5));
  EXPECT_TRUE(es.update(2, 0.4));
  EXPECT_FALSE(es.update(3, 0.41));
  EXPECT_FALSE(es.should_stop());
  EXPECT_FALSE(es.update(4, 0.40));  // equal is no improvement
  EXPECT_TRUE(es.should_stop());
  EXPECT_EQ(es.best_epoch(), 2);
  EXPECT_DOUBLE_EQ(es.best_value(), 0.4);
}

TEST(EarlyStopping, ADivergedEpochIsNeverTheBest) {
  EarlyStoppingOptions o;
  o.patience = 2;
  EarlyStopping es(o);
  EXPECT_FALSE(es.update(1, std::nan("")));
  EXPECT_TRUE(es.update(2, 0.5));  // the first finite value is the first best
  EXPECT_FALSE(es.update(3, std::numeric_limits<double>::infinity()));
  EXPECT_EQ(es.best_epoch(), 2);
}

TEST(EarlyStopping, MinDeltaAndAccuracy) {
  EarlyStoppingOptions o;
  o.patience = 1;
  o.monitor = "val_acc";
  o.min_delta = 0.01;
  EarlyStopping es(o);
  EXPECT_TRUE(es.update(1, 0.90));
  EXPECT_FALSE(es.update(2, 0.905));  // +0.005 < min_delta
  EXPECT_TRUE(es.should_stop());
  EarlyStopping es2(o);
  es2.update(1, 0.90);
  EXPECT_TRUE(es2.update(2, 0.92));
  EXPECT_FALSE(es2.should_stop());
  EarlyStoppingOptions off;
  EarlyStopping never(off);
  for (int e = 1; e < 10; ++e) never.update(e, 1.0);
  EXPECT_FALSE(never.should_stop());
}

TEST(Schedule, ConstantCosineAndOneCycle) {
  EXPECT_EQ(scheduled_lr("constant", 0.1, 50, 100), 0.1);
  EXPECT_DOUBLE_EQ(scheduled_lr("cosine", 0.1, 0, 100), 0.1);
  EXPECT_NEAR(scheduled_lr("cosine", 0.1, 50, 100), 0.05, 1e-12);
  EXPECT_NEAR(scheduled_lr("cosine", 0.1, 100, 100), 0.0, 1e-12);
  // One-cycle: lr/25 at the start, the peak at 30% of the steps, lr/25e4 at the end, rising
  // before the peak and falling after it.
  EXPECT_NEAR(scheduled_lr("onecycle", 0.1, 0, 1000), 0.004, 1e-12);
  EXPECT_NEAR(scheduled_lr("onecycle", 0.1, 300, 1000), 0.1, 1e-12);
  EXPECT_NEAR(scheduled_lr("onecycle", 0.1, 1000, 1000), 0.1 / 25e4, 1e-12);
  for (int s = 1; s <= 1000; ++s) {
    const double prev = scheduled_lr("onecycle", 0.1, s - 1, 1000);
    const double now = scheduled_lr("onecycle", 0.1, s, 1000);
    if (s <= 300) {
      EXPECT_GT(now, prev) << s;
    } else {
      EXPECT_LT(now, prev) << s;
    }
  }
  EXPECT_EQ(scheduled_lr("onecycle", 0.1, 5, 0), 0.1);
}

TEST(Options, ValidationNamesTheFlag) {
  auto error_for = [](const std::string& key, const std::string& value) {
    core::Settings s;
    s.set(key, value, core::Source::kFlag);
    try {
      train_options_from(s);
    } catch (const core::UsageError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_EQ(error_for("epochs", "0"), "--epochs: must be 1 to 100000");
  EXPECT_EQ(error_for("optimizer", "lbfgs"),
            "--optimizer: unknown 'lbfgs' (allowed: adam, adamw, sgd, rmsprop)");
  EXPECT_EQ(error_for("monitor", "loss"), "--monitor: unknown 'loss' (allowed: val_loss, val_acc)");
  EXPECT_EQ(error_for("lr", "-1"), "--lr: must be above 0 and below 100");
  EXPECT_EQ(error_for("init", "he"), "--init: unknown 'he' (allowed: torch, glorot)");
  EXPECT_EQ(error_for("test_every", "-2"), "--test-every: must be 0 (off) or more");
  EXPECT_EQ(error_for("precision", "fp16"),
            "--precision: unknown 'fp16' (allowed: auto, fp32, bf16)");
  EXPECT_EQ(error_for("device", "tpu"), "--device: unknown 'tpu' (allowed: cpu, cuda, auto)");
  EXPECT_EQ(error_for("lr_schedule", "step"),
            "--lr-schedule: unknown 'step' (allowed: constant, cosine, onecycle)");
  core::Settings s;
  s.set("early_stopping", "3", core::Source::kFlag);
  s.set("val_split", "0", core::Source::kFlag);
  EXPECT_THROW(train_options_from(s), core::UsageError);
  core::Settings ok;
  ok.set("epochs", "7", core::Source::kConfig);
  ok.set("init", "glorot", core::Source::kEnv);
  TrainOptions o = train_options_from(ok);
  EXPECT_EQ(o.epochs, 7);
  EXPECT_EQ(o.batch_size, 64);
  EXPECT_EQ(o.init, "glorot");
  EXPECT_EQ(o.test_every, 0);
  EXPECT_EQ(train_options_from_json(to_json(o)).epochs, 7);
  EXPECT_EQ(train_options_from_json(to_json(o)).init, "glorot");
}

}  // namespace
}  // namespace digitlab::train
