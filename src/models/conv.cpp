// Conv2d: torch's convolution with digitlab's Winograd kernel for 3x3 float32 layers and its direct
// kernel for one-channel first layers, and their autograd functions.
#include "models/conv.h"

#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>

#include <atomic>
#include <cstring>

#include "models/module_copy.h"
#include "models/single_channel_kernel.h"
#include "models/winograd_kernel.h"

namespace digitlab::models {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;
constexpr auto kChannelsLast = torch::MemoryFormat::ChannelsLast;

std::atomic<ConvPath> g_path{ConvPath::kAuto};

bool fast_path_wanted() {
  switch (g_path.load(std::memory_order_relaxed)) {
    case ConvPath::kAuto:
      return winograd_preferred();
    case ConvPath::kFast:
      return true;
    case ConvPath::kGeneral:
      return false;
  }
  return false;
}

// A backward run with create_graph would need these kernels' own derivatives.
void refuse_second_derivatives() {
  TORCH_CHECK(!torch::GradMode::is_enabled(),
              "convolution fast path: second derivatives are not supported (build the network "
              "with torch::nn::Conv2d for them)");
}

WinogradShape shape_of(const torch::Tensor& x, const torch::Tensor& weight, int64_t padding) {
  return {x.size(0), x.size(2), x.size(3), x.size(1), weight.size(0), padding};
}

// The transformed weights, for the forward or (flip) for the input gradient.
torch::Tensor transformed(const torch::Tensor& weight, const WinogradShape& s, bool flip) {
  const torch::Tensor w = weight.contiguous();
  torch::Tensor u = torch::empty({16 * s.in_channels * s.out_channels}, w.options());
  winograd_weights(w.data_ptr<float>(), s, flip, u.data_ptr<float>());
  return u;
}

// y = x (*) u + bias over all tiles, on the intra-op threads; x is channels-last.
torch::Tensor run_forward(const torch::Tensor& x, const torch::Tensor& u, const torch::Tensor& bias,
                          const WinogradShape& s) {
  torch::Tensor y = torch::empty({s.n, s.out_channels, s.out_height(), s.out_width()},
                                 x.options().memory_format(kChannelsLast));
  const float* in = x.data_ptr<float>();
  const float* ut = u.data_ptr<float>();
  const float* b = bias.defined() && bias.numel() > 0 ? bias.data_ptr<float>() : nullptr;
  float* out = y.data_ptr<float>();
  at::parallel_for(0, winograd_blocks(s), 1, [&](int64_t begin, int64_t end) {
    winograd_forward(in, ut, b, s, begin, end, out);
  });
  return y;
}

// The weight gradient [out][in][3][3]. Each thread sums its own share of the blocks, and the
// shares are added in a fixed order, so a given thread count always gives the same result.
torch::Tensor weight_gradient(const torch::Tensor& x, const torch::Tensor& gy,
                              const WinogradShape& s) {
  const int64_t blocks = winograd_blocks(s);
  const int64_t shares = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), blocks));
  const int64_t size = 16 * s.in_channels * s.out_channels;
  torch::Tensor acc = torch::zeros({shares, size}, x.options());
  float* a = acc.data_ptr<float>();
  const float* in = x.data_ptr<float>();
  const float* g = gy.data_ptr<float>();
  at::parallel_for(0, shares, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      winograd_weight_gradient_blocks(in, g, s, blocks * i / shares, blocks * (i + 1) / shares,
                                      a + i * size);
    }
  });
  for (int64_t i = 1; i < shares; ++i) acc[0].add_(acc[i]);
  torch::Tensor gw = torch::empty({s.out_channels, s.in_channels, 3, 3}, x.options());
  winograd_weight_gradient(a, s, gw.data_ptr<float>());
  return gw;
}

struct Conv3x3 : public torch::autograd::Function<Conv3x3> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight, const torch::Tensor& bias,
                               int64_t padding) {
    const WinogradShape s = shape_of(x, weight, padding);
    ctx->save_for_backward({x, weight});
    ctx->saved_data["padding"] = padding;
    ctx->saved_data["bias"] = bias.numel() > 0;
    return run_forward(x, transformed(weight, s, false), bias, s);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    refuse_second_derivatives();
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor& x = saved[0];
    const torch::Tensor& weight = saved[1];
    const WinogradShape s = shape_of(x, weight, ctx->saved_data["padding"].toInt());
    const torch::Tensor gy = grads[0].to(torch::kFloat32).contiguous(kChannelsLast);
    torch::Tensor gx, gw, gb;
    if (ctx->needs_input_grad(0)) {
      // The input gradient is the convolution of the output gradient with the turned kernels.
      const WinogradShape back{s.n,           s.out_height(), s.out_width(), s.out_channels,
                               s.in_channels, 2 - s.pad};
      gx = run_forward(gy, transformed(weight, s, true), torch::Tensor(), back);
    }
    if (ctx->needs_input_grad(1)) {
      gw = weight_gradient(x, gy, s).contiguous(weight.suggest_memory_format());
    }
    if (ctx->saved_data["bias"].toBool() && ctx->needs_input_grad(2)) gb = gy.sum({0, 2, 3});
    return {gx, gw, gb, torch::Tensor()};
  }
};

// The zero padding on every side, or -1 where the two dimensions differ.
int64_t padding_of(const torch::nn::detail::ConvNdOptions<2>& o) {
  if (c10::get_if<torch::enumtype::kValid>(&o.padding())) return 0;
  if (c10::get_if<torch::enumtype::kSame>(&o.padding())) return (*o.kernel_size())[0] / 2;
  const auto& p = c10::get<torch::ExpandingArray<2>>(o.padding());
  return (*p)[0] == (*p)[1] ? (*p)[0] : -1;
}

bool is_pair(torch::ExpandingArray<2> a, int64_t v) { return (*a)[0] == v && (*a)[1] == v; }

bool float_cpu_input(const torch::Tensor& x) {
  return x.dim() == 4 && x.device().is_cpu() && x.layout() == torch::kStrided &&
         x.scalar_type() == torch::kFloat32 && x.size(0) >= 1 && !at::autocast::is_cpu_enabled() &&
         winograd_supported();
}

bool tensor_applies(const torch::Tensor& x, int64_t in_channels, int64_t padding) {
  return float_cpu_input(x) && x.size(1) == in_channels && x.size(2) + 2 * padding >= 3 &&
         x.size(3) + 2 * padding >= 3 && x.is_contiguous(kChannelsLast);
}

// A one-channel input the direct kernel takes: no input gradient is asked for (a first layer's).
bool single_channel_input(const torch::Tensor& x, int64_t kernel, int64_t padding) {
  return float_cpu_input(x) && x.size(1) == 1 && x.size(2) + 2 * padding >= kernel &&
         x.size(3) + 2 * padding >= kernel && x.is_contiguous() &&
         !(torch::GradMode::is_enabled() && x.requires_grad());
}

// Options both kernels share: a square kernel, stride 1, no dilation, one group, zero padding
// equal on both dimensions, a multiple of 8 output channels.
bool common_options(const torch::nn::detail::ConvNdOptions<2>& o) {
  const auto& k = *o.kernel_size();
  return k[0] == k[1] && is_pair(o.stride(), 1) && is_pair(o.dilation(), 1) && o.groups() == 1 &&
         !o.transposed() && padding_of(o) >= 0 &&
         c10::get_if<torch::enumtype::kZeros>(&o.padding_mode()) && o.out_channels() % 8 == 0;
}

bool winograd_applies(const torch::Tensor& x, const torch::nn::detail::ConvNdOptions<2>& o) {
  const int64_t padding = padding_of(o);
  return common_options(o) && is_pair(o.kernel_size(), 3) && padding <= 1 &&
         o.in_channels() % 8 == 0 && tensor_applies(x, o.in_channels(), padding);
}

bool single_channel_applies(const torch::Tensor& x, const torch::nn::detail::ConvNdOptions<2>& o) {
  const int64_t kernel = (*o.kernel_size())[0];
  return common_options(o) && (kernel == 3 || kernel == 5) && o.in_channels() == 1 &&
         padding_of(o) < kernel && single_channel_input(x, kernel, padding_of(o));
}

SingleChannelShape single_shape(const torch::Tensor& x, const torch::Tensor& weight,
                                int64_t padding) {
  return {x.size(0), x.size(2), x.size(3), weight.size(0), weight.size(2), padding};
}

torch::Tensor single_forward(const torch::Tensor& x, const torch::Tensor& weight,
                             const torch::Tensor& bias, const SingleChannelShape& s) {
  torch::Tensor y = torch::empty({s.n, s.out_channels, s.out_height(), s.out_width()},
                                 x.options().memory_format(kChannelsLast));
  const torch::Tensor w = weight.contiguous();
  const float* in = x.data_ptr<float>();
  const float* wp = w.data_ptr<float>();
  const float* b = bias.defined() && bias.numel() > 0 ? bias.data_ptr<float>() : nullptr;
  float* out = y.data_ptr<float>();
  at::parallel_for(0, s.n, 1, [&](int64_t begin, int64_t end) {
    single_channel_forward(in, wp, b, s, begin, end, out);
  });
  return y;
}

struct SingleChannelConv : public torch::autograd::Function<SingleChannelConv> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight, const torch::Tensor& bias,
                               int64_t padding) {
    ctx->save_for_backward({x, weight});
    ctx->saved_data["padding"] = padding;
    ctx->saved_data["bias"] = bias.numel() > 0;
    return single_forward(x, weight, bias, single_shape(x, weight, padding));
  }

  // The weight and bias gradients; each thread sums its share of the images, and the shares are
  // added in a fixed order.
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    refuse_second_derivatives();
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor& x = saved[0];
    const torch::Tensor& weight = saved[1];
    const SingleChannelShape s = single_shape(x, weight, ctx->saved_data["padding"].toInt());
    const torch::Tensor gy = grads[0].to(torch::kFloat32).contiguous(kChannelsLast);
    const int64_t shares = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), s.n));
    const int64_t size = s.kernel * s.kernel * s.out_channels + s.out_channels;
    torch::Tensor acc = torch::zeros({shares, size}, x.options());
    float* a = acc.data_ptr<float>();
    const float* in = x.data_ptr<float>();
    const float* g = gy.data_ptr<float>();
    const int64_t weights = size - s.out_channels;
    at::parallel_for(0, shares, 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        single_channel_gradient_images(in, g, s, s.n * i / shares, s.n * (i + 1) / shares,
                                       a + i * size, a + i * size + weights);
      }
    });
    for (int64_t i = 1; i < shares; ++i) acc[0].add_(acc[i]);
    torch::Tensor gw = torch::empty(weight.sizes(), x.options());
    single_channel_weight_gradient(a, s, gw.data_ptr<float>());
    torch::Tensor gb;
    if (ctx->saved_data["bias"].toBool()) gb = acc[0].narrow(0, weights, s.out_channels).clone();
    return {torch::Tensor(), gw.contiguous(weight.suggest_memory_format()), gb, torch::Tensor()};
  }
};

}  // namespace

bool conv_fast_path_applies(const torch::Tensor& x,
                            const torch::nn::detail::ConvNdOptions<2>& options) {
  return winograd_applies(x, options) || single_channel_applies(x, options);
}

torch::Tensor conv3x3_winograd(const torch::Tensor& x, const torch::Tensor& weight,
                               const torch::Tensor& bias, int64_t padding) {
  const int64_t in = weight.dim() == 4 ? weight.size(1) : 0;
  const bool weights_fit = weight.dim() == 4 && weight.size(2) == 3 && weight.size(3) == 3 &&
                           weight.scalar_type() == torch::kFloat32 && weight.device().is_cpu() &&
                           in % 8 == 0 && weight.size(0) % 8 == 0 && in > 0 &&
                           (!bias.defined() || (bias.scalar_type() == torch::kFloat32 &&
                                                bias.numel() == weight.size(0)));
  TORCH_CHECK(weights_fit && (padding == 0 || padding == 1) && tensor_applies(x, in, padding),
              "convolution fast path: needs float32 3x3 weights with channel counts that are "
              "multiples of 8, padding 0 or 1, and a channels-last float32 CPU input that fits "
              "them, not input ",
              x.sizes(), " ", x.scalar_type(), " and weights ", weight.sizes(), " ",
              weight.scalar_type());
  const bool grad = torch::GradMode::is_enabled() && (x.requires_grad() || weight.requires_grad() ||
                                                      (bias.defined() && bias.requires_grad()));
  // Autograd functions take no undefined tensors: an empty one stands for no bias.
  if (grad)
    return Conv3x3::apply(x, weight, bias.defined() ? bias : weight.new_empty({0}), padding);
  const WinogradShape s = shape_of(x, weight, padding);
  return run_forward(x, transformed(weight, s, false), bias.defined() ? bias.contiguous() : bias,
                     s);
}

torch::Tensor conv_single_channel(const torch::Tensor& x, const torch::Tensor& weight,
                                  const torch::Tensor& bias, int64_t padding) {
  const int64_t kernel = weight.dim() == 4 ? weight.size(2) : 0;
  const bool weights_fit =
      weight.dim() == 4 && weight.size(1) == 1 && (kernel == 3 || kernel == 5) &&
      weight.size(3) == kernel && weight.scalar_type() == torch::kFloat32 &&
      weight.device().is_cpu() && weight.size(0) % 8 == 0 && weight.size(0) > 0 &&
      (!bias.defined() ||
       (bias.scalar_type() == torch::kFloat32 && bias.numel() == weight.size(0)));
  TORCH_CHECK(
      weights_fit && padding >= 0 && padding < kernel && single_channel_input(x, kernel, padding),
      "convolution fast path: needs float32 [out, 1, 3 or 5, same] weights with a multiple "
      "of 8 outputs, padding below the kernel size, and a contiguous one-channel float32 "
      "CPU input that fits them and wants no gradient, not input ",
      x.sizes(), " ", x.scalar_type(), " and weights ", weight.sizes(), " ", weight.scalar_type());
  const bool grad = torch::GradMode::is_enabled() &&
                    (weight.requires_grad() || (bias.defined() && bias.requires_grad()));
  if (grad) {
    return SingleChannelConv::apply(x, weight, bias.defined() ? bias : weight.new_empty({0}),
                                    padding);
  }
  return single_forward(x, weight, bias.defined() ? bias.contiguous() : bias,
                        single_shape(x, weight, padding));
}

namespace {

// Same sizes, strides, type and bits (a clone keeps a dense tensor's strides).
bool same_bits(const torch::Tensor& a, const torch::Tensor& b) {
  return a.defined() && a.sizes() == b.sizes() && a.strides() == b.strides() &&
         a.scalar_type() == b.scalar_type() && b.is_non_overlapping_and_dense() &&
         std::memcmp(a.data_ptr(), b.data_ptr(), b.numel() * b.element_size()) == 0;
}

// The Winograd forward without autograd, its weight transform taken from `cache` when the weights
// have not changed.
torch::Tensor cached_winograd(const torch::Tensor& x, const torch::Tensor& weight,
                              const torch::Tensor& bias, int64_t padding,
                              Conv2dImpl::TransformCache& cache) {
  const WinogradShape s = shape_of(x, weight, padding);
  torch::Tensor u;
  {
    std::lock_guard<std::mutex> lock(cache.mutex);
    if (!same_bits(cache.weights, weight)) {
      cache.transformed = transformed(weight, s, false);
      cache.weights = weight.detach().clone();
    }
    u = cache.transformed;
  }
  return run_forward(x, u, bias.defined() ? bias.contiguous() : bias, s);
}

}  // namespace

void use_conv_path(ConvPath path) { g_path.store(path, std::memory_order_relaxed); }

torch::Tensor Conv2dImpl::forward(const torch::Tensor& x) {
  if (fast_path_wanted()) {
    if (winograd_applies(x, options)) {
      const bool grad =
          torch::GradMode::is_enabled() &&
          (x.requires_grad() || weight.requires_grad() || (bias.defined() && bias.requires_grad()));
      if (!grad) return cached_winograd(x, weight, bias, padding_of(options), *cache_);
      return conv3x3_winograd(x, weight, bias, padding_of(options));
    }
    if (single_channel_applies(x, options)) {
      return conv_single_channel(x, weight, bias, padding_of(options));
    }
  }
  return torch::nn::Conv2dImpl::forward(x);
}

std::shared_ptr<torch::nn::Module> Conv2dImpl::clone(
    const c10::optional<torch::Device>& device) const {
  const auto& o = options;
  auto copy = std::make_shared<Conv2dImpl>(
      torch::nn::Conv2dOptions(o.in_channels(), o.out_channels(), o.kernel_size())
          .stride(o.stride())
          .padding(o.padding())
          .dilation(o.dilation())
          .groups(o.groups())
          .bias(o.bias())
          .padding_mode(o.padding_mode()));
  copy_parameters(*this, *copy, device);
  return copy;
}

}  // namespace digitlab::models
