// Evaluation: a network's predictions over a split, metrics, and the `evaluate` command.
#pragma once

#include <torch/torch.h>

#include "data/normalization.h"
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
SplitPredictions predict_split(torch::nn::Sequential& net, models::Head head,
                               const torch::Tensor& images_u8, const torch::Tensor& labels,
                               const data::Normalization& norm, int64_t batch_size = 1000);

}  // namespace digitlab::train
