// The studies' tables. Published errors are 100 - accuracy where a study reports accuracy.
#include "reproduce/studies.h"

#include <string>

#include "core/error.h"

namespace digitlab::reproduce {
namespace {

// init is "glorot" (Keras' default, what the study ran) or "torch": the MLP tables use LibTorch's
// initialization because Glorot's measurably hurt the large MLPs here (docs/results.md).
// patience is 10 for the MLP tables: their validation accuracy jumps by about 0.3 points from
// epoch to epoch, and patience 5 stopped them on early peaks, where the study saw them overfit
// "only after 10-15 epochs". The CNN tables reproduce at patience 5 and keep it.
Protocol seed001_protocol(const std::string& init, int patience) {
  Protocol p;
  p.batch_size = 128;
  p.epochs = 40;
  p.patience = patience;
  p.val_split = 10000;
  p.test_every = 5;
  p.init = init;
  p.note =
      std::string("Adam, batch 128, ReLU (as the study states), ") +
      (init == "glorot"
           ? "Keras' Glorot-uniform initialization (the study used TensorFlow)"
           : "LibTorch's default initialization (the study used TensorFlow's Glorot-uniform, "
             "which trained the large MLPs worse here)") +
      "; it trained 5 epochs at a time and reported the best test error "
      "seen, which selects on the test set. Here: up to 40 epochs, early stopping on validation "
      "accuracy (patience " +
      std::to_string(patience) +
      ", best weights restored) with 10,000 training images held out for validation; pixels "
      "scaled to [0,1]. The test set is also measured every 5 epochs, to give "
      "the study's own selection beside ours";
  return p;
}

std::vector<Table> make_tables() {
  std::vector<Table> t;
  {
    Table s{"seed000", "Seed 000: Keras CNN baseline and its dropout variant", {}, {}};
    s.protocol.batch_size = 32;
    s.protocol.val_split = 6000;
    s.protocol.monitor = "val_loss";
    s.protocol.init = "glorot";
    s.protocol.note =
        "The study names neither optimizer nor batch size; Adam 1e-3 and Keras' default batch 32, "
        "Keras' Glorot-uniform initialization with zero biases, "
        "10% held out for validation, pixels scaled to [0,1]. Baseline 5 epochs; the dropout "
        "variant up to 15 epochs with early stopping on val_loss, patience 2, as the study did";
    s.rows = {{"seed000-cnn", 1.15, 5, 0, "study: 98.85% test after 5 epochs"},
              {"seed000-cnn-dropout", 0.72, 15, 2, "study: 99.28% test, stopped after 7 epochs"}};
    t.push_back(s);
  }
  {
    Table s{"seed001-t1", "Seed 001, Table 1: 784-H-10 MLPs", seed001_protocol("torch", 10), {}};
    s.rows = {{"seed001-mlp16", 5.01, {}, {}, ""},  {"seed001-mlp16-dropout", 5.77, {}, {}, ""},
              {"seed001-mlp64", 2.39, {}, {}, ""},  {"seed001-mlp64-dropout", 2.57, {}, {}, ""},
              {"seed001-mlp128", 2.18, {}, {}, ""}, {"seed001-mlp128-dropout", 2.14, {}, {}, ""}};
    t.push_back(s);
  }
  {
    Table s{"seed001-t2", "Seed 001, Table 2: three-layer MLPs", seed001_protocol("torch", 10), {}};
    s.rows = {{"seed001-mlp16-16", 4.92, {}, {}, ""},
              {"seed001-mlp64-16", 2.61, {}, {}, ""},
              {"seed001-mlp64-64", 2.65, {}, {}, ""},
              {"seed001-mlp1000-500", 1.78, {}, {}, ""}};
    t.push_back(s);
  }
  {
    Table s{"seed001-t3",
            "Seed 001, Table 3: 784-1500-1000-500-10 by dropout rate",
            seed001_protocol("torch", 10),
            {}};
    s.rows = {{"seed001-mlp1500-1000-500", 1.71, {}, {}, ""},
              {"seed001-mlp1500-1000-500-d0.15", 1.47, {}, {}, ""},
              {"seed001-mlp1500-1000-500-d0.2", 1.57, {}, {}, ""},
              {"seed001-mlp1500-1000-500-d0.25", 1.90, {}, {}, ""},
              {"seed001-mlp1500-1000-500-d0.5", 1.89, {}, {}, ""}};
    t.push_back(s);
  }
  {
    Table s{"seed001-t4",
            "Seed 001, Table 4: one convolution layer",
            seed001_protocol("glorot", 5),
            {}};
    s.rows = {{"seed001-c32-p-32", 1.39, {}, {}, ""},
              {"seed001-c32-p-32-dropout", 1.46, {}, {}, ""},
              {"seed001-c32-p-100-50", 1.04, {}, {}, ""},
              {"seed001-c32-p-100-50-dropout", 1.03, {}, {}, ""},
              {"seed001-c32-p-150-100-50", 1.40, {}, {}, ""},
              {"seed001-c32-p-150-100-50-dropout", 1.28, {}, {}, ""}};
    t.push_back(s);
  }
  {
    Table s{"seed001-t5",
            "Seed 001, Table 5: two convolution layers and LeNet-5",
            seed001_protocol("glorot", 5),
            {}};
    s.rows = {{"seed001-c32-p-c32-p-100-50", 0.77, {}, {}, ""},
              {"seed001-c32-p-c32-p-100-50-dropout", 0.71, {}, {}, ""},
              {"seed001-c32-p-c32-p-1000-500", 0.92, {}, {}, ""},
              {"seed001-c32-p-c32-p-1000-500-dropout", 0.95, {}, {}, ""},
              {"seed001-lenet5", 1.10, {}, {}, ""},
              {"seed001-lenet5-dropout", 0.98, {}, {}, "LeNet-5's original paper: 0.95"}};
    t.push_back(s);
  }
  {
    Table s{"seed001-t6", "Seed 001, Table 6: the deep CNN", seed001_protocol("glorot", 5), {}};
    s.protocol.epochs = 20;
    s.rows = {{"seed001-deep", 0.68, {}, {}, ""}, {"seed001-deep-dropout", 0.46, {}, {}, ""}};
    t.push_back(s);
  }
  {
    Table s{"seed002", "Seed 002: PyTorch CNN with augmentation", {}, {}};
    s.protocol.epochs = 10;
    s.protocol.val_split = 0;
    s.protocol.normalization = "standard";
    s.protocol.augment = "seed002";
    s.protocol.note =
        "As the study: Adam 1e-3, batch 64, 10 epochs on all 60,000 training images, mean/std "
        "standardization, RandomRotation(10), RandomResizedCrop(0.7-1, 0.9-1.1), translate 0.1";
    s.rows = {{"seed002-cnn", 1.07, {}, {}, "study: 98.93% test"}};
    t.push_back(s);
  }
  {
    Table s{
        "seed003", "Seed 003: 784-100-10 with sigmoid outputs, and traditional baselines", {}, {}};
    s.protocol.batch_size = 32;
    s.protocol.epochs = 100;
    s.protocol.val_split = 0;
    s.protocol.init = "glorot";
    s.protocol.note =
        "As the study: Keras' Glorot-uniform initialization with zero biases, Adam, sparse "
        "categorical "
        "cross-entropy on sigmoid outputs, 100 epochs, "
        "pixels "
        "scaled to [0,1], Keras' default batch 32 (unstated). Its 99.96% is not plausible as a "
        "test "
        "accuracy for 784-100-10 (the best published MLPs of this size reach about 98%); it "
        "matches "
        "a training accuracy. The study promises traditional baselines but reports none: ours are "
        "listed without a published figure";
    s.rows = {{"seed003-mlp", 0.04, {}, {}, "published figure implausible (training accuracy?)"},
              {"knn3", {}, 1, {}, "k = 3, L2, all 60,000 training images"},
              {"logreg", {}, 20, {}, "20 epochs"},
              {"linear-svm", {}, 20, {}, "20 epochs"}};
    t.push_back(s);
  }
  {
    Table s{"seed004", "Seed 004: 784-128-64-10 MLP with SGD", {}, {}};
    s.protocol.optimizer = "sgd";
    s.protocol.lr = 0.01;
    s.protocol.batch_size = 32;
    s.protocol.epochs = 10;
    s.protocol.val_split = 0;
    s.protocol.note =
        "SGD at batch 32 with pixels scaled to [0,1], as the study; it states neither learning "
        "rate "
        "nor epochs (0.01 and 10 here) and measured no accuracy, expecting 92-96%";
    s.rows = {{"seed004-mlp", {}, {}, {}, "study: no measurement, 92-96% expected"}};
    t.push_back(s);
  }
  return t;
}

}  // namespace

const std::vector<Table>& tables() {
  static const std::vector<Table> kTables = make_tables();
  return kTables;
}

const Table& find_table(const std::string& id) {
  std::string known;
  for (const auto& t : tables()) {
    if (t.id == id) return t;
    known += (known.empty() ? "" : ", ") + t.id;
  }
  throw core::UsageError("reproduce: unknown table '" + id + "' (known: " + known + ", all)");
}

}  // namespace digitlab::reproduce
