// Numeric precision and device: --precision and --device choices, bf16 autocast, inference setup.
#pragma once

#include <functional>
#include <string>

#include <torch/torch.h>

#include "models/spec.h"

namespace digitlab::train {

enum class Precision { kFp32, kBf16 };

struct PrecisionChoice {
  Precision precision = Precision::kFp32;
  std::string name;    // "fp32" or "bf16"
  std::string reason;  // why, for the user: "auto: this CPU has AVX512-BF16"
};

// True when this CPU computes in bf16 natively (AVX512-BF16 or AMX-BF16). Without either,
// LibTorch emulates bf16 through fp32 and training runs about 20x slower (AMD EPYC Zen 3, seed-002
// CNN: 176 against 3,650 images/s).
bool cpu_has_native_bf16();

// Resolves --precision (auto, fp32 or bf16) for a model on a device. `auto` picks bf16 where it
// measured faster than fp32 (docs/performance.md, seed-002 CNN on 2 cores): on a GPU, on CPUs with
// AMX-BF16, and on AMD CPUs with AVX512-BF16 (EPYC: 1.5-1.7x in training, 1.8-1.9x in inference);
// fp32 on Intel CPUs with AVX512-BF16 and no AMX (bf16 slower: 2.6-3.1k against 3.0-3.5k training
// images/s) and on CPUs without native bf16 (emulated, about 20x slower). A rule of the CPU, not a
// timing at start-up: a timing flips between runs on a busy machine (two identical test runs side
// by side with another got one fp32, one bf16), and the same seed must give the same results.
// k-nearest neighbours always measures distances in fp32. An explicit bf16 on a CPU without native
// bf16 is honoured, and says in one line on stderr that it will be slow.
// Throws core::UsageError for an unknown value.
PrecisionChoice choose_precision(const std::string& requested, const models::ArchSpec& spec,
                                 const torch::Device& device);

// Resolves --device: cpu, cuda (an error when this LibTorch has no CUDA or sees no GPU) or auto
// (cuda when available). Throws core::UsageError.
torch::Device choose_device(const std::string& requested);

// While alive, runs eligible ops (convolutions, matrix products) in bf16 on `device`'s type.
// Guarantees, when it ends, that autocast's cache of bf16 weight copies is cleared: a cached copy
// outlives the optimizer step that changes its weight, and training on stale copies silently
// degrades (measured: 33.8% instead of 98.5% after one epoch). Does nothing when !enabled.
class AutocastScope {
 public:
  AutocastScope(bool enabled, const torch::Device& device);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool enabled_, cuda_, was_enabled_;
  at::ScalarType was_dtype_;
};

// For training: puts every convolution weight in channels_last (NHWC) memory order and returns
// whether it did. LibTorch 1.13's max-pool is 7x faster on NHWC than on NCHW tensors (measured:
// 0.7 vs 4.5 ms forward for 64x32x28x28) and oneDNN convolutions skip their reorders; feed such a
// network to_network_input() batches. Networks with batch norm stay NCHW: 1.13's training-mode
// batch norm is 5-7x slower on NHWC tensors (one BN layer took a small CNN from 11.5k to 3.9k
// images/s). `for_training` false converts those too (eval-mode batch norm is fast either way).
bool use_channels_last(torch::nn::Sequential& net, bool for_training = true);

// `x` in the memory order the network's first convolution wants (channels_last when
// use_channels_last() put its weights so), on `device`.
torch::Tensor to_network_input(const torch::Tensor& x, bool channels_last,
                               const torch::Device& device);

struct StepResult {
  torch::Tensor outputs, loss;
};

// One optimizer step on a batch: drop the gradients (undefined, as PyTorch's set_to_none), forward
// and loss (in a bf16 AutocastScope when `bf16`; models::head_loss with `label_smoothing`),
// backward, `before_step` (data parallelism averages gradients there), step. `x` must already be
// what to_network_input() gives.
StepResult train_step(torch::nn::Sequential& net, torch::optim::Optimizer& optimizer,
                      models::Head head, const torch::Tensor& x, const torch::Tensor& y, bool bf16,
                      const torch::Device& device,
                      const std::function<void()>& before_step = nullptr,
                      double label_smoothing = 0.0);

// Readies a trained network for inference only: eval mode, channels_last convolution weights
// and, for bf16, bf16 weights (measured on 2 cores with AMX, unprepared against prepared: batch-1
// latency 329 against 169 us, batch 1000 4.5k against 13.7k images/s). predict_split() and
// infer() feed such a network inputs in its dtype and memory order by themselves. k-nearest
// neighbours is left as it is.
void prepare_for_inference(torch::nn::Sequential& net, Precision precision);

// Batches of at most this many images are inferred on one thread: on 2 cores the second thread
// costs more than it saves up to batch 4 and wins from batch 8 (seed-002 CNN in bf16, a LibTorch
// 1.13 script, 1 against 2 threads: 159 / 227 us at batch 1, 294 / 341 at 4, 480 / 469 at 8;
// `digitlab bench` batch-1 latency 296 us before, 144 after).
constexpr int64_t kSingleThreadBatch = 4;

// Forward pass of float inputs [N,C,H,W] in inference mode, returning CPU float outputs [N,K];
// casts inputs to the network's parameter dtype (an ensemble casts each member's own, after
// normalizing in float32), channels_last where its weights are, and moves them to its
// device; at most kSingleThreadBatch images run on one thread. Requires the network in eval mode
// (prepare_for_inference).
torch::Tensor infer(torch::nn::Sequential& net, const torch::Tensor& x);

// The device and dtype of the network's first parameter or buffer (CPU fp32 for none).
torch::TensorOptions parameter_options(torch::nn::Sequential& net);

}  // namespace digitlab::train
