// Batches for training: shuffled per epoch, augmented and normalized on worker threads ahead of
// the training step, handed over in order without copies.
#pragma once

#include <torch/torch.h>

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "data/augment.h"
#include "data/dataset.h"
#include "data/normalization.h"

namespace digitlab::data {

struct LoaderOptions {
  int64_t batch_size = 64;
  bool shuffle = true;
  bool drop_last = false;
  uint64_t seed = 0;
  int workers = 1;   // 0: batches are made on the calling thread
  int prefetch = 4;  // batches made ahead of the consumer
  AugmentSpec augment;
  Normalization normalization;
  // Data parallelism: a global batch of batch_size * world images, taken in the same order by
  // every rank, is split into `world` contiguous shards; this loader yields shard `rank`.
  int rank = 0;
  int world = 1;
};

struct Batch {
  torch::Tensor x;  // float [B,1,H,W], normalized
  torch::Tensor y;  // int64 [B]
  int64_t index = 0;
  int64_t global_size = 0;  // images in the global batch this shard belongs to (all ranks)
};

// Requires: split.images uint8 [N,H,W] and split.labels int64 [N], both contiguous, outliving the
// loader. Guarantees: between start_epoch(e) and the end of the epoch, next() returns the batches
// of epoch e in order, each image exactly once (the last partial batch dropped only with
// drop_last), the order and every augmentation a function of (seed, e) alone, whatever the number
// of workers. With world > 1, batch k of every rank together is batch k of one loader with
// batch_size * world: rank r gets the r-th of `world` near-equal contiguous parts (a last global
// batch smaller than 2 * world is dropped, so every rank gets at least two images), and an image's
// augmentation is the same whichever rank draws it.
class Loader {
 public:
  Loader(const TensorSplit& split, LoaderOptions options);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // Begins epoch `epoch` (any batches still queued from the previous one are dropped) at batch
  // `first_batch`: a resumed run skips the batches it had trained, and the rest are the same.
  void start_epoch(int64_t epoch, int64_t first_batch = 0);
  // The next batch of the epoch, or nullopt when it is over.
  std::optional<Batch> next();
  int64_t batches_per_epoch() const { return batches_; }
  int64_t size() const { return n_; }

 private:
  Batch make(int64_t k, int64_t epoch, const std::vector<int64_t>& order) const;
  void work();

  TensorSplit split_;
  LoaderOptions o_;
  int64_t n_ = 0, h_ = 0, w_ = 0, batches_ = 0;

  std::mutex mu_;
  std::condition_variable work_cv_, ready_cv_;
  std::vector<int64_t> order_;
  int64_t epoch_ = -1;
  int64_t next_make_ = 0, next_take_ = 0, in_flight_ = 0;
  std::map<int64_t, Batch> ready_;
  std::exception_ptr error_;  // the first exception a worker met, rethrown by next()
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace digitlab::data
