// Classification metrics: accuracy, per-class precision, recall, F1 and their averages from a
// confusion matrix; one-vs-rest ROC and precision-recall curves from scores.
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

// The averages scikit-learn's classification_report prints under the classes: `macro` is the
// unweighted mean over all classes (absent ones count as 0), `weighted` the mean weighted by
// support; each `support` is the total. Both are zero for an empty matrix.
struct AveragedScores {
  ClassScores macro, weighted;
};
AveragedScores average_scores(const ConfusionMatrix& cm);

// A one-vs-rest ROC curve: one point per distinct score, highest score first, after (0, 0).
// `auc` is the area under it by the trapezoidal rule; NaN when the scores have no positive or no
// negative (the curve is then undefined, as in scikit-learn).
struct RocCurve {
  std::vector<double> fpr, tpr;
  double auc = 0;
};

// A precision-recall curve: (recall, precision) at each distinct score, highest score first,
// after the point (0, 1). `average_precision` is scikit-learn's: the sum over those thresholds of
// (R_n - R_n-1) * P_n, with no interpolation; NaN without positives.
struct PrCurve {
  std::vector<double> recall, precision;
  double average_precision = 0;
};

// Curves of `scores` (higher means more likely positive) against `positive`, of equal size.
// Equal scores form one threshold, so ties are one diagonal step as in scikit-learn.
RocCurve roc_curve(const std::vector<double>& scores, const std::vector<bool>& positive);
PrCurve pr_curve(const std::vector<double>& scores, const std::vector<bool>& positive);

// Both curves of every class, one against the rest, from probabilities [N][K] and labels [N]
// (each 0 <= label < K; a row shorter than K throws std::invalid_argument).
struct OneVsRest {
  std::vector<RocCurve> roc;
  std::vector<PrCurve> pr;
  double macro_roc_auc = 0, macro_average_precision = 0;  // means over the defined (non-NaN) ones
};
OneVsRest one_vs_rest(const std::vector<std::vector<double>>& probabilities,
                      const std::vector<int>& labels, int num_classes);

// At most about `max_points` of a curve's points for drawing: the first and last always, and in
// between a point only once it has moved a visible step from the last one kept.
std::vector<std::pair<double, double>> thin_curve(const std::vector<double>& x,
                                                  const std::vector<double>& y,
                                                  size_t max_points = 200);

}  // namespace digitlab::train
