// Training end to end through the library: accuracy, determinism, early stopping, schedules.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <signal.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/files.h"
#include "core/interrupt.h"
#include "core/settings.h"
#include "data/dataset.h"
#include "models/builder.h"
#include "test_util.h"
#include "train/checkpoint.h"
#include "train/evaluate.h"
#include "train/precision.h"
#include "train/saliency.h"
#include "train/train_commands.h"
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

// 600 synthetic training digits and 50 test digits, and a folder for the runs trained on them.
struct SyntheticRuns {
  TempDir data, dir;
  SyntheticRuns() { testing::write_synthetic_mnist(data.path(), 600, 50); }
  // small_options over all 600 digits, 100 of them held out for validation, into dir/name.
  TrainOptions options(const std::string& name) const {
    TrainOptions o = small_options(data.path(), dir / name);
    o.train_limit = 0;
    o.val_split = 100;
    return o;
  }
};

TEST(Saliency, OneNonNegativeMapPerImageScaledToItsPeak) {
  torch::manual_seed(3);
  auto net = models::build_network(models::parse_spec("C4-P-16-10"));
  net->eval();
  const torch::Tensor images = torch::randint(0, 256, {5, 28, 28}, torch::kUInt8);
  const torch::Tensor classes = torch::tensor({0, 3, 9, 3, 1}, torch::kInt64);
  data::Normalization norm;
  norm.mean = 0.13, norm.std = 0.31;
  const torch::Tensor maps = train::saliency_maps(net, images, classes, norm);
  ASSERT_EQ(maps.sizes(), (std::vector<int64_t>{5, 28, 28}));
  EXPECT_EQ(maps.scalar_type(), torch::kFloat32);
  EXPECT_GE(maps.min().item<float>(), 0.0f);
  for (int64_t i = 0; i < 5; ++i) {
    EXPECT_FLOAT_EQ(maps[i].max().item<float>(), 1.0f) << i;
    EXPECT_GT(maps[i].std().item<float>(), 0.01f) << "map " << i << " is constant";
  }
  // The eval mode stays, and the parameters gather no gradient.
  EXPECT_FALSE(net->is_training());
  for (const auto& p : net->parameters()) EXPECT_FALSE(p.grad().defined());
  // Another class of the same image explains it differently.
  const torch::Tensor other =
      train::saliency_maps(net, images.narrow(0, 0, 1), torch::tensor({5}, torch::kInt64), norm);
  EXPECT_FALSE(torch::allclose(other[0], maps[0]));

  const std::vector<int64_t> picks =
      train::saliency_picks(torch::tensor({0, 1, 2, 3, 4, 5}, torch::kInt64),
                            torch::tensor({0, 7, 2, 7, 4, 5}, torch::kInt64), 4);
  EXPECT_EQ(picks, (std::vector<int64_t>{1, 3, 0, 2}));  // the two mistakes, then right ones
  const std::string png = train::saliency_png(images, maps, {0, 1, 2, 3, 4}, {0, 3, 9, 3, 1});
  EXPECT_EQ(png.substr(1, 3), "PNG");
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

// bf16 against fp32: same seed and protocol (seed-002 CNN, one epoch with a cosine
// schedule on all 60,000 training images, batch 64), test accuracies within 0.15 points; then the
// bf16 inference path on the fp32 model agrees with fp32 inference on nearly every test image.
// Where the CPU has no native bf16, emulated bf16 trains about 20x slower (over ten minutes):
// the training comparison is skipped there, with a message (bf16 inference, about 20 s there,
// is still compared).
TEST(Train, Bf16TrainsAsWellAsFp32AndInfersTheSameDigits) {
  const std::string root = testing::real_data_root();
  if (!core::file_exists(root + "/mnist/train-images-idx3-ubyte")) {
    GTEST_SKIP() << "MNIST not fetched under " << root << " (scripts/setup fetches it)";
  }
  const bool native = cpu_has_native_bf16();
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
  const double fp32 = accuracy("fp32");
  EXPECT_GT(fp32, 0.97);
  if (native) {
    const double bf16 = accuracy("bf16");
    std::printf("one epoch, test accuracy: fp32 %.2f%%, bf16 %.2f%%\n", 100 * fp32, 100 * bf16);
    EXPECT_NEAR(bf16, fp32, 0.0015);
  } else {
    std::printf(
        "no native bf16 on this CPU: bf16 training is not compared (emulated, ~20x slower)\n");
  }

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
  SyntheticRuns runs;
  const TempDir& dir = runs.dir;
  TrainOptions o = runs.options("run");
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
  SyntheticRuns runs;
  for (const std::string model : {"knn3", "logreg", "linear-svm"}) {
    TrainOptions o = runs.options(model);
    o.model = model;
    o.epochs = 3;
    auto h = train(o, {}).history;
    ASSERT_EQ(h.size(), model == "knn3" ? 1u : 3u) << model;
    EXPECT_GT(*h.back().val_acc, 0.9) << model;
    EXPECT_EQ(load_checkpoint(runs.dir / model).meta.model, model);
  }
}

TEST(Train, TinyResidualNetLearnsInOneEpoch) {
  SyntheticRuns runs;
  TrainOptions o = runs.options("res");
  o.arch = "C4-P-R(C4-BN-C4)-R(C8)-P-10";
  o.train_limit = 300;
  o.val_split = 60;
  const auto h = train(o, {}).history;
  ASSERT_EQ(h.size(), 1u);
  EXPECT_GT(*h.back().val_acc, 0.3);  // chance is 0.1
  LoadedCheckpoint ck = load_checkpoint(runs.dir / "res");
  EXPECT_EQ(ck.meta.spec, o.arch);
  EXPECT_EQ(ck.meta.parameters, models::count_parameters(ck.spec));

  // summary reads the run's spec and classes from its checkpoint.
  SummaryOptions so;
  so.target = runs.dir / "res";
  so.json = true;
  ::testing::internal::CaptureStdout();
  EXPECT_EQ(summary_command(so), 0);
  const auto j = nlohmann::json::parse(::testing::internal::GetCapturedStdout());
  EXPECT_EQ(j["spec"], o.arch);
  EXPECT_EQ(j["total_parameters"], ck.meta.parameters);
  EXPECT_EQ(j["batch_norm_statistics"], 8);
  EXPECT_EQ(j["layers"].back()["output_shape"], nlohmann::json::parse("[10]"));
  EXPECT_EQ(j["layers"][3]["depth"], 1);  // the first conv inside residual_1
  so.dataset = "mnist";
  EXPECT_THROW(summary_command(so), core::UsageError);  // a run has its own classes
}

TEST(Summary, CommandTakesOneSourceAndNamesWhatIsWrong) {
  auto text_of = [](SummaryOptions o) {
    ::testing::internal::CaptureStdout();
    summary_command(o);
    return ::testing::internal::GetCapturedStdout();
  };
  SummaryOptions zoo;
  zoo.model = "seed002-cnn";
  const std::string table = text_of(zoo);
  EXPECT_EQ(table.rfind("Model: \"seed002-cnn\" (C32-P-C64-P-128-10-logsoftmax)\n", 0), 0u)
      << table;
  EXPECT_NE(table.find("Total params: 421,642\n"), std::string::npos) << table;
  SummaryOptions pieces;  // 11 classes: 0-9 and none
  pieces.arch = "C4-P-16-11";
  pieces.dataset = "mnist-pieces";
  EXPECT_NE(text_of(pieces).find("Total params: 12,787\n"), std::string::npos);

  auto error_of = [](SummaryOptions o) -> std::string {
    try {
      summary_command(o);
    } catch (const core::UsageError& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(error_of({}).find("give exactly one of --model"), std::string::npos);
  SummaryOptions both = zoo;
  both.arch = "10";
  EXPECT_NE(error_of(both).find("give exactly one of"), std::string::npos);
  SummaryOptions bad;
  bad.arch = "C8-R(C8-P)-10";
  EXPECT_NE(error_of(bad).find("token 2.2 'P': a pool cannot go inside"), std::string::npos);
  pieces.arch = "C4-P-16-10";
  EXPECT_NE(error_of(pieces).find("there are 11 classes"), std::string::npos);
  SummaryOptions unknown;
  unknown.arch = "10";
  unknown.dataset = "nope";
  EXPECT_NE(error_of(unknown).find("nope"), std::string::npos);
  SummaryOptions missing;
  missing.target = "/nonexistent/run";
  EXPECT_THROW(summary_command(missing), core::RuntimeError);
}

TEST(Train, CosineScheduleEndsNearZero) {
  SyntheticRuns runs;
  TrainOptions o = runs.options("run");
  o.epochs = 3;
  o.lr_schedule = "cosine";
  auto h = train(o, {}).history;
  EXPECT_LT(h[0].lr, o.lr);
  EXPECT_GT(h[0].lr, h[1].lr);
  EXPECT_LT(h[2].lr, o.lr * 0.01);
}

// PyTorch's label smoothing by hand, in doubles: the target puts 1 - e on the true class and e/K
// on every class, and the loss is the cross-entropy against it.
double smoothed_loss_by_hand(const torch::Tensor& logits, const torch::Tensor& targets, double e) {
  const int64_t n = logits.size(0), k = logits.size(1);
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    double max = -1e300, sum = 0;
    for (int64_t j = 0; j < k; ++j) max = std::max(max, logits[i][j].item<double>());
    for (int64_t j = 0; j < k; ++j) sum += std::exp(logits[i][j].item<double>() - max);
    const int64_t y = targets[i].item<int64_t>();
    for (int64_t j = 0; j < k; ++j) {
      const double logp = logits[i][j].item<double>() - max - std::log(sum);
      total -= ((j == y ? 1 - e : 0) + e / double(k)) * logp;
    }
  }
  return total / double(n);
}

TEST(Train, LabelSmoothingLossFollowsTheFormula) {
  const torch::Tensor logits = torch::tensor(
      {{2.0, -1.0, 0.5, 0.0}, {0.1, 0.2, 3.0, -2.0}, {-0.5, 1.5, 1.0, 0.3}}, torch::kFloat64);
  const torch::Tensor y = torch::tensor({0, 3, 1}, torch::kInt64);
  for (double e : {0.0, 0.1, 0.3}) {
    const double expected = smoothed_loss_by_hand(logits, y, e);
    EXPECT_NEAR(models::head_loss(models::Head::kSoftmax, logits, y, e).item<double>(), expected,
                1e-12)
        << e;
    EXPECT_NEAR(models::head_loss(models::Head::kLogSoftmax, torch::log_softmax(logits, 1), y, e)
                    .item<double>(),
                expected, 1e-12)
        << e;
  }
  // Smoothing raises the loss of confident right answers; 0 is the plain loss exactly.
  const torch::Tensor sure = logits.narrow(0, 0, 1), sure_y = y.narrow(0, 0, 1);
  EXPECT_GT(models::head_loss(models::Head::kSoftmax, sure, sure_y, 0.1).item<double>(),
            models::head_loss(models::Head::kSoftmax, sure, sure_y).item<double>());
  EXPECT_EQ(models::head_loss(models::Head::kSoftmax, logits, y, 0).item<double>(),
            models::head_loss(models::Head::kSoftmax, logits, y).item<double>());
  for (auto head : {models::Head::kSigmoid, models::Head::kSvm}) {
    try {
      models::head_loss(head, logits.softmax(1), y, 0.1);
      ADD_FAILURE() << models::head_name(head);
    } catch (const core::UsageError& e) {
      EXPECT_EQ(std::string(e.what()), std::string("--label-smoothing: the ") +
                                           models::head_name(head) +
                                           " head has no smoothed loss (use a softmax or "
                                           "logsoftmax head)");
    }
  }
}

TEST(Train, LabelSmoothingRaisesOnlyTheTrainingLoss) {
  SyntheticRuns runs;
  TrainOptions o = runs.options("smooth");
  o.epochs = 2;
  o.label_smoothing = 0.2;
  const auto h = train(o, {}).history;
  // With e = 0.2 over 10 classes no output gets below the entropy of the smoothed target:
  // 0.82 on the true class and 0.02 on each other one.
  const double floor = -(0.82 * std::log(0.82) + 9 * 0.02 * std::log(0.02));
  for (const auto& e : h) EXPECT_GE(e.train_loss, floor - 1e-6) << e.epoch;
  // The validation loss is the plain cross-entropy, which a model that learned goes below it.
  EXPECT_GT(*h.back().val_acc, 0.9);
  EXPECT_LT(*h.back().val_loss, floor);
  std::printf("label smoothing 0.2: train loss %.4f (floor %.4f), val loss %.4f\n",
              h.back().train_loss, floor, *h.back().val_loss);

  // Heads without a smoothed loss, and k-nearest neighbours, are refused before any work.
  for (const std::string model : {"linear-svm", "knn3"}) {
    TrainOptions bad = runs.options(model);
    bad.model = model;
    bad.label_smoothing = 0.1;
    try {
      train(bad, {});
      ADD_FAILURE() << model;
    } catch (const core::UsageError& e) {
      EXPECT_EQ(std::string(e.what()).rfind("--label-smoothing: ", 0), 0u) << e.what();
    }
    EXPECT_FALSE(core::file_exists(runs.dir / model + "/config.json")) << model;
  }
}

// Reduce-on-plateau with a warm-up, interrupted by SIGTERM in the middle of epoch 3 and after the
// last batch of epoch 2 (before its validation), then resumed: the same rates and metrics as the
// uninterrupted run, so the plateau state travelled in last.pt.
TEST(Train, PlateauRunResumedEqualsUninterrupted) {
  SyntheticRuns runs;
  auto options = [&](const std::string& name) {
    TrainOptions o = runs.options(name);
    o.batch_size = 50;  // 10 steps per epoch
    o.epochs = 4;
    o.lr_schedule = "plateau";
    o.lr_patience = 1;
    o.warmup_epochs = 2.5;              // the ramp spans the first reduction
    o.early_stopping.min_delta = 10.0;  // nothing after the first epoch counts as better
    return o;
  };
  const auto whole = train(options("whole"), {}).history;
  ASSERT_EQ(whole.size(), 4u);
  // The rate of each epoch's last step. Epoch 2 is the first without improvement: the rate falls
  // after it, and after each one since; the warm-up's last 5 steps ramp to the reduced rate.
  EXPECT_DOUBLE_EQ(whole[0].lr, 1e-3 * 10 / 25);
  EXPECT_DOUBLE_EQ(whole[1].lr, 1e-3 * 20 / 25);
  EXPECT_DOUBLE_EQ(whole[2].lr, 1e-4);
  EXPECT_DOUBLE_EQ(whole[3].lr, 1e-5);

  for (const int64_t fault : {25, 20}) {
    const std::string name = "cut" + std::to_string(fault);
    {
      core::InterruptGuard guard;
      TrainOptions o = options(name);
      o.fault_step = fault;
      o.fault_signal = SIGTERM;
      EXPECT_THROW(train(o, {}), core::Interrupted) << fault;
    }
    core::InterruptGuard guard;
    TrainOptions r = resume_options(runs.dir / name, core::Settings{});
    r.data_root = runs.data.path();
    const auto rest = train(r, {}).history;
    ASSERT_EQ(rest.size(), fault == 25 ? 2u : 3u) << fault;
    for (size_t i = 0; i < rest.size(); ++i) {
      const auto& w = whole[whole.size() - rest.size() + i];
      EXPECT_EQ(rest[i].epoch, w.epoch) << fault;
      EXPECT_EQ(rest[i].lr, w.lr) << fault << " epoch " << w.epoch;
      EXPECT_EQ(rest[i].train_loss, w.train_loss) << fault << " epoch " << w.epoch;
      EXPECT_EQ(rest[i].train_acc, w.train_acc) << fault << " epoch " << w.epoch;
      EXPECT_EQ(*rest[i].val_loss, *w.val_loss) << fault << " epoch " << w.epoch;
    }
  }
}

// A golden of a short seeded run (llm.c's habit): its per-epoch metrics against
// tests/golden/short_run.json. The tolerances let float reordering between CPU kinds pass and
// catch changes of the algorithm (initialization, data order, augmentation, loss, schedule).
// After a deliberate change, DIGITLAB_UPDATE_GOLDEN=1 rewrites the file; say why in the commit.
TEST(Train, ShortSeededRunMatchesItsGolden) {
  const std::string root = testing::real_data_root();
  if (!core::file_exists(root + "/mnist/train-images-idx3-ubyte")) {
    GTEST_SKIP() << "MNIST not fetched under " << root << " (scripts/setup fetches it)";
  }
  constexpr double kLossTolerance = 0.002, kAccuracyTolerance = 0.004;  // 2 of 500 images
  TempDir dir;
  TrainOptions o = small_options(root, dir / "run");
  o.arch = "C8-P-C16-P-32-10";
  o.train_limit = 2000;
  o.val_split = 500;
  o.batch_size = 50;
  o.epochs = 3;
  o.lr = 0.005;
  o.lr_schedule = "cosine";
  o.seed = 7;
  o.threads = 1;
  o.precision = "fp32";
  o.tensorboard = false;
  const TrainResult r = train(o, {});
  nlohmann::json now = nlohmann::json::array();
  for (const auto& e : r.history) {
    now.push_back({{"epoch", e.epoch},
                   {"train_loss", e.train_loss},
                   {"train_acc", e.train_acc},
                   {"val_loss", *e.val_loss},
                   {"val_acc", *e.val_acc}});
  }
  const std::string golden = testing::source_dir() + "/tests/golden/short_run.json";
  if (const char* u = std::getenv("DIGITLAB_UPDATE_GOLDEN"); u && std::string(u) == "1") {
    core::write_file_atomic(golden, now.dump(2) + "\n");
    GTEST_SKIP() << "golden rewritten: " << golden;
  }
  const auto want = nlohmann::json::parse(core::read_file(golden));
  ASSERT_EQ(want.size(), now.size());
  for (size_t i = 0; i < want.size(); ++i) {
    for (const char* k : {"train_loss", "val_loss"}) {
      EXPECT_NEAR(now[i][k].get<double>(), want[i][k].get<double>(), kLossTolerance)
          << "epoch " << i + 1 << " " << k;
    }
    for (const char* k : {"train_acc", "val_acc"}) {
      EXPECT_NEAR(now[i][k].get<double>(), want[i][k].get<double>(), kAccuracyTolerance)
          << "epoch " << i + 1 << " " << k;
    }
  }
}

}  // namespace
}  // namespace digitlab::train
