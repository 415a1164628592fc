// MaxPool: torch's max-pooling with a channels-last 2x2 fast path and its autograd function.
#include "models/max_pool.h"

#include <ATen/Parallel.h>

#include "models/pool_kernel.h"

namespace digitlab::models {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Rows of output per thread task: about 8,192 outputs, so one image's small map stays on the
// calling thread (batch-1 inference) and a training batch splits across the cores.
int64_t grain(const PoolShape& s) {
  return std::max<int64_t>(1, 8192 / std::max<int64_t>(1, (s.width / 2) * s.channels));
}

PoolShape shape_of(torch::IntArrayRef sizes) { return {sizes[2], sizes[3], sizes[1]}; }

// y and, when `arg` is not null, the winners' indices, for every output row.
void run_forward(const torch::Tensor& x, torch::Tensor& y, torch::Tensor* arg) {
  const PoolShape s = shape_of(x.sizes());
  const int64_t rows = x.size(0) * (s.height / 2);
  uint16_t* won = arg ? reinterpret_cast<uint16_t*>(arg->data_ptr<int16_t>()) : nullptr;
  const bool bf16 = x.scalar_type() == torch::kBFloat16;
  const void* in = x.data_ptr();
  void* out = y.data_ptr();
  at::parallel_for(0, rows, grain(s), [&](int64_t begin, int64_t end) {
    if (bf16) {
      max_pool2x2_forward(static_cast<const uint16_t*>(in), static_cast<uint16_t*>(out), won, s,
                          begin, end);
    } else {
      max_pool2x2_forward(static_cast<const float*>(in), static_cast<float*>(out), won, s, begin,
                          end);
    }
  });
}

torch::Tensor empty_output(const torch::Tensor& x) {
  return torch::empty({x.size(0), x.size(1), x.size(2) / 2, x.size(3) / 2},
                      x.options().memory_format(torch::MemoryFormat::ChannelsLast));
}

struct MaxPool2x2 : public torch::autograd::Function<MaxPool2x2> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x) {
    torch::Tensor y = empty_output(x);
    // int16 storage for the kernel's uint16 indices (torch has no uint16 type).
    torch::Tensor arg = torch::empty({y.numel()}, x.options().dtype(torch::kInt16));
    run_forward(x, y, &arg);
    ctx->save_for_backward({arg});
    ctx->saved_data["sizes"] = x.sizes().vec();
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    TORCH_CHECK(!torch::GradMode::is_enabled(),
                "max-pool fast path: second derivatives are not supported (build the network "
                "with torch::nn::MaxPool2d for them)");
    const torch::Tensor arg = ctx->get_saved_variables()[0];
    const std::vector<int64_t> sizes = ctx->saved_data["sizes"].toIntVector();
    const PoolShape s = shape_of(sizes);
    const torch::Tensor gy = grads[0].contiguous(torch::MemoryFormat::ChannelsLast);
    TORCH_CHECK(gy.scalar_type() == torch::kFloat32 || gy.scalar_type() == torch::kBFloat16,
                "max-pool fast path: a ", gy.scalar_type(), " gradient (float or bfloat16 only)");
    torch::Tensor gx =
        torch::empty(sizes, gy.options().memory_format(torch::MemoryFormat::ChannelsLast));
    const int64_t rows = sizes[0] * (s.height / 2);
    const auto* won = reinterpret_cast<const uint16_t*>(arg.data_ptr<int16_t>());
    const bool bf16 = gy.scalar_type() == torch::kBFloat16;
    const void* g = gy.data_ptr();
    void* out = gx.data_ptr();
    at::parallel_for(0, rows, grain(s), [&](int64_t begin, int64_t end) {
      if (bf16) {
        max_pool2x2_backward(static_cast<const uint16_t*>(g), won, static_cast<uint16_t*>(out), s,
                             begin, end);
      } else {
        max_pool2x2_backward(static_cast<const float*>(g), won, static_cast<float*>(out), s, begin,
                             end);
      }
    });
    return {gx};
  }
};

bool is_pair(torch::ExpandingArray<2> a, int64_t v) { return (*a)[0] == v && (*a)[1] == v; }

}  // namespace

bool max_pool_fast_path_applies(const torch::Tensor& x,
                                const torch::nn::MaxPool2dOptions& options) {
  const auto& o = options;
  if (!is_pair(o.kernel_size(), 2) || !is_pair(o.stride(), 2) || !is_pair(o.padding(), 0) ||
      !is_pair(o.dilation(), 1) || o.ceil_mode()) {
    return false;
  }
  // suggest_memory_format() as well: is_contiguous(ChannelsLast) also holds for a one-channel
  // NCHW tensor, whose output LibTorch lays out NCHW (and the layers after it follow).
  return x.dim() == 4 && x.device().is_cpu() && x.layout() == torch::kStrided &&
         (x.scalar_type() == torch::kFloat32 || x.scalar_type() == torch::kBFloat16) &&
         x.size(0) >= 1 && x.size(1) >= 1 && x.size(2) >= 2 && x.size(3) >= 2 &&
         x.is_contiguous(torch::MemoryFormat::ChannelsLast) &&
         x.suggest_memory_format() == torch::MemoryFormat::ChannelsLast;
}

torch::Tensor max_pool2x2_channels_last(const torch::Tensor& x) {
  TORCH_CHECK(max_pool_fast_path_applies(x, torch::nn::MaxPool2dOptions(2).stride(2)),
              "max-pool fast path: needs a channels-last float or bfloat16 CPU tensor [N,C,H,W] "
              "with N, C >= 1 and H, W >= 2, not ",
              x.sizes(), " ", x.scalar_type(), " with strides ", x.strides());
  if (torch::GradMode::is_enabled() && x.requires_grad()) return MaxPool2x2::apply(x);
  torch::Tensor y = empty_output(x);
  run_forward(x, y, nullptr);
  return y;
}

torch::Tensor MaxPoolImpl::forward(const torch::Tensor& x) {
  if (max_pool_fast_path_applies(x, options)) return max_pool2x2_channels_last(x);
  return MaxPool2dImpl::forward(x);
}

std::shared_ptr<torch::nn::Module> MaxPoolImpl::clone(
    const c10::optional<torch::Device>& /*device*/) const {
  auto copy = std::make_shared<MaxPoolImpl>(options);
  copy->train(is_training());
  return copy;
}

}  // namespace digitlab::models
