// Console progress and metrics log observers.
#include "train/observers.h"

#include <cmath>
#include <cstdio>

#include "core/files.h"
#include "core/system.h"

namespace digitlab::train {

nlohmann::json EpochEnd::to_json() const {
  nlohmann::json j = {{"epoch", epoch},         {"train_loss", train_loss},
                      {"train_acc", train_acc}, {"val_loss", nullptr},
                      {"val_acc", nullptr},     {"lr", lr},
                      {"seconds", seconds},     {"images_per_second", images_per_second}};
  if (val_loss) j["val_loss"] = *val_loss;
  if (val_acc) j["val_acc"] = *val_acc;
  if (test_loss) j["test_loss"] = *test_loss;
  if (test_acc) j["test_acc"] = *test_acc;
  return j;
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) seconds = 0;
  long s = std::lround(seconds);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof(buf), "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  } else {
    std::snprintf(buf, sizeof(buf), "%ld:%02ld", s / 60, s % 60);
  }
  return buf;
}

ConsoleProgress::ConsoleProgress(bool interactive) : interactive_(interactive) {}

void ConsoleProgress::on_train_begin(const TrainBegin& e) {
  std::printf(
      "training %s (%s, %lld parameters) on %s: %lld train / %lld validation images, "
      "batch %lld, %s lr %g, %d threads, %s %s (%s) -> %s\n",
      e.model.c_str(), e.spec.c_str(), static_cast<long long>(e.parameters), e.dataset.c_str(),
      static_cast<long long>(e.train_size), static_cast<long long>(e.val_size),
      static_cast<long long>(e.batch_size), e.optimizer.c_str(), e.lr, e.threads, e.device.c_str(),
      e.precision.c_str(), e.precision_reason.c_str(), e.out_dir.c_str());
  if (e.start_epoch > 1 || e.start_batch > 0) {
    std::printf("resuming at epoch %d, batch %lld of %lld\n", e.start_epoch,
                static_cast<long long>(e.start_batch + 1),
                static_cast<long long>(e.batches_per_epoch));
  }
  std::fflush(stdout);
}

void ConsoleProgress::on_batch_end(const BatchEnd& e) {
  if (!interactive_) return;
  const auto now = std::chrono::steady_clock::now();
  if (e.batch != e.batches && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  constexpr int kWidth = 24;
  const int filled = static_cast<int>(kWidth * e.batch / std::max<int64_t>(1, e.batches));
  std::string bar(size_t(filled), '=');
  if (filled < kWidth) bar += '>' + std::string(size_t(kWidth - filled - 1), ' ');
  const double eta =
      e.batch > 0 ? e.epoch_seconds * double(e.batches - e.batch) / double(e.batch) : 0;
  std::printf("\r\033[Kepoch %d/%d [%s] %lld/%lld loss %.4f acc %.2f%% %.0f img/s ETA %s", e.epoch,
              e.epochs, bar.c_str(), static_cast<long long>(e.batch),
              static_cast<long long>(e.batches), e.loss, 100 * e.acc, e.images_per_second,
              format_duration(eta).c_str());
  std::fflush(stdout);
}

void ConsoleProgress::on_epoch_end(const EpochEnd& e) {
  if (interactive_) std::printf("\r\033[K");
  if (std::isnan(e.train_loss)) {
    std::printf("epoch %d/%d  (no training loss: the model stores the training set)", e.epoch,
                e.epochs);
  } else {
    std::printf("epoch %d/%d  loss %.4f  acc %.2f%%", e.epoch, e.epochs, e.train_loss,
                100 * e.train_acc);
  }
  if (e.val_loss) std::printf("  val_loss %.4f  val_acc %.2f%%", *e.val_loss, 100 * *e.val_acc);
  if (e.test_acc) std::printf("  test_acc %.2f%%", 100 * *e.test_acc);
  std::printf("  %.1fs  %.0f img/s%s\n", e.seconds, e.images_per_second, e.improved ? "  *" : "");
  std::fflush(stdout);
}

void ConsoleProgress::on_train_end(const TrainEnd& e) {
  if (e.interrupted) {  // the error line that follows says what was saved
    if (interactive_) std::printf("\n");
    std::fflush(stdout);
    return;
  }
  if (e.stopped_early) {
    std::printf("early stopping after epoch %d: best %s %.4f at epoch %d\n", e.epochs_run,
                e.monitor.c_str(), e.best_value, e.best_epoch);
  }
  std::printf("trained %d epochs in %s, peak memory %.0f MiB\n", e.epochs_run,
              format_duration(e.seconds).c_str(), core::peak_rss_mib());
  std::fflush(stdout);
}

MetricsLog::MetricsLog(std::string path) : path_(std::move(path)) {}

void MetricsLog::on_train_begin(const TrainBegin& e) {
  // A resumed run rewrites the file from the checkpoint's history: an epoch that ended after the
  // checkpoint was written (a kill between the two) is trained again, not listed twice.
  text_.clear();
  for (const auto& j : e.previous_epochs) text_ += j.dump() + "\n";
}

void MetricsLog::on_epoch_end(const EpochEnd& e) {
  text_ += e.to_json().dump() + "\n";
  core::write_file_atomic(path_, text_);
}

const std::vector<std::string>& metrics_csv_columns() {
  static const std::vector<std::string> kColumns = {
      "epoch",     "train_loss", "train_acc", "val_loss", "val_acc",
      "test_loss", "test_acc",   "lr",        "seconds",  "images_per_second"};
  return kColumns;
}

namespace {

// One CSV row of an epoch's metrics.jsonl object; numbers are written as the JSON has them.
std::string csv_row(const nlohmann::json& j) {
  std::string row;
  const auto& columns = metrics_csv_columns();
  for (size_t i = 0; i < columns.size(); ++i) {
    if (i > 0) row += ",";
    const auto it = j.find(columns[i]);
    if (it != j.end() && (it->is_number() || it->is_boolean())) row += it->dump();
  }
  return row + "\n";
}

std::string csv_header() {
  std::string h;
  for (const auto& c : metrics_csv_columns()) h += (h.empty() ? "" : ",") + c;
  return h + "\n";
}

}  // namespace

MetricsCsv::MetricsCsv(std::string path) : path_(std::move(path)) {}

void MetricsCsv::on_train_begin(const TrainBegin& e) {
  // As MetricsLog: the checkpoint's history, so an epoch trained again is not listed twice.
  text_ = csv_header();
  for (const auto& j : e.previous_epochs) text_ += csv_row(j);
}

void MetricsCsv::on_epoch_end(const EpochEnd& e) {
  text_ += csv_row(e.to_json());
  core::write_file_atomic(path_, text_);
}

}  // namespace digitlab::train
