// Checkpoints: round trip, self-description, and refusal of truncated, foreign or mismatched files.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "core/files.h"
#include "models/builder.h"
#include "models/ensemble.h"
#include "test_util.h"
#include "train/checkpoint.h"
#include "train/evaluate.h"

namespace digitlab::train {
namespace {

using testing::TempDir;

CheckpointMeta meta_for(const std::string& spec) {
  CheckpointMeta m;
  m.model = "custom";
  m.spec = spec;
  m.dataset = "mnist";
  m.class_names = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
  m.normalization = {"standard", 0.13, 0.31};
  m.options = {{"seed", 3}};
  m.epoch = 2;
  return m;
}

std::string expect_refused(const std::string& path) {
  try {
    load_checkpoint(path);
  } catch (const core::RuntimeError& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind(path, 0), 0u) << msg;  // starts with the file name
    EXPECT_EQ(msg.find('\n'), std::string::npos);
    return msg;
  }
  ADD_FAILURE() << "loaded " << path;
  return "";
}

TEST(Checkpoint, RoundTripGivesTheSameOutputs) {
  TempDir dir;
  const std::string spec = "C4-BN-P-16-D0.5-10-logsoftmax";
  torch::manual_seed(3);
  auto net = models::build_network(models::parse_spec(spec));
  // Move batch-norm statistics away from their defaults so buffers are checked too.
  net->train();
  net->forward(torch::randn({8, 1, 28, 28}) * 3 + 1);
  net->eval();
  save_checkpoint(dir / "a.pt", net, meta_for(spec));
  LoadedCheckpoint ck = load_checkpoint(dir / "a.pt");
  EXPECT_EQ(ck.meta.spec, spec);
  EXPECT_EQ(ck.meta.epoch, 2);
  EXPECT_EQ(ck.meta.normalization.mean, 0.13);
  EXPECT_EQ(ck.meta.options["seed"], 3);
  EXPECT_FALSE(ck.net->is_training());
  auto x = torch::randn({5, 1, 28, 28});
  torch::NoGradGuard g;
  EXPECT_TRUE(torch::equal(net->forward(x), ck.net->forward(x)));
}

TEST(Checkpoint, ResidualBlocksRoundTrip) {
  TempDir dir;
  const std::string spec = "C4-R(C4-BN-C4)-P-R(C8)-P-10";
  torch::manual_seed(4);
  auto net = models::build_network(models::parse_spec(spec));
  net->train();
  net->forward(torch::randn({8, 1, 28, 28}) * 3 + 1);
  net->eval();
  save_checkpoint(dir / "r.pt", net, meta_for(spec));
  LoadedCheckpoint ck = load_checkpoint(dir / "r.pt");
  EXPECT_EQ(ck.net->named_parameters().size(), net->named_parameters().size());
  auto x = torch::randn({5, 1, 28, 28});
  torch::NoGradGuard g;
  EXPECT_TRUE(torch::equal(net->forward(x), ck.net->forward(x)));
  // The same layers without the blocks' projection: the weights do not fit.
  save_checkpoint(dir / "other.pt", net, meta_for("C4-R(C4-BN-C4)-P-R(C4)-P-10"));
  EXPECT_NE(expect_refused(dir / "other.pt").find("weights do not match"), std::string::npos);
}

TEST(Checkpoint, EnsembleRoundTripGivesTheSameOutputs) {
  TempDir dir;
  CheckpointMeta meta = meta_for("ensemble");
  meta.model = "ensemble";
  meta.normalization = {"none", 0, 1};
  meta.combine = "vote";
  meta.members = nlohmann::json::array();
  for (const char* spec : {"C4-BN-P-16-10", "16-10-logsoftmax"}) {
    meta.members.push_back(
        {{"model", "custom"},
         {"spec", spec},
         {"normalization", data::Normalization{"standard", 0.13, 0.31}.to_json()},
         {"source", "x"},
         {"epoch", 1}});
  }
  torch::manual_seed(4);
  models::ArchSpec spec;
  auto net = build_from_meta(meta, spec);
  net->train();
  net->forward(torch::rand({8, 1, 28, 28}) * 255);  // batch-norm statistics off their defaults
  net->eval();
  save_checkpoint(dir / "e.pt", net, meta);
  LoadedCheckpoint ck = load_checkpoint(dir / "e.pt");
  ASSERT_NE(models::find_ensemble(ck.net), nullptr);
  EXPECT_EQ(models::find_ensemble(ck.net)->combine(), models::Combine::kVote);
  EXPECT_EQ(ck.meta.members.size(), 2u);
  EXPECT_EQ(ck.spec.head, models::Head::kSoftmax);
  const auto x = torch::rand({5, 1, 28, 28}) * 255;
  torch::NoGradGuard g;
  EXPECT_TRUE(torch::equal(net->forward(x), ck.net->forward(x)));

  // A member list that is not a list, or names an unknown layer, is refused naming the file.
  auto broken = meta;
  broken.members[1]["spec"] = "16-Q-10";
  save_checkpoint(dir / "bad.pt", net, broken);
  EXPECT_NE(expect_refused(dir / "bad.pt").find("'Q'"), std::string::npos);
}

TEST(Checkpoint, ShiftedImagesMoveAndFillWithZeros) {
  auto img = torch::zeros({1, 4, 4}, torch::kUInt8);
  img[0][0][0] = 9;
  img[0][3][3] = 7;
  const auto down_right = shift_images(img, 1, 1);
  EXPECT_EQ(down_right[0][1][1].item<int>(), 9);
  EXPECT_EQ(down_right.sum().item<int>(), 9);  // the 7 moved out of the frame
  const auto up_left = shift_images(img, -1, -1);
  EXPECT_EQ(up_left[0][2][2].item<int>(), 7);
  EXPECT_EQ(up_left.sum().item<int>(), 7);
  EXPECT_TRUE(torch::equal(shift_images(img, 0, 0), img));
}

TEST(Checkpoint, KnnStoresItsTrainingSet) {
  TempDir dir;
  auto net = models::build_network(models::parse_spec("knn1"));
  auto images = torch::randint(0, 256, {50, 28, 28}, torch::kUInt8);
  auto labels = torch::randint(0, 10, {50}, torch::kInt64);
  models::find_knn(net)->fit(images, labels, 1.0 / 255, -0.5);
  save_checkpoint(dir / "knn.pt", net, meta_for("knn1"));
  LoadedCheckpoint ck = load_checkpoint(dir / "knn.pt");
  // 1-nearest neighbour of a training image is itself: its own label back.
  auto x = images.narrow(0, 0, 20).to(torch::kFloat32).div(255).sub(0.5).unsqueeze(1);
  EXPECT_TRUE(torch::equal(ck.net->forward(x).argmax(1), labels.narrow(0, 0, 20)));
}

TEST(Checkpoint, KnnLabelsOutsideTheClassesAreRefused) {
  TempDir dir;
  auto knn = models::build_network(models::parse_spec("knn1"));
  models::find_knn(knn)->fit(torch::zeros({4, 28, 28}, torch::kUInt8),
                             torch::tensor({0, 1, 12, 3}, torch::kInt64), 1.0, 0.0);
  save_checkpoint(dir / "knn.pt", knn, meta_for("knn1"));
  EXPECT_NE(expect_refused(dir / "knn.pt").find("stored labels fall outside the 10 classes"),
            std::string::npos);
}

TEST(Checkpoint, RunDirectoryResolvesToBestOrLast) {
  TempDir dir;
  core::make_dirs(dir / "checkpoints");
  auto net = models::build_network(models::parse_spec("10"));
  save_checkpoint(dir / "checkpoints/best.pt", net, meta_for("10"));
  EXPECT_EQ(resolve_checkpoint_path(dir.path()), dir / "checkpoints/best.pt");
  core::write_file_atomic(dir / "config.json",
                          R"({"options": {"early_stopping": {"restore_best": false}}})");
  save_checkpoint(dir / "checkpoints/last.pt", net, meta_for("10"));
  EXPECT_EQ(resolve_checkpoint_path(dir.path()), dir / "checkpoints/last.pt");
  // A config.json of another shape costs only that choice: best.pt again.
  core::write_file_atomic(dir / "config.json", R"({"options": {"early_stopping": [1, 2]}})");
  EXPECT_EQ(resolve_checkpoint_path(dir.path()), dir / "checkpoints/best.pt");
  core::write_file_atomic(dir / "config.json", R"({"options": 7})");
  EXPECT_EQ(resolve_checkpoint_path(dir.path()), dir / "checkpoints/best.pt");
  TempDir empty;
  EXPECT_THROW(resolve_checkpoint_path(empty.path()), core::RuntimeError);
}

TEST(Checkpoint, TruncatedForeignAndMismatchedFilesAreRefused) {
  TempDir dir;
  const std::string spec = "C4-P-10";
  auto net = models::build_network(models::parse_spec(spec));
  save_checkpoint(dir / "good.pt", net, meta_for(spec));
  const std::string bytes = core::read_file(dir / "good.pt");
  core::write_file_atomic(dir / "cut.pt", bytes.substr(0, bytes.size() / 2));
  EXPECT_NE(expect_refused(dir / "cut.pt").find("not a readable checkpoint"), std::string::npos);
  core::write_file_atomic(dir / "text.pt", "hello, I am not a checkpoint\n");
  EXPECT_NE(expect_refused(dir / "text.pt").find("not a readable checkpoint"), std::string::npos);
  // A torch archive without our metadata.
  torch::serialize::OutputArchive foreign;
  net->save(foreign);
  foreign.save_to(dir / "foreign.pt");
  EXPECT_NE(expect_refused(dir / "foreign.pt").find("not a digitlab checkpoint"),
            std::string::npos);
  // Metadata that describes another architecture than the weights.
  save_checkpoint(dir / "wrong.pt", net, meta_for("C8-P-10"));
  EXPECT_NE(expect_refused(dir / "wrong.pt").find("weights do not match architecture 'C8-P-10'"),
            std::string::npos);
  EXPECT_NE(expect_refused(dir / "missing.pt").find("no such run directory or file"),
            std::string::npos);
}

// Overwrites the 4 bytes of the first occurrence of `value` (as a float32) in `path`'s bytes;
// returns whether it was found.
bool overwrite_float(const std::string& path, float value) {
  std::string bytes = core::read_file(path);
  const std::string needle(reinterpret_cast<const char*>(&value), sizeof value);
  const size_t at = bytes.find(needle);
  if (at == std::string::npos) return false;
  bytes.replace(at, 4, "\x7f\x7f\x7f\x7f");
  core::write_file_atomic(path, bytes);
  return true;
}

// Torch archives have no checksum their reader checks: four changed bytes inside a tensor loaded
// without a word before checkpoints carried their own.
TEST(Checkpoint, DamagedWeightsAreRefused) {
  TempDir dir;
  const std::string spec = "C4-P-10";
  auto net = models::build_network(models::parse_spec(spec));
  {
    torch::NoGradGuard g;
    net->parameters()[0].fill_(1234.5f);
  }
  save_checkpoint(dir / "a.pt", net, meta_for(spec));
  EXPECT_NO_THROW(load_checkpoint(dir / "a.pt"));
  ASSERT_TRUE(overwrite_float(dir / "a.pt", 1234.5f));
  EXPECT_NE(expect_refused(dir / "a.pt").find("damaged checkpoint: its weights"),
            std::string::npos);
}

TEST(Checkpoint, DamagedTrainingStateIsRefusedOnResume) {
  TempDir dir;
  const std::string spec = "C4-P-10";
  auto net = models::build_network(models::parse_spec(spec));
  torch::optim::SGD sgd(net->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  for (auto& p : net->parameters()) p.mutable_grad() = torch::full_like(p, 4321.5f);
  sgd.step();  // the momentum buffers now hold the gradient's values
  CheckpointMeta meta = meta_for(spec);
  meta.resume = {{"epoch", 1}};
  save_checkpoint(dir / "last.pt", net, meta, &sgd);
  auto again = models::build_network(models::parse_spec(spec));
  torch::optim::SGD fresh(again->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  load_weights_for_resume(dir / "last.pt", again);
  EXPECT_NO_THROW(load_training_state(dir / "last.pt", fresh));
  ASSERT_TRUE(overwrite_float(dir / "last.pt", 4321.5f));
  EXPECT_NO_THROW(load_weights_for_resume(dir / "last.pt", again));  // the weights are intact
  try {
    load_training_state(dir / "last.pt", fresh);
    ADD_FAILURE() << "damaged training state loaded";
  } catch (const core::RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("damaged checkpoint: its training state"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace digitlab::train
