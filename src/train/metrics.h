// Classification metrics from a confusion matrix: accuracy, per-class precision, recall, F1.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace digitlab::train {

struct ClassScores {
  double precision = 0, recall = 0, f1 = 0;
  int64_t support = 0;  // true members of the class
};

// Counts [true][predicted] over `num_classes` classes.
class ConfusionMatrix {
 public:
  explicit ConfusionMatrix(int num_classes);
  // Requires 0 <= truth, predicted < num_classes.
  void add(int truth, int predicted, int64_t count = 1);
  int num_classes() const { return k_; }
  int64_t at(int truth, int predicted) const { return counts_[size_t(truth * k_ + predicted)]; }
  int64_t total() const;
  double accuracy() const;
  // Precision/recall/F1 of one class; a class never predicted (or absent) scores 0 there.
  ClassScores scores(int cls) const;
  // Rows are true classes.
  nlohmann::json to_json() const;
  // CSV with a header row "true\\pred,<names...>" and one row per true class.
  std::string to_csv(const std::vector<std::string>& class_names) const;

 private:
  int k_;
  std::vector<int64_t> counts_;
};

}  // namespace digitlab::train
