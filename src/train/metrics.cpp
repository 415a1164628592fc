// Confusion matrix metrics.
#include "train/metrics.h"

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

}  // namespace digitlab::train
