// Parsing metrics.jsonl into per-epoch metrics, with a warning for every line left out.
#include "train/metrics_log.h"

#include <algorithm>
#include <cmath>
#include <map>

#include <nlohmann/json.hpp>

#include "core/files.h"
#include "core/json.h"
#include "core/run_files.h"

namespace digitlab::train {
namespace {

using nlohmann::json;

std::optional<double> number(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return std::nullopt;
  const double v = it->get<double>();
  return std::isfinite(v) ? std::optional<double>(v) : std::nullopt;
}

EpochMetrics epoch_metrics(const json& j, int epoch) {
  EpochMetrics m;
  m.epoch = epoch;
  m.train_loss = number(j, "train_loss");
  m.train_acc = number(j, "train_acc");
  m.val_loss = number(j, "val_loss");
  m.val_acc = number(j, "val_acc");
  m.test_loss = number(j, "test_loss");
  m.test_acc = number(j, "test_acc");
  m.lr = number(j, "lr");
  m.seconds = number(j, "seconds");
  m.images_per_second = number(j, "images_per_second");
  return m;
}

}  // namespace

MetricsLogRead read_metrics_log(const std::string& content) {
  const std::string name = core::run_files::kMetrics;
  MetricsLogRead out;
  const std::vector<std::string> lines = core::split_lines(content);
  size_t last_nonblank = lines.size();
  for (size_t i = lines.size(); i-- > 0;) {
    if (!core::blank_line(lines[i])) {
      last_nonblank = i;
      break;
    }
  }
  if (last_nonblank == lines.size()) {
    out.warnings.push_back(name + ": empty; no curves");
    return out;
  }
  std::map<int, EpochMetrics> by_epoch;
  int last_epoch = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (core::blank_line(lines[i])) continue;
    const std::string where = name + " line " + std::to_string(i + 1) + ": ";
    const json j = core::parse_json(lines[i]);
    if (j.is_discarded()) {
      // A cut-off last line is what an interrupted write or copy leaves; say where curves end.
      if (i == last_nonblank) {
        out.warnings.push_back(where + "not valid JSON; " +
                               (by_epoch.empty()
                                    ? std::string("no epoch could be read")
                                    : "the curves stop at epoch " + std::to_string(last_epoch)));
      } else {
        out.warnings.push_back(where + "not valid JSON; skipped");
      }
      continue;
    }
    if (!j.is_object()) {
      out.warnings.push_back(where + "not a JSON object; skipped");
      continue;
    }
    if (j.contains("step") && !j.contains("train_loss")) continue;
    const auto epoch = number(j, "epoch");
    if (!epoch || *epoch < 0 || *epoch != std::floor(*epoch) || *epoch > 1e9) {
      out.warnings.push_back(where + "no whole \"epoch\" number; skipped");
      continue;
    }
    const int e = int(*epoch);
    if (by_epoch.count(e)) {
      out.warnings.push_back(where + "epoch " + std::to_string(e) +
                             " appears again; the later entry is used");
    }
    by_epoch[e] = epoch_metrics(j, e);
    last_epoch = std::max(last_epoch, e);
  }
  for (auto& [e, m] : by_epoch) out.epochs.push_back(m);
  return out;
}

}  // namespace digitlab::train
