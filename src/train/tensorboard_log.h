// The TensorBoard observer: per-epoch (and optionally per-N-steps) scalars as Keras writes them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "monitor/tfevents.h"
#include "train/observer.h"

namespace digitlab::train {

// Writes TensorBoard event files laid out like Keras' TensorBoard callback, so curves from this
// program and from the Keras studies compare run against run in one TensorBoard:
//   <log_dir>/train/       epoch_loss, epoch_accuracy, epoch_learning_rate,
//                          epoch_images_per_second (and batch_loss, batch_accuracy when asked)
//   <log_dir>/validation/  epoch_loss, epoch_accuracy (only once validation metrics exist)
//   <log_dir>/test/        epoch_loss, epoch_accuracy (only on epochs with test metrics)
// Epoch scalars use the epoch number (from 1) as step; batch scalars the global step
// (epoch - 1) * batches + batch. The trainer passes <run_dir>/tensorboard as log_dir.
// Records reach the files at the end of every epoch and of training (see monitor::EventWriter).
class TensorBoardLog : public Observer {
 public:
  // Nothing is created until on_train_begin, after the trainer has checked and prepared the run
  // directory; then <log_dir>/train and its event file. every_n_steps > 0 also logs
  // batch_loss/batch_accuracy (the running means over the epoch so far, as Keras' batch logs are)
  // every that many global steps. Throws core::RuntimeError naming the path when the directory or
  // file cannot be created.
  explicit TensorBoardLog(std::string log_dir, int64_t every_n_steps = 0);

  // Creates the train run. Throws core::RuntimeError naming the path when it cannot.
  void on_train_begin(const TrainBegin& e) override;
  void on_batch_end(const BatchEnd& e) override;
  // Histograms and the sample image go to the train run, step = epoch.
  void on_epoch_extras(const EpochExtras& e) override;
  // Writes the epoch's scalars and flushes every run. Throws core::RuntimeError on a failed write.
  void on_epoch_end(const EpochEnd& e) override;
  void on_train_end(const TrainEnd& e) override;

  // Adds a histogram (30 equal-width buckets, see monitor::make_histogram) to the train run, e.g.
  // one per layer's weights with tag "<layer>/weights". Written at the next flush.
  void add_histogram(const std::string& tag, int64_t step, const std::vector<float>& values);
  // Adds an encoded PNG (channels 1-4) to the train run, e.g. sample predictions. Throws
  // core::RuntimeError for bad sizes. Written at the next flush.
  void add_image(const std::string& tag, int64_t step, int width, int height, int channels,
                 const std::string& png_bytes);
  // Writes everything queued in every run.
  void flush();

  const std::string& log_dir() const { return log_dir_; }

 private:
  monitor::EventWriter& run(std::unique_ptr<monitor::EventWriter>& writer, const char* name);
  std::string log_dir_;
  int64_t every_n_steps_;
  std::unique_ptr<monitor::EventWriter> train_, validation_, test_;
};

}  // namespace digitlab::train
