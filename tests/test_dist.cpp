// Data parallelism through the real program: 2 ranks against 1, a killed rank, a missing rank.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <set>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "core/files.h"
#include "test_util.h"
#include "train/checkpoint.h"

namespace digitlab {
namespace {

using testing::count_of;
using testing::metrics_without_timing;
using testing::TempDir;

using Result = testing::ProgramResult;

class Dist : public ::testing::Test {
 protected:
  void SetUp() override { testing::write_synthetic_mnist(data_.path(), 700, 100); }
  // A port of its own per test process, so parallel ctest runs do not meet.
  std::string master() const { return "127.0.0.1:" + std::to_string(20000 + getpid() % 20000); }
  Result digitlab(const std::string& args, const std::string& env = "") {
    return testing::run_program(args, "DIGITLAB_DATA=" + data_.path() + " " + env, io_.path());
  }
  TempDir data_, io_, runs_;
};

const char* const kTrain =
    "train --arch C4-P-32-10 --val-split 100 --threads 1 --tensorboard false --seed 3 ";

std::vector<torch::Tensor> weights(const std::string& checkpoint) {
  std::vector<torch::Tensor> out;
  auto loaded = train::load_checkpoint(checkpoint);
  for (const auto& p : loaded.net->parameters()) out.push_back(p.detach().clone());
  return out;
}

// 2 ranks at batch 32 take the same steps as 1 rank at batch 64: the same weights within 1e-5
// after two epochs (600 training images: 9 full global batches and one of 24, split 12 + 12).
// In fp32: bf16 rounds a sum over 32 images and one over 64 apart by far more than 1e-5.
TEST_F(Dist, TwoRanksAtBatch32EqualOneRankAtBatch64) {
  const std::string one = runs_ / "one", two = runs_ / "two";
  Result a =
      digitlab(std::string(kTrain) + "--precision fp32 --epochs 2 --batch-size 64 --out " + one);
  ASSERT_EQ(a.code, 0) << a.err;
  Result b = digitlab("launch --nproc 2 --master " + master() + " -- " + kTrain +
                      "--precision fp32 --epochs 2 --batch-size 32 --out " + two);
  ASSERT_EQ(b.code, 0) << b.err << b.out;
  EXPECT_EQ(count_of(b.out, "best epoch"), 1u) << "only rank 0 reports:\n" << b.out;
  const auto wa = weights(one + "/checkpoints/last.pt");
  const auto wb = weights(two + "/checkpoints/last.pt");
  ASSERT_EQ(wa.size(), wb.size());
  double worst = 0;
  for (size_t i = 0; i < wa.size(); ++i) {
    worst = std::max(worst, (wa[i] - wb[i]).abs().max().item<double>());
  }
  EXPECT_LT(worst, 1e-5);
  // The weights moved: the comparison is not between two untrained networks.
  EXPECT_GT(wa[0].abs().sum().item<double>(), 0);
  // Metrics are the group's: the same losses and accuracies as one rank.
  std::istringstream la(core::read_file(one + "/metrics.jsonl"));
  std::istringstream lb(core::read_file(two + "/metrics.jsonl"));
  std::string x, y;
  int epochs = 0;
  while (std::getline(la, x) && std::getline(lb, y)) {
    const auto ja = nlohmann::json::parse(x), jb = nlohmann::json::parse(y);
    for (const char* k : {"train_loss", "val_loss", "train_acc", "val_acc"}) {
      EXPECT_NEAR(ja[k].get<double>(), jb[k].get<double>(), 1e-5) << k;
    }
    ++epochs;
  }
  EXPECT_EQ(epochs, 2);
  EXPECT_EQ(nlohmann::json::parse(core::read_file(two + "/config.json"))["ranks"], 2);

  // The same group as two machines of one rank each (--nnodes 2, both on loopback).
  const std::string nodes = runs_ / "nodes";
  const std::string node_args = " --nproc 1 --master " + master() + " -- " + kTrain +
                                "--precision fp32 --epochs 2 --batch-size 32 --out " + nodes;
  const std::string script = "DIGITLAB_DATA=" + data_.path() + " " + testing::program() +
                             " launch --nnodes 2 --node-rank 1" + node_args +
                             " >/dev/null 2>&1 &\n" + "DIGITLAB_DATA=" + data_.path() + " " +
                             testing::program() + " launch --nnodes 2 --node-rank 0" + node_args +
                             " >/dev/null 2>&1\n" + "code=$?; wait; exit $code\n";
  core::write_file_atomic(io_ / "nodes.sh", script);
  ASSERT_EQ(std::system(("bash " + (io_ / "nodes.sh")).c_str()), 0);
  const auto wn = weights(nodes + "/checkpoints/last.pt");
  double worst_nodes = 0;
  for (size_t i = 0; i < wa.size(); ++i) {
    worst_nodes = std::max(worst_nodes, (wa[i] - wn[i]).abs().max().item<double>());
  }
  EXPECT_LT(worst_nodes, 1e-5);
}

// A rank killed mid-epoch: the other exits non-zero with a message well within the timeout, and
// the checkpoint of the last completed epoch resumes under a new group.
TEST_F(Dist, AKilledRankEndsTheOtherAndTheRunResumes) {
  const std::string run = runs_ / "killed";
  // 600 images at 2 x 32: 10 steps per epoch; rank 1 kills itself after step 15 (epoch 2).
  Result r = digitlab("launch --nproc 2 --timeout 30 --master " + master() + " -- " + kTrain +
                          "--epochs 40 --batch-size 32 --dist-timeout 20 --out " + run,
                      "DIGITLAB_TEST_FAULT=15:9:1");
  EXPECT_NE(r.code, 0);
  EXPECT_LT(r.seconds, 25) << r.err;
  EXPECT_NE(r.err.find("rank 1 exited with 137"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("digitlab (rank 0): rank 0 of 2: lost the group"), std::string::npos)
      << r.err;
  Result e = digitlab("evaluate " + run + "/checkpoints/last.pt --json");
  ASSERT_EQ(e.code, 0) << e.err;
  EXPECT_EQ(nlohmann::json::parse(e.out)["epoch"], 1);
  Result resumed = digitlab("launch --nproc 2 --master " + master() + " -- train --resume " + run +
                            " --epochs 3");
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  EXPECT_NE(resumed.out.find("resuming at epoch 2"), std::string::npos) << resumed.out;
  EXPECT_EQ(count_of(core::read_file(run + "/metrics.jsonl"), "\n"), 3u);
}

// A rank alone waits for a group that never forms, then says so: exit 1 within the timeout.
TEST_F(Dist, AMissingRankTimesOutWithAMessage) {
  const std::string port = master().substr(master().find(':') + 1);
  Result r = digitlab(std::string(kTrain) + "--epochs 1 --dist-timeout 2 --out " + (runs_ / "m"),
                      "WORLD_SIZE=2 RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + port);
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_LT(r.seconds, 15);
  EXPECT_NE(r.err.find("rank 0 of 2"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("did not form within 2 s"), std::string::npos) << r.err;
  Result bad = digitlab(std::string(kTrain) + "--out " + (runs_ / "b"), "WORLD_SIZE=2 RANK=5");
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("RANK: '5' is not a whole number from 0 to 1"), std::string::npos)
      << bad.err;
  Result nocmd = digitlab("launch --nproc 2");
  EXPECT_EQ(nocmd.code, 2) << nocmd.err;
}

// A search under `launch`: the ranks split every round's trials, rank 0 writes the results, and
// they equal the same search run by one process (same trials, scores and epochs).
TEST_F(Dist, ASearchSpreadOverTwoRanksEqualsOneProcess) {
  const std::string space =
      "tune --tuner hyperband --max-epochs 3 --set 'arch={units}-10' --set val_split=100 "
      "--set batch_size=50 --set tensorboard=false --param units=8..32/8 "
      "--param lr=0.001..0.03:log --threads 1 --out ";
  const std::string one = runs_ / "one", two = runs_ / "two";
  Result a = digitlab(space + one);
  ASSERT_EQ(a.code, 0) << a.err;
  Result b = digitlab("launch --nproc 2 --master " + master() + " -- " + space + two);
  ASSERT_EQ(b.code, 0) << b.err << b.out;
  EXPECT_EQ(count_of(b.out, "Results summary"), 1u) << b.out;
  const auto ja = nlohmann::json::parse(core::read_file(one + "/search.json"));
  const auto jb = nlohmann::json::parse(core::read_file(two + "/search.json"));
  ASSERT_EQ(ja["trials"].size(), 5u);
  ASSERT_EQ(jb["trials"].size(), 5u);
  std::set<int> workers;
  for (size_t i = 0; i < 5; ++i) {
    const auto &ta = ja["trials"][i], &tb = jb["trials"][i];
    EXPECT_EQ(ta["params"], tb["params"]) << i;
    EXPECT_EQ(tb["status"], "done") << i;
    EXPECT_EQ(ta["epochs"], tb["epochs"]) << i;
    EXPECT_NEAR(ta["score"].get<double>(), tb["score"].get<double>(), 1e-9) << i;
    workers.insert(tb["worker"].get<int>());
  }
  EXPECT_EQ(workers, (std::set<int>{0, 1}));
  EXPECT_EQ(nlohmann::json::parse(core::read_file(two + "/leaderboard.json"))["total_epochs"], 11);
}

// SIGTERM to one rank stops every rank at the same step; rank 0 saves mid-epoch, and the group
// resumes to exactly the metrics of an uninterrupted group. A different group size may not
// continue mid-epoch.
TEST_F(Dist, SigtermToOneRankStopsTheGroupAndItResumesExactly) {
  const std::string whole = runs_ / "whole", cut = runs_ / "cut";
  const std::string args = std::string(kTrain) + "--epochs 3 --batch-size 32 --out ";
  Result a = digitlab("launch --nproc 2 --master " + master() + " -- " + args + whole);
  ASSERT_EQ(a.code, 0) << a.err;
  Result t = digitlab("launch --nproc 2 --master " + master() + " -- " + args + cut,
                      "DIGITLAB_TEST_FAULT=15:15:1");
  EXPECT_EQ(t.code, 143) << t.err;
  EXPECT_NE(t.err.find("terminated in epoch 2 after batch 6"), std::string::npos) << t.err;
  Result alone = digitlab("train --resume " + cut);
  EXPECT_EQ(alone.code, 2);
  EXPECT_NE(alone.err.find("with 2 rank(s); continue it with 2"), std::string::npos) << alone.err;
  Result r = digitlab("launch --nproc 2 --master " + master() + " -- train --resume " + cut);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("resuming at epoch 2, batch 7"), std::string::npos) << r.out;
  EXPECT_EQ(metrics_without_timing(cut), metrics_without_timing(whole));
}

}  // namespace
}  // namespace digitlab
