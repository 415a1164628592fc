// The TensorBoard observer: train/, validation/ and test/ runs of epoch and batch scalars.
#include "train/tensorboard_log.h"

#include <utility>

#include "core/files.h"

namespace digitlab::train {

TensorBoardLog::TensorBoardLog(std::string log_dir, int64_t every_n_steps)
    : log_dir_(std::move(log_dir)), every_n_steps_(every_n_steps) {}

void TensorBoardLog::on_train_begin(const TrainBegin&) { run(train_, "train"); }

void TensorBoardLog::on_epoch_extras(const EpochExtras& e) {
  for (const auto& [tag, values] : e.histograms)
    run(train_, "train").add_histogram(tag, e.epoch, values);
  if (!e.image_png.empty()) {
    run(train_, "train")
        .add_image("sample_predictions", e.epoch, e.image_width, e.image_height, 1, e.image_png);
  }
}

// Runs other than train/ start on first use, so a run without validation or test data has no
// empty directory that TensorBoard would list.
monitor::EventWriter& TensorBoardLog::run(std::unique_ptr<monitor::EventWriter>& writer,
                                          const char* name) {
  if (!writer) writer = std::make_unique<monitor::EventWriter>(core::join_path(log_dir_, name));
  return *writer;
}

void TensorBoardLog::on_batch_end(const BatchEnd& e) {
  if (every_n_steps_ <= 0) return;
  const int64_t step = int64_t(e.epoch - 1) * e.batches + e.batch;
  if (step % every_n_steps_ != 0) return;
  run(train_, "train").add_scalar("batch_loss", step, e.loss);
  run(train_, "train").add_scalar("batch_accuracy", step, e.acc);
}

void TensorBoardLog::on_epoch_end(const EpochEnd& e) {
  const int64_t step = e.epoch;
  run(train_, "train").add_scalar("epoch_loss", step, e.train_loss);
  run(train_, "train").add_scalar("epoch_accuracy", step, e.train_acc);
  run(train_, "train").add_scalar("epoch_learning_rate", step, e.lr);
  run(train_, "train").add_scalar("epoch_images_per_second", step, e.images_per_second);
  if (e.val_loss || e.val_acc) {
    monitor::EventWriter& w = run(validation_, "validation");
    if (e.val_loss) w.add_scalar("epoch_loss", step, *e.val_loss);
    if (e.val_acc) w.add_scalar("epoch_accuracy", step, *e.val_acc);
  }
  if (e.test_loss || e.test_acc) {
    monitor::EventWriter& w = run(test_, "test");
    if (e.test_loss) w.add_scalar("epoch_loss", step, *e.test_loss);
    if (e.test_acc) w.add_scalar("epoch_accuracy", step, *e.test_acc);
  }
  // Once per epoch: TensorBoard sees each epoch as it ends, and a crash loses at most this epoch.
  flush();
}

void TensorBoardLog::on_train_end(const TrainEnd&) { flush(); }

void TensorBoardLog::add_histogram(const std::string& tag, int64_t step,
                                   const std::vector<float>& values) {
  run(train_, "train").add_histogram(tag, step, values);
}

void TensorBoardLog::add_image(const std::string& tag, int64_t step, int width, int height,
                               int channels, const std::string& png_bytes) {
  run(train_, "train").add_image(tag, step, width, height, channels, png_bytes);
}

void TensorBoardLog::flush() {
  for (auto* w : {&train_, &validation_, &test_}) {
    if (*w) (*w)->flush();
  }
}

}  // namespace digitlab::train
