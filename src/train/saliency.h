// Saliency maps: which pixels move a network's score for its predicted class, drawn for the report.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "data/normalization.h"

namespace digitlab::train {

// |d score[class] / d pixel| for each uint8 image [N,H,W] and its class [N] (int64), where score
// is the network's output (logit or log-probability) for that class; each map is divided by its
// own maximum. Requires a differentiable network (not k-NN). Guarantees a float CPU tensor
// [N,H,W] with values in [0,1] (all zeros for an image whose gradient vanishes). Restores the
// network's train/eval mode and leaves no gradients in its parameters.
torch::Tensor saliency_maps(torch::nn::Sequential& net, const torch::Tensor& images_u8,
                            const torch::Tensor& classes, const data::Normalization& norm);

// Up to `count` test images to explain: misclassified ones first (up to half, in index order),
// then correctly classified ones to fill, so the sheet shows both when there are both.
std::vector<int64_t> saliency_picks(const torch::Tensor& labels, const torch::Tensor& predicted,
                                    int count);

// PNG (RGB) of one cell per image, in rows of four: the image, and its saliency beside it as a
// black-red-yellow-white heat map, each 3x zoomed, with "true-predicted" (class indices) under
// them. Requires maps from saliency_maps for `images_u8` and one label and prediction per image.
std::string saliency_png(const torch::Tensor& images_u8, const torch::Tensor& maps,
                         const std::vector<int64_t>& labels, const std::vector<int64_t>& predicted);

}  // namespace digitlab::train
