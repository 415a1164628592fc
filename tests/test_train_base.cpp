// Torch-free parts of training: metrics, early stopping, lr schedules, option validation.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

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

TEST(Metrics, MacroAndWeightedAveragesAsScikitLearnPrintsThem) {
  ConfusionMatrix cm(3);
  cm.add(0, 0, 8);
  cm.add(0, 1, 2);
  cm.add(1, 1, 5);
  cm.add(2, 2, 3);
  cm.add(2, 0, 2);
  // Per class (precision, recall, F1, support): (.8, .8, .8, 10), (5/7, 1, 5/6, 5), (1, .6, .75,
  // 5).
  const AveragedScores a = average_scores(cm);
  EXPECT_DOUBLE_EQ(a.macro.precision, (0.8 + 5.0 / 7.0 + 1.0) / 3.0);
  EXPECT_DOUBLE_EQ(a.macro.recall, 0.8);
  EXPECT_DOUBLE_EQ(a.macro.f1, (0.8 + 5.0 / 6.0 + 0.75) / 3.0);
  EXPECT_DOUBLE_EQ(a.weighted.precision, (8.0 + 25.0 / 7.0 + 5.0) / 20.0);
  EXPECT_DOUBLE_EQ(a.weighted.recall, cm.accuracy());  // support-weighted recall is accuracy
  EXPECT_DOUBLE_EQ(a.weighted.f1, (8.0 + 25.0 / 6.0 + 3.75) / 20.0);
  EXPECT_EQ(a.macro.support, 20);
  EXPECT_EQ(a.weighted.support, 20);
  const AveragedScores none = average_scores(ConfusionMatrix(2));
  EXPECT_EQ(none.weighted.f1, 0.0);
  EXPECT_EQ(none.macro.precision, 0.0);
}

TEST(Metrics, RocAndAveragePrecisionOfFourScores) {
  // scikit-learn's documented example: roc_auc_score 0.75, average_precision_score 0.8333.
  const std::vector<double> scores = {0.1, 0.4, 0.35, 0.8};
  const std::vector<bool> positive = {false, false, true, true};
  const RocCurve roc = roc_curve(scores, positive);
  EXPECT_DOUBLE_EQ(roc.auc, 0.75);
  EXPECT_EQ(roc.fpr, (std::vector<double>{0, 0, 0.5, 0.5, 1}));
  EXPECT_EQ(roc.tpr, (std::vector<double>{0, 0.5, 0.5, 1, 1}));
  const PrCurve pr = pr_curve(scores, positive);
  EXPECT_DOUBLE_EQ(pr.average_precision, 0.5 * 1.0 + 0.5 * (2.0 / 3.0));
  EXPECT_EQ(pr.recall, (std::vector<double>{0, 0.5, 0.5, 1, 1}));
  EXPECT_DOUBLE_EQ(pr.precision[3], 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(pr.precision[4], 0.5);
}

TEST(Metrics, TiedScoresAreOneThreshold) {
  // 0.9 (pos), then 0.5 twice (one pos, one neg): one diagonal step, as scikit-learn draws it.
  const std::vector<double> scores = {0.9, 0.5, 0.5, 0.1};
  const std::vector<bool> positive = {true, true, false, false};
  const RocCurve roc = roc_curve(scores, positive);
  EXPECT_EQ(roc.fpr, (std::vector<double>{0, 0, 0.5, 1}));
  EXPECT_EQ(roc.tpr, (std::vector<double>{0, 0.5, 1, 1}));
  EXPECT_DOUBLE_EQ(roc.auc, 0.5 * 0.75 + 0.5);
  EXPECT_DOUBLE_EQ(pr_curve(scores, positive).average_precision, 0.5 + 0.5 * (2.0 / 3.0));
  // All scores equal: chance level for both.
  const std::vector<double> flat = {0.3, 0.3, 0.3, 0.3};
  const std::vector<bool> half = {true, false, true, false};
  EXPECT_DOUBLE_EQ(roc_curve(flat, half).auc, 0.5);
  EXPECT_DOUBLE_EQ(pr_curve(flat, half).average_precision, 0.5);
  // Without positives (or negatives) the curves are undefined.
  EXPECT_TRUE(std::isnan(roc_curve(flat, {false, false, false, false}).auc));
  EXPECT_TRUE(std::isnan(roc_curve(flat, {true, true, true, true}).auc));
  EXPECT_TRUE(std::isnan(pr_curve(flat, {false, false, false, false}).average_precision));
  EXPECT_THROW(roc_curve(flat, {true}), std::invalid_argument);
}

TEST(Metrics, OneVsRestAveragesTheDefinedClasses) {
  // Class 0 is ranked perfectly, class 1 backwards, class 2 never occurs.
  const std::vector<std::vector<double>> p = {
      {0.9, 0.05, 0.05}, {0.6, 0.3, 0.1}, {0.2, 0.01, 0.79}};
  const std::vector<int> labels = {0, 0, 1};
  const OneVsRest o = one_vs_rest(p, labels, 3);
  ASSERT_EQ(o.roc.size(), 3u);
  EXPECT_DOUBLE_EQ(o.roc[0].auc, 1.0);
  EXPECT_DOUBLE_EQ(o.roc[1].auc, 0.0);
  EXPECT_TRUE(std::isnan(o.roc[2].auc));
  EXPECT_DOUBLE_EQ(o.macro_roc_auc, 0.5);
  EXPECT_DOUBLE_EQ(o.pr[0].average_precision, 1.0);
  EXPECT_DOUBLE_EQ(o.pr[1].average_precision, 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(o.macro_average_precision, (1.0 + 1.0 / 3.0) / 2.0);
  EXPECT_THROW(one_vs_rest({{0.5}}, {0}, 2), std::invalid_argument);
}

TEST(Metrics, ThinnedCurvesKeepTheEndsAndVisibleSteps) {
  std::vector<double> x, y;
  for (int i = 0; i <= 10000; ++i) x.push_back(i / 10000.0), y.push_back(std::sqrt(i / 10000.0));
  const auto t = thin_curve(x, y, 100);
  EXPECT_LE(t.size(), 202u);
  EXPECT_GE(t.size(), 50u);
  EXPECT_EQ(t.front(), std::make_pair(0.0, 0.0));
  EXPECT_EQ(t.back(), std::make_pair(1.0, 1.0));
  EXPECT_EQ(thin_curve({0.5}, {0.5}).size(), 1u);
  EXPECT_TRUE(thin_curve({}, {}).empty());
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

// last.pt carries the state through text; a state that does not parse changes nothing.
TEST(EarlyStopping, RestoreContinuesIdenticallyAndABadStateChangesNothing) {
  EarlyStoppingOptions o;
  o.patience = 3;
  EarlyStopping whole(o), resumed(o);
  for (auto [epoch, loss] : {std::pair{1, 0.5}, {2, 0.4}, {3, 0.45}}) whole.update(epoch, loss);
  resumed.restore(nlohmann::json::parse(whole.state().dump()));
  EXPECT_EQ(resumed.state(), whole.state());
  EXPECT_EQ(resumed.best_epoch(), 2);
  EXPECT_EQ(resumed.wait(), 1);
  for (auto [epoch, loss] : {std::pair{4, 0.41}, {5, 0.39}, {6, 0.5}}) {
    EXPECT_EQ(resumed.update(epoch, loss), whole.update(epoch, loss)) << epoch;
    EXPECT_EQ(resumed.state(), whole.state()) << epoch;
  }
  nlohmann::json bad = whole.state();
  bad.erase("best_epoch");
  bad["wait"] = 7;
  bad["best"] = 0.01;
  EXPECT_THROW(resumed.restore(bad), core::RuntimeError);
  EXPECT_EQ(resumed.state(), whole.state());
  EXPECT_THROW(resumed.restore(nlohmann::json{{"best_epoch", 1}, {"has_best", "yes"}}),
               core::RuntimeError);
  EXPECT_EQ(resumed.state(), whole.state());
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

ScheduleSpec spec_of(const std::string& schedule, int epochs, int64_t steps_per_epoch,
                     double warmup_epochs = 0) {
  TrainOptions o;
  o.lr = 0.1;
  o.lr_schedule = schedule;
  o.epochs = epochs;
  o.warmup_epochs = warmup_epochs;
  o.lr_step = 3;
  o.lr_gamma = 0.5;
  return schedule_spec(o, steps_per_epoch);
}

TEST(Schedule, StepDecaysAtEpochBoundaries) {
  const ScheduleSpec s = spec_of("step", 10, 4);
  // Epochs 0-2 at lr, 3-5 at lr/2, 6-8 at lr/4, 9 at lr/8: every step of an epoch alike.
  for (int64_t step = 0; step < 40; ++step) {
    const int64_t epoch = step / 4;
    const double expected = 0.1 * (epoch < 3 ? 1 : epoch < 6 ? 0.5 : epoch < 9 ? 0.25 : 0.125);
    EXPECT_DOUBLE_EQ(scheduled_lr(s, step, nullptr), expected) << step;
  }
  // gamma 1 never decays.
  ScheduleSpec flat = s;
  flat.gamma = 1;
  EXPECT_EQ(scheduled_lr(flat, 39, nullptr), 0.1);
}

TEST(Schedule, WarmUpRampsLinearlyThenHandsOverToCosine) {
  // Half an epoch of 10 steps: 5 warm-up steps at lr/5, 2lr/5, ..., lr.
  const ScheduleSpec s = spec_of("cosine", 3, 10, 0.5);
  EXPECT_EQ(s.warmup_steps, 5);
  EXPECT_EQ(s.total_steps, 30);
  for (int64_t step = 0; step < 5; ++step) {
    EXPECT_NEAR(scheduled_lr(s, step, nullptr), 0.1 * double(step + 1) / 5, 1e-15) << step;
  }
  // The cosine decay spans the 25 steps after the warm-up: the peak right after it, half way
  // at 12.5 steps in, and near 0 at the last step.
  EXPECT_DOUBLE_EQ(scheduled_lr(s, 5, nullptr), 0.1);
  EXPECT_NEAR(scheduled_lr(s, 5 + 10, nullptr), scheduled_lr("cosine", 0.1, 10, 25), 1e-15);
  EXPECT_GT(scheduled_lr(s, 6, nullptr), scheduled_lr(s, 7, nullptr));
  EXPECT_NEAR(scheduled_lr(s, 29, nullptr), scheduled_lr("cosine", 0.1, 24, 25), 1e-15);
  EXPECT_LT(scheduled_lr(s, 29, nullptr), 0.001);
  // Without a warm-up, exactly the plain cosine schedule.
  const ScheduleSpec plain = spec_of("cosine", 3, 10);
  EXPECT_EQ(plain.warmup_steps, 0);
  for (int64_t step = 0; step < 30; ++step) {
    EXPECT_EQ(scheduled_lr(plain, step, nullptr), scheduled_lr("cosine", 0.1, step, 30));
  }
  // Warm-up under constant and step, and a tiny warm-up still takes one step.
  const ScheduleSpec c = spec_of("constant", 2, 8, 1);
  EXPECT_DOUBLE_EQ(scheduled_lr(c, 0, nullptr), 0.1 / 8);
  EXPECT_DOUBLE_EQ(scheduled_lr(c, 3, nullptr), 0.1 / 2);
  EXPECT_EQ(scheduled_lr(c, 8, nullptr), 0.1);
  EXPECT_DOUBLE_EQ(scheduled_lr(spec_of("step", 9, 4, 0.5), 1, nullptr), 0.1);
  EXPECT_DOUBLE_EQ(scheduled_lr(spec_of("step", 9, 4, 0.5), 12, nullptr), 0.05);
  EXPECT_EQ(spec_of("constant", 2, 8, 0.01).warmup_steps, 1);
}

PlateauOptions plateau_of(const std::string& monitor, int patience, double min_lr) {
  PlateauOptions p;
  p.monitor = monitor;
  p.patience = patience;
  p.gamma = 0.5;
  p.lr = 0.1;
  p.min_lr = min_lr;
  return p;
}

TEST(Plateau, ReducesAfterExactlyPatienceBadEpochsAndStartsCountingAgain) {
  PlateauTracker t(plateau_of("val_loss", 2, 0));
  EXPECT_FALSE(t.update(1.0));  // the first value is the best
  EXPECT_FALSE(t.update(0.9));  // better
  EXPECT_EQ(t.lr(), 0.1);
  EXPECT_FALSE(t.update(0.95));  // bad 1
  EXPECT_EQ(t.lr(), 0.1);
  EXPECT_TRUE(t.update(0.9));  // bad 2 (equal is no improvement): reduced
  EXPECT_DOUBLE_EQ(t.lr(), 0.05);
  EXPECT_EQ(t.wait(), 0);
  EXPECT_FALSE(t.update(0.92));  // the count started again: one bad epoch is not enough
  EXPECT_DOUBLE_EQ(t.lr(), 0.05);
  EXPECT_FALSE(t.update(0.8));  // an improvement resets the count
  EXPECT_FALSE(t.update(0.85));
  EXPECT_TRUE(t.update(std::nan("")));  // a diverged epoch never improves
  EXPECT_DOUBLE_EQ(t.lr(), 0.025);
  EXPECT_EQ(t.best(), 0.8);

  // val_acc rises; min_delta demands more than a small gain.
  PlateauOptions acc = plateau_of("val_acc", 1, 0);
  acc.min_delta = 0.01;
  PlateauTracker a(acc);
  EXPECT_FALSE(a.update(0.90));
  EXPECT_TRUE(a.update(0.905));  // +0.005 is within min_delta
  EXPECT_DOUBLE_EQ(a.lr(), 0.05);
  EXPECT_FALSE(a.update(0.92));
  EXPECT_DOUBLE_EQ(a.lr(), 0.05);
}

TEST(Plateau, FloorHoldsTheRate) {
  PlateauTracker t(plateau_of("val_loss", 1, 0.03));
  t.update(1.0);
  EXPECT_TRUE(t.update(1.0));
  EXPECT_DOUBLE_EQ(t.lr(), 0.05);
  EXPECT_TRUE(t.update(1.0));  // 0.025 is below the floor: held at 0.03
  EXPECT_EQ(t.lr(), 0.03);
  for (int i = 0; i < 2000; ++i) EXPECT_FALSE(t.update(1.0));
  EXPECT_EQ(t.lr(), 0.03);
}

TEST(Plateau, RestoredStateContinuesIdentically) {
  const std::vector<double> losses = {1.0, 0.9, 0.95, 0.93, 0.91, 0.92, 0.7, 0.75, 0.8, 0.74, 0.9};
  for (size_t cut = 0; cut <= losses.size(); ++cut) {
    PlateauTracker whole(plateau_of("val_loss", 2, 0.001)), first(plateau_of("val_loss", 2, 0.001));
    for (size_t i = 0; i < cut; ++i) {
      whole.update(losses[i]);
      first.update(losses[i]);
    }
    // Through text, as last.pt stores it.
    PlateauTracker resumed(plateau_of("val_loss", 2, 0.001));
    resumed.restore(nlohmann::json::parse(first.state().dump()));
    EXPECT_EQ(resumed.lr(), whole.lr()) << cut;
    const ScheduleSpec s = spec_of("plateau", 20, 4, 1.5);
    EXPECT_EQ(scheduled_lr(s, 4 * int64_t(cut) + 1, &resumed),
              scheduled_lr(s, 4 * int64_t(cut) + 1, &whole));
    for (size_t i = cut; i < losses.size(); ++i) {
      EXPECT_EQ(resumed.update(losses[i]), whole.update(losses[i])) << cut << " " << i;
      EXPECT_EQ(resumed.lr(), whole.lr()) << cut << " " << i;
      EXPECT_EQ(resumed.state(), whole.state()) << cut << " " << i;
    }
  }
  // The uninterrupted sequence itself: reductions after epochs 4, 6, 9 and 11 (patience 2).
  PlateauTracker t(plateau_of("val_loss", 2, 0.001));
  std::vector<double> rates;
  for (double l : losses) {
    t.update(l);
    rates.push_back(t.lr());
  }
  EXPECT_EQ(rates, (std::vector<double>{0.1, 0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.025, 0.0125,
                                        0.0125, 0.00625}));
  PlateauTracker bad(plateau_of("val_loss", 2, 0));
  EXPECT_THROW(bad.restore(nlohmann::json{{"wait", 1}}), core::RuntimeError);
  nlohmann::json no_lr = t.state();
  no_lr.erase("lr");
  EXPECT_THROW(bad.restore(no_lr), core::RuntimeError);
  EXPECT_EQ(bad.state(), PlateauTracker(plateau_of("val_loss", 2, 0)).state());  // unchanged
}

TEST(Plateau, ScheduleFollowsTheTrackerWithWarmUp) {
  PlateauTracker t(plateau_of("val_loss", 1, 0));
  const ScheduleSpec s = spec_of("plateau", 5, 4, 0.5);  // 2 warm-up steps
  EXPECT_DOUBLE_EQ(scheduled_lr(s, 0, &t), 0.05);
  EXPECT_EQ(scheduled_lr(s, 2, &t), 0.1);
  t.update(1.0);
  t.update(1.0);
  EXPECT_DOUBLE_EQ(scheduled_lr(s, 8, &t), 0.05);
  const PlateauOptions p = plateau_options([] {
    TrainOptions o;
    o.lr_schedule = "plateau";
    o.lr_patience = 4;
    o.lr_gamma = 0.2;
    o.lr_min = 1e-5;
    o.early_stopping.monitor = "val_acc";
    o.early_stopping.min_delta = 0.001;
    return o;
  }());
  EXPECT_EQ(p.patience, 4);
  EXPECT_EQ(p.gamma, 0.2);
  EXPECT_EQ(p.min_lr, 1e-5);
  EXPECT_EQ(p.lr, 1e-3);
  EXPECT_EQ(p.monitor, "val_acc");
  EXPECT_EQ(p.min_delta, 0.001);
}

TEST(Options, SchedulesWarmUpAndLabelSmoothing) {
  auto error_for = [](const std::vector<std::pair<std::string, std::string>>& values) {
    core::Settings s;
    for (const auto& [k, v] : values) s.set(k, v, core::Source::kFlag);
    try {
      train_options_from(s);
    } catch (const core::UsageError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_EQ(error_for({{"lr_step", "0"}}), "--lr-step: must be 1 to 100000");
  EXPECT_EQ(error_for({{"lr_gamma", "0"}}), "--lr-gamma: must be above 0 and at most 1");
  EXPECT_EQ(error_for({{"lr_gamma", "1.5"}}), "--lr-gamma: must be above 0 and at most 1");
  EXPECT_EQ(error_for({{"lr_gamma", "1"}}), "");
  EXPECT_EQ(error_for({{"lr_patience", "0"}}), "--lr-patience: must be 1 to 100000");
  EXPECT_EQ(error_for({{"lr_min", "-1"}}), "--lr-min: must be 0 or more and below --lr");
  EXPECT_EQ(error_for({{"lr_min", "0.01"}, {"lr", "0.01"}}),
            "--lr-min: must be 0 or more and below --lr");
  EXPECT_EQ(error_for({{"warmup_epochs", "-0.5"}}), "--warmup-epochs: must be 0 to 100000");
  EXPECT_NE(error_for({{"warmup_epochs", "nan"}}).find("warmup"), std::string::npos);
  EXPECT_EQ(error_for({{"warmup_epochs", "1"}, {"lr_schedule", "onecycle"}}),
            "--warmup-epochs: onecycle warms up by itself; use it with constant, cosine, step or "
            "plateau");
  EXPECT_EQ(error_for({{"label_smoothing", "1"}}), "--label-smoothing: must be in [0, 1)");
  EXPECT_EQ(error_for({{"label_smoothing", "-0.1"}}), "--label-smoothing: must be in [0, 1)");
  EXPECT_EQ(error_for({{"lr_schedule", "plateau"}, {"val_split", "0"}}),
            "--lr-schedule: plateau needs a validation split (--val-split above 0)");
  EXPECT_EQ(error_for({{"lr_schedule", "step"}}), "");

  core::Settings s;
  for (const auto& [k, v] :
       std::vector<std::pair<std::string, std::string>>{{"lr_schedule", "plateau"},
                                                        {"lr_step", "4"},
                                                        {"lr_gamma", "0.3"},
                                                        {"lr_patience", "2"},
                                                        {"lr_min", "1e-5"},
                                                        {"warmup_epochs", "0.5"},
                                                        {"label_smoothing", "0.1"}}) {
    s.set(k, v, core::Source::kConfig);
  }
  const TrainOptions o = train_options_from(s);
  EXPECT_EQ(o.lr_schedule, "plateau");
  EXPECT_EQ(o.lr_step, 4);
  EXPECT_EQ(o.lr_gamma, 0.3);
  EXPECT_EQ(o.lr_patience, 2);
  EXPECT_EQ(o.lr_min, 1e-5);
  EXPECT_EQ(o.warmup_epochs, 0.5);
  EXPECT_EQ(o.label_smoothing, 0.1);
  const TrainOptions back = train_options_from_json(to_json(o));
  EXPECT_EQ(to_json(back)["lr_patience"], 2);
  EXPECT_EQ(to_json(back)["warmup_epochs"], 0.5);
  EXPECT_EQ(to_json(back)["label_smoothing"], 0.1);
  EXPECT_EQ(to_json(back)["lr_min"], 1e-5);
  for (const char* key :
       {"lr_step", "lr_gamma", "lr_patience", "lr_min", "warmup_epochs", "label_smoothing"}) {
    const auto& keys = train_option_keys();
    EXPECT_NE(std::find(keys.begin(), keys.end(), key), keys.end()) << key;
  }
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
  EXPECT_EQ(error_for("lr_schedule", "exponential"),
            "--lr-schedule: unknown 'exponential' (allowed: constant, cosine, onecycle, step, "
            "plateau)");
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

TEST(Options, SplitSeedFollowsSeedUnlessGiven) {
  core::Settings s;
  s.set("seed", "7", core::Source::kFlag);
  TrainOptions o = train_options_from(s);
  EXPECT_FALSE(o.split_seed.has_value());
  EXPECT_EQ(split_seed_of(o), 7u);
  EXPECT_EQ(to_json(o)["split_seed"], 7) << "checkpoints record the seed their split came from";
  s.set("split_seed", "3", core::Source::kFlag);
  o = train_options_from(s);
  EXPECT_EQ(o.seed, 7u);
  EXPECT_EQ(split_seed_of(o), 3u);
  EXPECT_EQ(split_seed_of(train_options_from_json(to_json(o))), 3u);
  // A checkpoint written before split_seed existed drew its split from its seed.
  nlohmann::json old = to_json(o);
  old.erase("split_seed");
  EXPECT_EQ(split_seed_of(train_options_from_json(old)), 7u);
  s.set("split_seed", "-1", core::Source::kFlag);
  try {
    train_options_from(s);
    ADD_FAILURE() << "a negative split seed was accepted";
  } catch (const core::UsageError& e) {
    EXPECT_STREQ(e.what(), "--split-seed: must not be negative");
  }
}

}  // namespace
}  // namespace digitlab::train
