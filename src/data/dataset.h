// Data sets as tensors: splits, train/validation partition, normalization and batches.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "data/normalization.h"
#include "data/store.h"

namespace digitlab::data {

// Images as uint8 [N,H,W] (kept small: 47 MB for MNIST) and labels as int64 [N].
struct TensorSplit {
  torch::Tensor images;
  torch::Tensor labels;
  int64_t size() const { return images.size(0); }
};

// Copies a checked raw split into tensors; `limit` > 0 keeps only the first `limit` items.
TensorSplit to_tensors(const RawSplit& raw, int64_t limit = 0);

// Rows of `split` picked by `index` (int64 [M]).
TensorSplit subset(const TensorSplit& split, const torch::Tensor& index);

// A seeded random partition of 0..n-1 into train and validation indices, each sorted.
// Requires 0 <= val_count < n. Same (n, val_count, seed) gives the same partition everywhere.
struct TrainValIndices {
  std::vector<int64_t> train, val;
};
TrainValIndices split_train_val(int64_t n, int64_t val_count, uint64_t seed);

// Stratified partition: each class keeps its share of the validation images (largest remainders
// decide the rounding), so class counts in train and validation follow the whole set's.
// `labels` are class ids below `num_classes`. Same guarantees as split_train_val otherwise.
TrainValIndices split_train_val_stratified(const std::vector<int64_t>& labels, int64_t val_count,
                                           uint64_t seed, int num_classes);

// The partition a run uses: `strategy` "random" (split_train_val) or "stratified".
// Throws core::UsageError for another strategy.
TrainValIndices partition(const TensorSplit& all, int64_t val_count, uint64_t seed,
                          const std::string& strategy, int num_classes);

// Statistics for `standard` normalization from uint8 images: mean/std of pixels in [0,1].
Normalization make_normalization(const std::string& mode, const torch::Tensor& images_u8);

// uint8 [B,H,W] -> float [B,1,H,W] normalized as `norm` says.
torch::Tensor to_input(const torch::Tensor& images_u8, const Normalization& norm);

// The order of 0..n-1 in an epoch: shuffled by (seed, epoch) when `shuffle`, else 0..n-1.
std::vector<int64_t> epoch_order(int64_t n, bool shuffle, uint64_t seed, int64_t epoch);

// Batches of an epoch: the order of 0..n-1 is shuffled by (seed, epoch) when `shuffle`, so an
// epoch's order can be rebuilt without replaying earlier ones. The last partial batch is kept
// unless `drop_last`.
std::vector<torch::Tensor> epoch_batches(int64_t n, int64_t batch_size, bool shuffle, uint64_t seed,
                                         int64_t epoch, bool drop_last = false);

}  // namespace digitlab::data
