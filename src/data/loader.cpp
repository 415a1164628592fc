// The batch loader.
#include "data/loader.h"

#include <algorithm>
#include <cstring>

namespace digitlab::data {

Loader::Loader(const TensorSplit& split, LoaderOptions options)
    : split_{split.images.contiguous(), split.labels.contiguous()}, o_(std::move(options)) {
  n_ = split_.images.size(0);
  h_ = split_.images.size(1);
  w_ = split_.images.size(2);
  o_.world = std::max(1, o_.world);
  const int64_t global = o_.batch_size * o_.world;
  batches_ = o_.drop_last ? n_ / global : (n_ + global - 1) / global;
  // Every rank needs two images of the last global batch (batch norm cannot train on one).
  if (o_.world > 1 && !o_.drop_last && batches_ > 0 &&
      n_ - (batches_ - 1) * global < 2 * o_.world) {
    --batches_;
  }
  o_.prefetch = std::max(1, o_.prefetch);
  for (int i = 0; i < o_.workers; ++i) threads_.emplace_back([this] { work(); });
}

Loader::~Loader() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void Loader::start_epoch(int64_t epoch, int64_t first_batch) {
  std::unique_lock<std::mutex> lock(mu_);
  // Let batches being made for the previous epoch finish before the order changes under them.
  ready_cv_.wait(lock, [&] { return in_flight_ == 0; });
  order_ = epoch_order(n_, o_.shuffle, o_.seed, epoch);
  epoch_ = epoch;
  next_make_ = next_take_ = std::clamp<int64_t>(first_batch, 0, batches_);
  ready_.clear();
  lock.unlock();
  work_cv_.notify_all();
}

Batch Loader::make(int64_t k, int64_t epoch, const std::vector<int64_t>& order) const {
  const int64_t global_start = k * o_.batch_size * o_.world;
  const int64_t global_len = std::min(o_.batch_size * o_.world, n_ - global_start);
  // Shard r of the global batch: parts of near-equal size, the larger ones first.
  const int64_t part = global_len / o_.world, extra = global_len % o_.world;
  const int64_t start = global_start + o_.rank * part + std::min<int64_t>(o_.rank, extra);
  const int64_t len = part + (o_.rank < extra ? 1 : 0);
  const int64_t pixels = h_ * w_;
  Batch b;
  b.index = k;
  b.global_size = global_len;
  b.x = torch::empty({len, 1, h_, w_}, torch::kFloat32);
  b.y = torch::empty({len}, torch::kInt64);
  const uint8_t* images = split_.images.data_ptr<uint8_t>();
  const int64_t* labels = split_.labels.data_ptr<int64_t>();
  float* x = b.x.data_ptr<float>();
  int64_t* y = b.y.data_ptr<int64_t>();
  const float scale = float(o_.normalization.scale()), shift = float(o_.normalization.shift());
  const bool augment = o_.augment.enabled();
  for (int64_t i = 0; i < len; ++i) {
    const int64_t id = order[size_t(start + i)];
    const uint8_t* src = images + id * pixels;
    float* dst = x + i * pixels;
    if (augment) {
      Rng rng(image_stream(o_.seed, epoch, start + i));
      augment_image(src, dst, int(h_), int(w_), o_.augment, rng);
      for (int64_t p = 0; p < pixels; ++p) dst[p] = dst[p] * scale + shift;
    } else {
      for (int64_t p = 0; p < pixels; ++p) dst[p] = float(src[p]) * scale + shift;
    }
    y[i] = labels[id];
  }
  return b;
}

void Loader::work() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    work_cv_.wait(lock, [&] {
      return stop_ ||
             (epoch_ >= 0 && next_make_ < batches_ && next_make_ < next_take_ + o_.prefetch);
    });
    if (stop_) return;
    const int64_t k = next_make_++, epoch = epoch_;
    ++in_flight_;
    const std::vector<int64_t>& order = order_;  // not replaced while in_flight_ > 0
    lock.unlock();
    Batch b;
    std::exception_ptr error;
    try {
      b = make(k, epoch, order);
    } catch (...) {
      error = std::current_exception();
    }
    lock.lock();
    --in_flight_;
    if (error && !error_) error_ = error;
    if (!error && epoch == epoch_) ready_.emplace(k, std::move(b));
    ready_cv_.notify_all();
  }
}

std::optional<Batch> Loader::next() {
  std::unique_lock<std::mutex> lock(mu_);
  if (epoch_ < 0 || next_take_ >= batches_) return std::nullopt;
  const int64_t k = next_take_;
  if (threads_.empty()) {
    ++next_take_;
    return make(k, epoch_, order_);
  }
  ready_cv_.wait(lock, [&] { return error_ || ready_.count(k) > 0; });
  if (error_) std::rethrow_exception(error_);
  Batch b = std::move(ready_.at(k));
  ready_.erase(k);
  ++next_take_;
  lock.unlock();
  work_cv_.notify_all();
  return b;
}

}  // namespace digitlab::data
