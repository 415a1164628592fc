// `digitlab train`: the trainer with the console, metrics.jsonl and TensorBoard observers.
#include <cstdio>
#include <memory>

#include <torch/torch.h>

#include "core/error.h"
#include "core/files.h"
#include "core/interrupt.h"
#include "core/run_files.h"
#include "core/terminal.h"
#include "data/registry.h"
#include "train/collective.h"
#include "train/line_train.h"
#include "train/observers.h"
#include "train/tensorboard_log.h"
#include "train/train_commands.h"
#include "train/trainer.h"

namespace digitlab::train {

int train_command(const TrainOptions& options, std::string* run_dir, Collective* group) {
  if (is_line_training(options)) {
    if (group) throw core::UsageError("--dataset mnist-lines: trains on one machine only");
    return train_lines_command(options, run_dir);
  }
  const bool lead = !group || group->rank() == 0;
  ConsoleProgress progress(core::stdout_is_terminal());
  TrainOptions o = options;
  resolve_model(o);
  if (o.summary && lead) {
    const int64_t classes = int64_t(data::find_dataset(o.dataset, o.data_root).class_names.size());
    std::fputs(summary_text(o.model, o.arch, classes).c_str(), stdout);
    std::fflush(stdout);
  }
  MetricsLog log(core::join_path(o.out_dir, core::run_files::kMetrics));
  MetricsCsv csv(core::join_path(o.out_dir, core::run_files::kMetricsCsv));
  std::vector<Observer*> observers;
  if (lead) observers = {&progress, &log, &csv};  // the other ranks train silently
  core::InterruptGuard interrupts;  // Ctrl-C and SIGTERM save a checkpoint before exiting
  std::unique_ptr<TensorBoardLog> tensorboard;
  if (o.tensorboard && lead) {
    tensorboard = std::make_unique<TensorBoardLog>(
        core::join_path(o.out_dir, core::run_files::kTensorBoard), o.tb_every_steps);
    observers.push_back(tensorboard.get());
  }
  try {
    TrainResult r = train(o, observers, group);
    if (run_dir) *run_dir = r.run_dir;
    if (lead) {
      std::printf("best epoch %d; checkpoints in %s/checkpoints (best.pt, last.pt)\n", r.best_epoch,
                  r.run_dir.c_str());
    }
    if (lead && r.allreduce_steps > 0) {
      std::printf("data parallel: %d ranks; gradient allreduce %.2f ms per step (%lld floats)\n",
                  group->world_size(), 1000 * r.allreduce_seconds / double(r.allreduce_steps),
                  static_cast<long long>(r.gradient_values));
    }
  } catch (const c10::Error& e) {
    throw core::RuntimeError("training failed: " + core::one_line(e.what_without_backtrace()));
  }
  return 0;
}

}  // namespace digitlab::train
