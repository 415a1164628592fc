// Confusion matrix metrics, their averages, and one-vs-rest ROC and precision-recall curves.
#include "train/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>

namespace digitlab::train {

ConfusionMatrix::ConfusionMatrix(int num_classes)
    : k_(num_classes), counts_(size_t(num_classes) * size_t(num_classes), 0) {}

void ConfusionMatrix::add(int truth, int predicted, int64_t count) {
  counts_[size_t(truth * k_ + predicted)] += count;
}

int64_t ConfusionMatrix::total() const {
  int64_t t = 0;
  for (int64_t c : counts_) t += c;
  return t;
}

double ConfusionMatrix::accuracy() const {
  const int64_t t = total();
  if (t == 0) return 0.0;
  int64_t diag = 0;
  for (int i = 0; i < k_; ++i) diag += at(i, i);
  return double(diag) / double(t);
}

ClassScores ConfusionMatrix::scores(int cls) const {
  int64_t tp = at(cls, cls), predicted = 0, actual = 0;
  for (int i = 0; i < k_; ++i) {
    predicted += at(i, cls);
    actual += at(cls, i);
  }
  ClassScores s;
  s.support = actual;
  s.precision = predicted > 0 ? double(tp) / double(predicted) : 0.0;
  s.recall = actual > 0 ? double(tp) / double(actual) : 0.0;
  s.f1 = s.precision + s.recall > 0 ? 2 * s.precision * s.recall / (s.precision + s.recall) : 0.0;
  return s;
}

nlohmann::json ConfusionMatrix::to_json() const {
  nlohmann::json rows = nlohmann::json::array();
  for (int i = 0; i < k_; ++i) {
    nlohmann::json row = nlohmann::json::array();
    for (int j = 0; j < k_; ++j) row.push_back(at(i, j));
    rows.push_back(row);
  }
  return rows;
}

std::string ConfusionMatrix::to_csv(const std::vector<std::string>& names) const {
  auto quote = [](const std::string& s) {
    if (s.find_first_of(",\"") == std::string::npos) return s;
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  };
  std::string out = "true\\pred";
  for (int j = 0; j < k_; ++j) out += "," + quote(names[size_t(j)]);
  out += "\n";
  for (int i = 0; i < k_; ++i) {
    out += quote(names[size_t(i)]);
    for (int j = 0; j < k_; ++j) out += "," + std::to_string(at(i, j));
    out += "\n";
  }
  return out;
}

AveragedScores average_scores(const ConfusionMatrix& cm) {
  AveragedScores a;
  const int k = cm.num_classes();
  const int64_t total = cm.total();
  for (int c = 0; c < k; ++c) {
    const ClassScores s = cm.scores(c);
    a.macro.precision += s.precision / k;
    a.macro.recall += s.recall / k;
    a.macro.f1 += s.f1 / k;
    if (total > 0) {
      const double w = double(s.support) / double(total);
      a.weighted.precision += s.precision * w;
      a.weighted.recall += s.recall * w;
      a.weighted.f1 += s.f1 * w;
    }
  }
  a.macro.support = a.weighted.support = total;
  return a;
}

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Cumulative true and false positives at each distinct score, highest first: what both curves are
// drawn from.
struct Steps {
  std::vector<int64_t> tps, fps;
  int64_t positives = 0, negatives = 0;
};

Steps threshold_steps(const std::vector<double>& scores, const std::vector<bool>& positive) {
  if (scores.size() != positive.size()) {
    throw std::invalid_argument("curve: scores and labels differ in length");
  }
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  Steps s;
  int64_t tp = 0, fp = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    (positive[order[i]] ? tp : fp) += 1;
    if (i + 1 == order.size() || scores[order[i + 1]] != scores[order[i]]) {
      s.tps.push_back(tp);
      s.fps.push_back(fp);
    }
  }
  s.positives = tp, s.negatives = fp;
  return s;
}

}  // namespace

RocCurve roc_curve(const std::vector<double>& scores, const std::vector<bool>& positive) {
  const Steps s = threshold_steps(scores, positive);
  RocCurve c;
  c.fpr.push_back(0);
  c.tpr.push_back(0);
  if (s.positives == 0 || s.negatives == 0) {
    c.auc = kNaN;
    return c;
  }
  for (size_t i = 0; i < s.tps.size(); ++i) {
    c.fpr.push_back(double(s.fps[i]) / double(s.negatives));
    c.tpr.push_back(double(s.tps[i]) / double(s.positives));
    const size_t n = c.fpr.size();
    c.auc += (c.fpr[n - 1] - c.fpr[n - 2]) * (c.tpr[n - 1] + c.tpr[n - 2]) / 2;
  }
  return c;
}

PrCurve pr_curve(const std::vector<double>& scores, const std::vector<bool>& positive) {
  const Steps s = threshold_steps(scores, positive);
  PrCurve c;
  c.recall.push_back(0);
  c.precision.push_back(1);
  if (s.positives == 0) {
    c.average_precision = kNaN;
    return c;
  }
  for (size_t i = 0; i < s.tps.size(); ++i) {
    const double recall = double(s.tps[i]) / double(s.positives);
    const double precision = double(s.tps[i]) / double(s.tps[i] + s.fps[i]);
    c.average_precision += (recall - c.recall.back()) * precision;
    c.recall.push_back(recall);
    c.precision.push_back(precision);
  }
  return c;
}

OneVsRest one_vs_rest(const std::vector<std::vector<double>>& probabilities,
                      const std::vector<int>& labels, int num_classes) {
  OneVsRest out;
  std::vector<double> scores(probabilities.size());
  std::vector<bool> positive(labels.size());
  int roc_defined = 0, pr_defined = 0;
  for (int c = 0; c < num_classes; ++c) {
    for (size_t i = 0; i < probabilities.size(); ++i) {
      if (probabilities[i].size() < size_t(num_classes)) {
        throw std::invalid_argument("one_vs_rest: a row has fewer probabilities than classes");
      }
      scores[i] = probabilities[i][size_t(c)];
      positive[i] = labels[i] == c;
    }
    out.roc.push_back(roc_curve(scores, positive));
    out.pr.push_back(pr_curve(scores, positive));
    if (!std::isnan(out.roc.back().auc)) out.macro_roc_auc += out.roc.back().auc, ++roc_defined;
    if (!std::isnan(out.pr.back().average_precision)) {
      out.macro_average_precision += out.pr.back().average_precision, ++pr_defined;
    }
  }
  out.macro_roc_auc = roc_defined ? out.macro_roc_auc / roc_defined : kNaN;
  out.macro_average_precision = pr_defined ? out.macro_average_precision / pr_defined : kNaN;
  return out;
}

std::vector<std::pair<double, double>> thin_curve(const std::vector<double>& x,
                                                  const std::vector<double>& y, size_t max_points) {
  std::vector<std::pair<double, double>> out;
  const size_t n = std::min(x.size(), y.size());
  if (n == 0) return out;
  // Both curves run within the unit square, over a path at most 2 long.
  const double step = 2.0 / double(std::max<size_t>(max_points, 2));
  out.emplace_back(x[0], y[0]);
  for (size_t i = 1; i + 1 < n; ++i) {
    if (std::max(std::abs(x[i] - out.back().first), std::abs(y[i] - out.back().second)) >= step) {
      out.emplace_back(x[i], y[i]);
    }
  }
  if (n > 1) out.emplace_back(x[n - 1], y[n - 1]);
  return out;
}

}  // namespace digitlab::train
