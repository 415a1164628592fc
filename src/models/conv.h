// A 2-D convolution layer whose 3x3 float32 case runs digitlab's Winograd kernel on AVX2 CPUs.
#pragma once

#include <torch/torch.h>

#include <mutex>

namespace digitlab::models {

// torch::nn::Conv2d (same options and parameters, as<Conv2dImpl>() finds it, and its kind is still
// "conv2d") whose forward takes the Winograd path of winograd_kernel.h when
// conv_fast_path_applies(x, options) and winograd_preferred() (see use_conv_path): 4
// multiplications where LibTorch's direct convolution makes 9, in the forward and in both
// gradients. Guarantees: outputs and gradients equal the general path's within float32 rounding
// (relative differences of about 1e-6 of the largest values); the output is channels-last, as
// LibTorch's for a channels-last input. Second derivatives through the fast path are refused with
// an error (create_graph). clone() gives a Conv2d.
// Inference reuses the Winograd-domain weights while the weights keep the same bits (about 25 of
// the 150 us of a seed-002 forward at batch 1 on Zen 3); concurrent forwards are safe.
class Conv2dImpl : public torch::nn::Conv2dImpl {
 public:
  using torch::nn::Conv2dImpl::Conv2dImpl;
  torch::Tensor forward(const torch::Tensor& x);
  std::shared_ptr<torch::nn::Module> clone(
      const c10::optional<torch::Device>& device = c10::nullopt) const override;

  // The weights of the last inference forward on the Winograd path and their transform.
  struct TransformCache {
    std::mutex mutex;
    torch::Tensor weights, transformed;
  };

 private:
  std::shared_ptr<TransformCache> cache_ = std::make_shared<TransformCache>();
};
TORCH_MODULE(Conv2d);

// Which path Conv2d takes where conv_fast_path_applies(): kAuto, the Winograd kernel where
// winograd_preferred(); kFast, the kernel wherever winograd_supported(); kGeneral, LibTorch's. For
// tests and benchmarks: it applies to the whole process and must not change while layers run.
enum class ConvPath { kAuto, kFast, kGeneral };
void use_conv_path(ConvPath path);

// True where one of the two kernels applies, on a CPU where winograd_supported(), outside CPU
// autocast, for a float32 CPU tensor [N,C,H,W] with N >= 1, stride 1, no dilation, one group,
// zero padding equal on both dimensions, a multiple of 8 output channels and an output of at least
// 1x1; and either
// - Winograd: a 3x3 kernel, padding 0 or 1, a multiple of 8 input channels, x channels-last; or
// - single channel: a 3x3 or 5x5 kernel, padding below the kernel size, one input channel, x
//   contiguous and not asking for a gradient (a first layer).
bool conv_fast_path_applies(const torch::Tensor& x,
                            const torch::nn::detail::ConvNdOptions<2>& options);

// The direct kernel for one-channel inputs (single_channel_kernel.h), with autograd for weight and
// bias. Requires conv_fast_path_applies(x, options) of the single-channel kind for a conv with
// weight's shape and `padding` (throws c10::Error otherwise); `bias` may be undefined. Returns a
// channels-last [N, out, H', W'] tensor.
torch::Tensor conv_single_channel(const torch::Tensor& x, const torch::Tensor& weight,
                                  const torch::Tensor& bias, int64_t padding);

// The Winograd path itself, with autograd when x, weight or bias requires a gradient. Requires
// conv_fast_path_applies(x, options) for a conv with weight's shape and `padding` (throws
// c10::Error otherwise); `bias` may be undefined. Returns a channels-last [N, out, H', W'] tensor.
torch::Tensor conv3x3_winograd(const torch::Tensor& x, const torch::Tensor& weight,
                               const torch::Tensor& bias, int64_t padding);

}  // namespace digitlab::models
