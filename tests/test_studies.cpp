// The studies' tables: every row names a zoo model and the published figures are as the seeds say.
#include <gtest/gtest.h>

#include <set>

#include "core/error.h"
#include "models/spec.h"
#include "models/zoo.h"
#include "reproduce/studies.h"

namespace digitlab::reproduce {
namespace {

TEST(Studies, EveryRowIsAZooModel) {
  std::set<std::string> ids;
  size_t rows = 0;
  for (const auto& t : tables()) {
    EXPECT_TRUE(ids.insert(t.id).second) << t.id;
    EXPECT_FALSE(t.rows.empty()) << t.id;
    EXPECT_FALSE(t.protocol.note.empty()) << t.id;
    for (const auto& r : t.rows) {
      EXPECT_NO_THROW(
          models::count_parameters(models::parse_spec(models::find_model(r.model).spec)))
          << r.model;
      if (r.published_error) {
        EXPECT_GT(*r.published_error, 0.0);
        EXPECT_LT(*r.published_error, 10.0);
      }
      ++rows;
    }
  }
  EXPECT_EQ(ids.size(), 10u);  // seed000, seed001-t1..t6, seed002, seed003, seed004
  EXPECT_EQ(rows, 2u + 6 + 4 + 5 + 6 + 6 + 2 + 1 + 4 + 1);
  EXPECT_THROW(find_table("seed001-t7"), core::UsageError);
}

TEST(Studies, PublishedFiguresFromTheSeeds) {
  auto published = [](const std::string& table, const std::string& model) {
    for (const auto& r : find_table(table).rows) {
      if (r.model == model) return r.published_error.value_or(-1);
    }
    return -2.0;
  };
  EXPECT_DOUBLE_EQ(published("seed000", "seed000-cnn"), 1.15);          // 98.85%
  EXPECT_DOUBLE_EQ(published("seed000", "seed000-cnn-dropout"), 0.72);  // 99.28%
  EXPECT_DOUBLE_EQ(published("seed001-t3", "seed001-mlp1500-1000-500-d0.15"), 1.47);
  EXPECT_DOUBLE_EQ(published("seed001-t6", "seed001-deep-dropout"), 0.46);  // 99.54%
  EXPECT_DOUBLE_EQ(published("seed002", "seed002-cnn"), 1.07);              // 98.93%
  EXPECT_DOUBLE_EQ(published("seed004", "seed004-mlp"), -1);                // none measured
  EXPECT_EQ(find_table("seed001-t1").protocol.batch_size, 128);
  EXPECT_EQ(find_table("seed001-t1").protocol.val_split, 10000);
  EXPECT_EQ(find_table("seed002").protocol.augment, "seed002");
}

// The Keras studies trained with Keras' default initializers (Glorot-uniform, zero biases); the
// PyTorch studies with PyTorch's. seed 001's MLP tables depart on purpose (their note says why).
TEST(Studies, KerasStudiesUseGlorotAndPyTorchStudiesTorchInit) {
  EXPECT_EQ(find_table("seed000").protocol.init, "glorot");
  EXPECT_EQ(find_table("seed003").protocol.init, "glorot");
  EXPECT_EQ(find_table("seed001-t6").protocol.init, "glorot");
  EXPECT_EQ(find_table("seed002").protocol.init, "torch");
  EXPECT_EQ(find_table("seed004").protocol.init, "torch");
  EXPECT_EQ(find_table("seed001-t1").protocol.init, "torch");
  EXPECT_NE(find_table("seed001-t1").protocol.note.find("LibTorch's default initialization"),
            std::string::npos);
}

}  // namespace
}  // namespace digitlab::reproduce
