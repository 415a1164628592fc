// The compiled data set registry agrees with scripts/datasets.sha256, which scripts/setup checks.
#include <gtest/gtest.h>

#include <sstream>

#include "core/files.h"
#include "data/registry.h"
#include "data/store.h"
#include "test_util.h"

namespace digitlab::data {
namespace {

TEST(Registry, ChecksumsMatchTheSetupScript) {
  std::istringstream in(core::read_file(testing::source_dir() + "/scripts/datasets.sha256"));
  std::string sum, path;
  size_t lines = 0;
  while (in >> sum >> path) {
    ++lines;
    const std::string dir = path.substr(0, path.find('/'));
    const std::string name = path.substr(path.find('/') + 1);
    bool found = false;
    for (const auto& d : datasets()) {
      if (d.dir != dir) continue;
      for (const auto& f : d.files()) {
        if (f.name == name) {
          EXPECT_EQ(f.sha256, sum) << path;
          found = true;
        }
      }
    }
    EXPECT_TRUE(found) << path;
  }
  EXPECT_EQ(lines, 8u);
}

TEST(Registry, StatsOfASyntheticSplit) {
  RawSplit r;
  r.images.dims = {2, 1, 2};
  r.images.data = {0, 255, 255, 255};
  r.labels.dims = {2};
  r.labels.data = {3, 3};
  SplitStats s = compute_stats(r, 10);
  EXPECT_EQ(s.class_counts[3], 2u);
  EXPECT_DOUBLE_EQ(s.mean, 0.75);
  EXPECT_NEAR(s.std, std::sqrt(0.75 * 0.25), 1e-12);
}

TEST(Registry, VerifyFlagsMissingAndChangedFiles) {
  testing::TempDir root;
  testing::write_synthetic_mnist(root.path(), 20, 10);
  auto checks = verify_files(root.path(), find_dataset("mnist"));
  ASSERT_EQ(checks.size(), 4u);
  for (auto& c : checks) EXPECT_EQ(c.state, FileCheck::State::kMismatch);
  checks = verify_files(root.path(), find_dataset("fashion-mnist"));
  for (auto& c : checks) EXPECT_EQ(c.state, FileCheck::State::kMissing);
}

TEST(Registry, RealMnistCountsWhenPresent) {
  const std::string root = testing::real_data_root();
  const auto& info = find_dataset("mnist");
  if (!core::file_exists(dataset_dir(root, info) + "/train-labels-idx1-ubyte")) {
    GTEST_SKIP() << "MNIST not fetched under " << root << " (scripts/setup fetches it)";
  }
  RawSplit r = load_raw_split(root, info, Split::kTrain);
  SplitStats s = compute_stats(r, 10);
  const std::vector<size_t> expected = {5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949};
  EXPECT_EQ(s.class_counts, expected);
  EXPECT_NEAR(s.mean, 0.1307, 5e-5);
  EXPECT_NEAR(s.std, 0.3081, 5e-5);
}

}  // namespace
}  // namespace digitlab::data
