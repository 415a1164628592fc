// Training conveniences: fractional validation splits, periodic checkpoints, metrics.csv,
// fine-tuning from a trained model with frozen layers, the learning-rate range test, and the
// one-pass Adam step.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/files.h"
#include "core/settings.h"
#include "data/decode.h"
#include "report/lr_find_plot.h"
#include "test_util.h"
#include "train/checkpoint.h"
#include "train/fused_adam.h"
#include "train/lr_find.h"
#include "train/observers.h"
#include "train/trainer.h"

namespace digitlab::train {
namespace {

using testing::TempDir;

// 300 synthetic training digits, and a folder for the runs trained on them.
struct Tiny {
  TempDir data, dir;
  Tiny() { testing::write_synthetic_mnist(data.path(), 300, 20); }
  TrainOptions options(const std::string& name) const {
    TrainOptions o;
    o.data_root = data.path();
    o.out_dir = dir / name;
    o.arch = "32-10";
    o.threads = 2;
    o.epochs = 1;
    o.val_split = 60;
    o.batch_size = 32;
    o.tensorboard = false;
    return o;
  }
};

nlohmann::json config_of(const std::string& run) {
  return nlohmann::json::parse(core::read_file(run + "/config.json"));
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

TrainOptions from_flags(const std::map<std::string, std::string>& flags) {
  TrainLayers layers;
  layers.flags = flags;
  return train_options_from(layer_train_settings(layers));
}

// The one-pass step against torch::optim::Adam on the same network and gradients: a channels_last
// conv weight, dense layers, weight decay, a frozen layer, a changed learning rate, and state
// that goes through a save and a load in the middle.
TEST(FusedAdam, StepsAsAdamDoes) {
  auto make = [] {
    torch::manual_seed(3);
    torch::nn::Sequential net(torch::nn::Conv2d(torch::nn::Conv2dOptions(2, 4, 3)),
                              torch::nn::Flatten(), torch::nn::Linear(4 * 6 * 6, 5),
                              torch::nn::Linear(5, 3));
    for (auto& p : net->parameters()) {
      if (p.dim() == 4) p.set_data(p.data().contiguous(at::MemoryFormat::ChannelsLast));
    }
    net[3]->as<torch::nn::LinearImpl>()->bias.set_requires_grad(false);  // frozen
    return net;
  };
  torch::nn::Sequential a = make(), b = make();
  auto params = [](torch::nn::Sequential& n) {
    std::vector<torch::Tensor> out;
    for (auto& p : n->parameters()) {
      if (p.requires_grad()) out.push_back(p);
    }
    return out;
  };
  const auto options = torch::optim::AdamOptions(0.01).weight_decay(0.1);
  torch::optim::Adam reference(params(a), options);
  auto fused = std::make_unique<FusedAdam>(params(b), options);
  torch::manual_seed(4);
  for (int step = 0; step < 12; ++step) {
    const torch::Tensor x = torch::randn({6, 2, 8, 8});
    for (auto* n : {&a, &b}) {
      for (auto& p : (*n)->parameters()) p.mutable_grad().reset();
      (*n)->forward(x).pow(2).sum().backward();
    }
    reference.step();
    fused->step();
    if (step == 5) {
      for (auto* o : {static_cast<torch::optim::Optimizer*>(&reference),
                      static_cast<torch::optim::Optimizer*>(fused.get())}) {
        for (auto& g : o->param_groups()) g.options().set_lr(0.003);
      }
      std::stringstream saved;
      torch::serialize::OutputArchive out;
      fused->save(out);
      out.save_to(saved);
      fused = std::make_unique<FusedAdam>(params(b), options);
      torch::serialize::InputArchive in;
      in.load_from(saved);
      fused->load(in);
      for (auto& g : fused->param_groups()) g.options().set_lr(0.003);
    }
  }
  const auto pa = a->parameters(), pb = b->parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    EXPECT_TRUE(torch::allclose(pa[i], pb[i], 1e-5, 1e-6)) << "parameter " << i;
    EXPECT_EQ(pa[i].strides(), pb[i].strides()) << "parameter " << i;
  }
  // The frozen bias did not move; the others did.
  EXPECT_TRUE(torch::equal(pb.back(), make()->parameters().back()));
  EXPECT_FALSE(torch::allclose(pb.front(), make()->parameters().front()));

  // A closure's loss comes back from the fused step and from Adam's own, which amsgrad takes.
  for (bool amsgrad : {false, true}) {
    torch::nn::Linear lin(3, 2);
    FusedAdam adam(lin->parameters(), torch::optim::AdamOptions(0.01).amsgrad(amsgrad));
    const torch::Tensor in = torch::randn({4, 3});
    const torch::Tensor loss = adam.step([&] {
      adam.zero_grad();
      torch::Tensor l = lin->forward(in).pow(2).sum();
      l.backward();
      return l;
    });
    EXPECT_TRUE(loss.defined()) << "amsgrad " << amsgrad;
    const auto& state = static_cast<const torch::optim::AdamParamState&>(
        *adam.state().at(c10::guts::to_string(lin->weight.unsafeGetTensorImpl())));
    EXPECT_EQ(state.max_exp_avg_sq().defined(), amsgrad);
  }
}

TEST(ValSplit, TakesAFractionOrACountAndRefusesTheRest) {
  EXPECT_DOUBLE_EQ(from_flags({{"val_split", "0.1"}}).val_split, 0.1);
  EXPECT_DOUBLE_EQ(from_flags({{"val_split", "700"}}).val_split, 700);
  for (const char* bad : {"1.5", "-1", "-0.1", "abc"}) {
    EXPECT_THROW(from_flags({{"val_split", bad}}), core::UsageError) << bad;
  }
  EXPECT_EQ(val_count_of(0.1, 300), 30);
  EXPECT_EQ(val_count_of(0.001, 300), 1);  // a fraction holds out at least one image
  EXPECT_EQ(val_count_of(700, 3000), 700);
  EXPECT_EQ(val_count_of(0, 3000), 0);
  std::string note;
  EXPECT_EQ(val_count_of(5000, 3000, &note), 300);
  EXPECT_NE(note.find("held out 300 (10%) instead"), std::string::npos) << note;
  EXPECT_THROW(val_count_of(0.9999, 10), core::UsageError);
}

TEST(ValSplit, ConfigKeepsACountWholeAndOldConfigsRead) {
  TrainOptions o;
  EXPECT_TRUE(to_json(o)["val_split"].is_number_integer());
  o.val_split = 0.2;
  EXPECT_DOUBLE_EQ(to_json(o)["val_split"].get<double>(), 0.2);
  EXPECT_DOUBLE_EQ(train_options_from_json({{"val_split", 5000}}).val_split, 5000);
  EXPECT_DOUBLE_EQ(train_options_from_json(to_json(o)).val_split, 0.2);
}

TEST(ValSplit, FractionAndOversizedCountHoldOutATenth) {
  Tiny t;
  TrainOptions o = t.options("fraction");
  o.val_split = 0.2;
  train(o, {});
  EXPECT_EQ(config_of(o.out_dir)["val_size"], 60);
  EXPECT_EQ(config_of(o.out_dir)["train_size"], 240);
  // --resume reads the fraction back from config.json and holds out the same images.
  core::Settings flags;
  flags.set("epochs", "2", core::Source::kFlag);
  flags.set("data_root", t.data.path(), core::Source::kFlag);
  const TrainResult resumed = train(resume_options(o.out_dir, flags), {});
  EXPECT_EQ(resumed.history.size(), 1u);
  EXPECT_EQ(config_of(o.out_dir)["val_size"], 60);
  EXPECT_DOUBLE_EQ(config_of(o.out_dir)["options"]["val_split"].get<double>(), 0.2);
  o = t.options("oversized");
  o.val_split = 5000;  // the default, above the 300 images
  train(o, {});
  EXPECT_EQ(config_of(o.out_dir)["val_size"], 30);
  o = t.options("all");
  o.val_split = 0.9999;
  EXPECT_THROW(train(o, {}), core::UsageError);
}

TEST(SaveEvery, KeepsTheEpochsDivisibleByN) {
  Tiny t;
  TrainOptions o = t.options("run");
  o.epochs = 3;
  o.save_every = 2;
  train(o, {});
  const std::string dir = o.out_dir + "/checkpoints/";
  EXPECT_FALSE(core::file_exists(dir + "epoch-001.pt"));
  EXPECT_FALSE(core::file_exists(dir + "epoch-003.pt"));
  ASSERT_TRUE(core::file_exists(dir + "epoch-002.pt"));
  const LoadedCheckpoint ck = load_checkpoint(dir + "epoch-002.pt");
  EXPECT_EQ(ck.meta.epoch, 2);
  EXPECT_EQ(ck.meta.spec, "32-10");
  // --overwrite clears them with the rest of the earlier run.
  o.epochs = 1;
  o.overwrite = true;
  train(o, {});
  EXPECT_FALSE(core::file_exists(dir + "epoch-002.pt"));
}

TEST(MetricsCsv, OneRowPerEpochAndAResumeNeitherDuplicatesNorLoses) {
  Tiny t;
  TrainOptions o = t.options("run");
  o.epochs = 2;
  {
    MetricsLog log(o.out_dir + "/metrics.jsonl");
    MetricsCsv csv(o.out_dir + "/metrics.csv");
    train(o, {&log, &csv});
  }
  auto rows = lines_of(core::read_file(o.out_dir + "/metrics.csv"));
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0],
            "epoch,train_loss,train_acc,val_loss,val_acc,test_loss,test_acc,lr,seconds,"
            "images_per_second");
  EXPECT_EQ(rows[1].rfind("1,", 0), 0u);
  EXPECT_EQ(rows[2].rfind("2,", 0), 0u);
  const auto jsonl = testing::metrics_without_timing(o.out_dir);
  // The val_acc column holds what metrics.jsonl holds.
  std::vector<std::string> cells;
  std::stringstream row(rows[2]);
  for (std::string c; std::getline(row, c, ',');) cells.push_back(c);
  ASSERT_EQ(cells.size(), 10u);
  EXPECT_DOUBLE_EQ(std::stod(cells[4]), jsonl[1]["val_acc"].get<double>());
  EXPECT_EQ(cells[5], "");  // no test metrics without --test-every
  // A row written after the last checkpoint (a kill between the two) is not kept twice.
  core::write_file_atomic(o.out_dir + "/metrics.csv",
                          core::read_file(o.out_dir + "/metrics.csv") + rows[2] + "\n");
  core::Settings flags;
  flags.set("epochs", "3", core::Source::kFlag);
  flags.set("data_root", t.data.path(), core::Source::kFlag);
  TrainOptions r = resume_options(o.out_dir, flags);
  {
    MetricsLog log(r.out_dir + "/metrics.jsonl");
    MetricsCsv csv(r.out_dir + "/metrics.csv");
    train(r, {&log, &csv});
  }
  rows = lines_of(core::read_file(o.out_dir + "/metrics.csv"));
  ASSERT_EQ(rows.size(), 4u);
  for (int e = 1; e <= 3; ++e) EXPECT_EQ(rows[size_t(e)].rfind(std::to_string(e) + ",", 0), 0u);
  EXPECT_EQ(testing::metrics_without_timing(o.out_dir).size(), 3u);
}

// The parameters and buffers of a checkpoint's network, by name.
std::map<std::string, torch::Tensor> tensors_of(const std::string& path) {
  LoadedCheckpoint ck = load_checkpoint(path);
  std::map<std::string, torch::Tensor> out;
  for (const auto& p : ck.net->named_parameters(true)) out[p.key()] = p.value().clone();
  for (const auto& b : ck.net->named_buffers(true)) out[b.key()] = b.value().clone();
  return out;
}

TEST(FineTune, FrozenLayersStayBitIdenticalAndTheRestTrain) {
  Tiny t;
  TrainOptions src = t.options("source");
  src.arch = "C4-BN-P-16-10";
  train(src, {});
  TrainOptions o = t.options("tuned");
  o.arch = src.arch;
  o.init_from = src.out_dir;
  o.freeze = 2;  // the convolution and its batch norm
  o.lr = 0.01;
  train(o, {});
  const auto before = tensors_of(src.out_dir + "/checkpoints/best.pt");
  const auto after = tensors_of(o.out_dir + "/checkpoints/last.pt");
  // Module 0 is the convolution, 1 its batch norm (running statistics included).
  for (const char* name :
       {"0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var"}) {
    EXPECT_TRUE(torch::equal(before.at(name), after.at(name))) << name;
  }
  int changed = 0;
  for (const auto& [name, v] : after) {
    if (name[0] != '0' && name[0] != '1' && v.is_floating_point() &&
        !torch::equal(before.at(name), v)) {
      ++changed;
    }
  }
  EXPECT_GE(changed, 4) << "both dense layers' weights and biases train";
  // Resumed, the run freezes the same layers again and keeps the source's normalization.
  core::Settings flags;
  flags.set("epochs", "2", core::Source::kFlag);
  flags.set("data_root", t.data.path(), core::Source::kFlag);
  train(resume_options(o.out_dir, flags), {});
  const auto resumed = tensors_of(o.out_dir + "/checkpoints/last.pt");
  EXPECT_TRUE(torch::equal(before.at("0.weight"), resumed.at("0.weight")));
  EXPECT_TRUE(torch::equal(before.at("1.running_var"), resumed.at("1.running_var")));
  EXPECT_FALSE(torch::equal(after.at("5.weight"), resumed.at("5.weight")));
  EXPECT_EQ(load_checkpoint(o.out_dir).meta.normalization.to_json(),
            load_checkpoint(src.out_dir).meta.normalization.to_json());
  const auto config = config_of(o.out_dir);
  EXPECT_EQ(config["options"]["freeze"], 2);
  EXPECT_EQ(config["options"]["init_from"], src.out_dir);
  EXPECT_EQ(load_checkpoint(o.out_dir).meta.options["freeze"], 2);
}

TEST(FineTune, StartsFromTheSourceWeightsAndNormalization) {
  Tiny t;
  TrainOptions src = t.options("source");
  src.epochs = 2;
  src.lr = 0.003;
  const TrainResult s = train(src, {});
  const double source_acc = *s.history.back().val_acc;
  ASSERT_GT(source_acc, 0.5);
  TrainOptions o = t.options("tuned");
  o.arch.clear();  // taken from the source
  o.init_from = src.out_dir + "/checkpoints/last.pt";
  o.lr = 1e-6;               // too small for a fresh model to get anywhere in one epoch
  o.normalization = "none";  // the source's is used: its weights expect it
  const TrainResult r = train(o, {});
  EXPECT_GE(*r.history.back().val_acc, source_acc - 0.02);
  const LoadedCheckpoint a = load_checkpoint(src.out_dir), b = load_checkpoint(o.out_dir);
  EXPECT_EQ(b.meta.spec, "32-10");
  EXPECT_EQ(b.meta.normalization.to_json(), a.meta.normalization.to_json());
}

TEST(FineTune, RefusesAnotherArchitectureAndBadFreezes) {
  Tiny t;
  TrainOptions src = t.options("source");
  train(src, {});
  TrainOptions o = t.options("tuned");
  o.arch = "64-10";
  o.init_from = src.out_dir;
  try {
    train(o, {});
    ADD_FAILURE() << "a mismatched spec trained";
  } catch (const core::UsageError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("32-10"), std::string::npos) << m;
    EXPECT_NE(m.find("64-10"), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  }
  EXPECT_FALSE(core::dir_exists(o.out_dir));
  EXPECT_THROW(from_flags({{"freeze", "1"}}), core::UsageError);
  o.arch = "32-10";
  o.freeze = 3;  // two dense layers
  EXPECT_THROW(train(o, {}), core::UsageError);
}

TEST(FineTune, AnotherClassCountGetsAFreshOutputLayer) {
  Tiny t;
  TrainOptions src = t.options("source");
  train(src, {});
  // mnist-pieces has 11 classes: the same images under its file names.
  std::filesystem::create_directories(t.data / "mnist-pieces");
  for (const char* f : {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                        "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}) {
    std::filesystem::copy_file(t.data / ("mnist/" + std::string(f)),
                               t.data / ("mnist-pieces/" + std::string(f)));
  }
  TrainOptions o = t.options("pieces");
  o.arch.clear();
  o.dataset = "mnist-pieces";
  o.init_from = src.out_dir;
  o.freeze = 1;
  train(o, {});
  const LoadedCheckpoint ck = load_checkpoint(o.out_dir);
  EXPECT_EQ(ck.meta.spec, "32-11");
  const auto before = tensors_of(src.out_dir + "/checkpoints/best.pt");
  const auto after = tensors_of(o.out_dir + "/checkpoints/last.pt");
  EXPECT_TRUE(torch::equal(before.at("1.weight"), after.at("1.weight")));  // after the Flatten
}

// Synthetic digits whose labels are shuffled: no rate fits them to a zero loss, which would leave
// nothing for a high rate to blow up.
void write_shuffled_mnist(const std::string& root) {
  std::filesystem::create_directories(root + "/mnist");
  data::IdxArray im, lb;
  testing::make_synthetic(300, 1, im, lb);
  std::mt19937_64 rng(5);
  for (size_t i = lb.data.size(); i-- > 1;) std::swap(lb.data[i], lb.data[rng() % (i + 1)]);
  data::write_idx(root + "/mnist/train-images-idx3-ubyte", im);
  data::write_idx(root + "/mnist/train-labels-idx1-ubyte", lb);
  data::write_idx(root + "/mnist/t10k-images-idx3-ubyte", im);
  data::write_idx(root + "/mnist/t10k-labels-idx1-ubyte", lb);
}

TEST(LrFind, SweepsRisingRatesStopsOnDivergenceAndWritesItsFiles) {
  Tiny t;
  TempDir shuffled;
  write_shuffled_mnist(shuffled.path());
  LrFindOptions o;
  o.train = t.options("unused");
  o.train.data_root = shuffled.path();
  o.train.arch = "32-10";
  o.start = 1e-4;
  o.end = 100;
  o.steps = 100;
  o.out_dir = t.dir / "lr";
  const LrFindResult r = lr_find(o);
  ASSERT_GE(r.points.size(), 10u);
  for (size_t i = 1; i < r.points.size(); ++i) EXPECT_GT(r.points[i].lr, r.points[i - 1].lr);
  EXPECT_NEAR(r.points.front().lr, 1e-4, 1e-12);
  EXPECT_TRUE(r.stopped_early) << "Adam at a rate of 100 diverges";
  EXPECT_LT(r.points.size(), 100u);
  double lowest = INFINITY;
  for (const auto& p : r.points) lowest = std::min(lowest, p.smoothed);
  EXPECT_GT(r.points.back().smoothed, 4 * lowest) << "the stop is the 4x rule, not a NaN";
  EXPECT_GE(r.suggested_lr, o.start);
  EXPECT_LE(r.suggested_lr, o.end);
  EXPECT_GE(r.min_loss_lr, o.start);
  EXPECT_LE(r.min_loss_lr, o.end);
  // The suggestion lies on the way down, before the loss took off.
  EXPECT_LE(r.suggested_lr, r.min_loss_lr);
  EXPECT_LT(r.suggested_lr, r.points.back().lr);
  EXPECT_EQ(lr_find_command(o, report::write_lr_find_png), 0);
  const auto csv = lines_of(core::read_file(o.out_dir + "/lr_find.csv"));
  EXPECT_EQ(csv.size(), r.points.size() + 1);
  EXPECT_EQ(csv[0], "step,lr,loss,smoothed_loss");
  const data::GrayImage png = data::read_image_file(o.out_dir + "/lr_find.png");
  EXPECT_EQ(png.width, 640);
  EXPECT_EQ(png.height, 400);
  o.end = o.start;
  EXPECT_THROW(lr_find(o), core::UsageError);
}

}  // namespace
}  // namespace digitlab::train
