// Training events and the Observer interface through which the trainer reports them; no torch.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace digitlab::train {

struct TrainBegin {
  std::string model, spec, dataset, out_dir, optimizer;
  int64_t parameters = 0;
  int64_t train_size = 0, val_size = 0, batch_size = 0, batches_per_epoch = 0;
  int epochs = 0, threads = 0;
  double lr = 0;
  std::string device = "cpu", precision = "fp32", precision_reason = "";
  // A resumed run: where it continues, and the metrics of the epochs it had finished.
  int start_epoch = 1;
  int64_t start_batch = 0;
  std::vector<nlohmann::json> previous_epochs;
};

struct BatchEnd {
  int epoch = 0, epochs = 0;  // epoch counts from 1
  int64_t batch = 0, batches = 0;
  double loss = 0, acc = 0;  // running means over the epoch so far
  double images_per_second = 0;
  double epoch_seconds = 0;
};

struct EpochEnd {
  int epoch = 0, epochs = 0;
  double train_loss = 0, train_acc = 0;
  std::optional<double> val_loss, val_acc;
  std::optional<double> test_loss, test_acc;  // only on --test-every epochs
  double lr = 0;
  double seconds = 0;
  double images_per_second = 0;
  bool improved = false;  // the monitored metric improved (a new best.pt)
  nlohmann::json to_json() const;
};

// Per-epoch extras for monitoring, computed only when the options ask for them: each costs a pass
// over the weights or a forward pass.
struct EpochExtras {
  int epoch = 0;
  std::vector<std::pair<std::string, std::vector<float>>> histograms;  // tag, values
  std::string image_png;  // a grid of sample validation predictions; empty when not asked
  int image_width = 0, image_height = 0;
};

struct TrainEnd {
  int epochs_run = 0;
  bool stopped_early = false;
  int best_epoch = 0;
  std::string monitor;
  double best_value = 0;
  double seconds = 0;
  bool interrupted = false;  // stopped on a signal after saving; the process exits next
};

// Receives training events. The trainer knows only this interface; progress bars, logs and
// TensorBoard writers implement it.
class Observer {
 public:
  virtual ~Observer() = default;
  virtual void on_train_begin(const TrainBegin&) {}
  virtual void on_batch_end(const BatchEnd&) {}
  // Sent before on_epoch_end of the same epoch.
  virtual void on_epoch_extras(const EpochExtras&) {}
  virtual void on_epoch_end(const EpochEnd&) {}
  virtual void on_train_end(const TrainEnd&) {}
};

}  // namespace digitlab::train
