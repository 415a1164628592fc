// Evaluation: a network's predictions over a split, metrics, and the `evaluate` command.
#pragma once

#include <torch/torch.h>

#include "data/dataset.h"
#include "data/normalization.h"
#include "data/registry.h"
#include "models/spec.h"
#include "train/metrics.h"
#include "train/options.h"

namespace digitlab::train {

struct SplitPredictions {
  torch::Tensor probabilities;  // float [N,K]
  torch::Tensor predicted;      // int64 [N]
  double loss = 0;              // mean over the split
  double accuracy = 0;
};

// Runs `net` in eval and inference mode over uint8 images [N,H,W] in batches, through infer():
// in the network's own dtype and device, or in bf16 within an AutocastScope. Restores the
// network's previous train/eval mode afterwards.
// With `tta`, each image's probabilities are the mean over the image and its one-pixel shifts
// up, down, left and right (zero fill), and the loss is the cross-entropy of that mean.
SplitPredictions predict_split(torch::nn::Sequential& net, models::Head head,
                               const torch::Tensor& images_u8, const torch::Tensor& labels,
                               const data::Normalization& norm, int64_t batch_size = 1000,
                               bool tta = false);

// The images a checkpoint is evaluated on: the data set's test split ("test"), or the validation
// images its run held out ("val"), rebuilt from the options stored in the checkpoint. Throws
// core::UsageError for another split name, a run without validation images or an ensemble (val).
struct LoadedCheckpoint;
data::TensorSplit load_eval_split(const LoadedCheckpoint& ck, const std::string& split,
                                  const std::string& data_root, const data::DatasetInfo& info);

// predict_split over `split` with the checkpoint's own network, head and normalization; a failure
// inside torch becomes one core::RuntimeError line naming the checkpoint.
SplitPredictions predict_checkpoint(LoadedCheckpoint& ck, const data::TensorSplit& split,
                                    int64_t batch_size, bool tta);

// Uint8 images [..., H, W] moved `dy` rows down and `dx` columns right, zeros filling in.
// Requires |dy| < H and |dx| < W.
torch::Tensor shift_images(const torch::Tensor& images_u8, int64_t dy, int64_t dx);

}  // namespace digitlab::train
