// A max-pooling layer whose 2x2 channels-last case runs digitlab's own kernel.
#pragma once

#include <torch/torch.h>

namespace digitlab::models {

// torch::nn::MaxPool2d (same options, no parameters, as<MaxPool2dImpl>() finds it) whose forward
// takes a fast path when max_pool_fast_path_applies(x, options): one pass each way through
// pool_kernel.h, a 2-byte index per output rather than 8, and a backward that writes each input
// gradient once instead of zero-filling and scattering. LibTorch 1.13's channels-last bf16 pooling
// took a fifth of a seed-002 CNN training step. Guarantees: outputs, their memory layout and
// gradients are the general path's bit for bit (the first of equal values wins, and NaN wins),
// except that a NaN output keeps its input's bits where LibTorch's bf16 kernel may write another
// NaN. Other inputs take the general path. Second derivatives through the fast path are refused
// with an error (create_graph). clone() gives a MaxPool.
class MaxPoolImpl : public torch::nn::MaxPool2dImpl {
 public:
  using MaxPool2dImpl::MaxPool2dImpl;
  torch::Tensor forward(const torch::Tensor& x);
  std::shared_ptr<torch::nn::Module> clone(
      const c10::optional<torch::Device>& device = c10::nullopt) const override;
};
TORCH_MODULE(MaxPool);

// True for a float32 or bfloat16 CPU tensor [N,C,H,W] with N, C >= 1 and H, W >= 2, laid out
// channels-last (as LibTorch's suggest_memory_format() sees it, too), and options of a 2x2 window,
// stride 2, no padding or dilation, floor mode.
bool max_pool_fast_path_applies(const torch::Tensor& x, const torch::nn::MaxPool2dOptions& options);

// The fast path itself, with autograd when x requires a gradient. Requires
// max_pool_fast_path_applies(x, MaxPool2dOptions(2).stride(2)) (throws c10::Error otherwise);
// returns a channels-last [N, C, H/2, W/2] tensor of x's type.
torch::Tensor max_pool2x2_channels_last(const torch::Tensor& x);

}  // namespace digitlab::models
