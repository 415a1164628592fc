// Precision and device choices, the autocast scope and the inference setup.
#include "train/precision.h"

#include <ATen/autocast_mode.h>

#include <cstdio>

#include "core/error.h"
#include "core/system.h"
#include "models/builder.h"
#include "models/ensemble.h"
#include "train/runtime.h"

namespace digitlab::train {

bool cpu_has_native_bf16() {
  return core::cpu_has_flag("avx512_bf16") || core::cpu_has_flag("amx_bf16");
}

torch::Device choose_device(const std::string& requested) {
  if (requested == "cpu") return torch::kCPU;
  if (requested == "cuda" || requested == "auto") {
    if (torch::cuda::is_available()) return torch::kCUDA;
    if (requested == "auto") return torch::kCPU;
    throw core::UsageError(
        "--device: cuda is not available (this LibTorch was built without CUDA or sees no GPU)");
  }
  throw core::UsageError("--device: unknown '" + requested + "' (allowed: cpu, cuda, auto)");
}

AutocastScope::AutocastScope(bool enabled, const torch::Device& device)
    : enabled_(enabled), cuda_(device.is_cuda()), was_enabled_(false), was_dtype_(at::kFloat) {
  if (!enabled_) return;
  if (cuda_) {
    was_enabled_ = at::autocast::is_enabled();
    was_dtype_ = at::autocast::get_autocast_gpu_dtype();
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
    at::autocast::set_enabled(true);
  } else {
    was_enabled_ = at::autocast::is_cpu_enabled();
    was_dtype_ = at::autocast::get_autocast_cpu_dtype();
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    at::autocast::set_cpu_enabled(true);
  }
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!enabled_) return;
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  if (cuda_) {
    at::autocast::set_enabled(was_enabled_);
    at::autocast::set_autocast_gpu_dtype(was_dtype_);
  } else {
    at::autocast::set_cpu_enabled(was_enabled_);
    at::autocast::set_autocast_cpu_dtype(was_dtype_);
  }
}

namespace {

// `t` with channels_last strides. contiguous(ChannelsLast) is not enough: a tensor with one
// channel (the input batch, the first convolution's weight) already counts as channels_last
// contiguous, keeps its NCHW strides, and the convolution after it then stays NCHW, as does the
// max-pool after that, on its slow path. to() compares the suggested memory format and copies.
torch::Tensor channels_last(const torch::Tensor& t) {
  return t.to(t.options(), /*non_blocking=*/false, /*copy=*/false, at::MemoryFormat::ChannelsLast);
}

}  // namespace

bool use_channels_last(torch::nn::Sequential& net, bool for_training) {
  if (for_training) {
    for (const auto& m : net->modules(/*include_self=*/false)) {
      if (m->as<torch::nn::BatchNorm2dImpl>()) return false;
    }
  }
  torch::NoGradGuard no_grad;
  bool any = false;
  for (auto& p : net->parameters()) {
    if (p.dim() != 4) continue;
    p.set_data(channels_last(p.data()));
    any = true;
  }
  return any;
}

torch::Tensor to_network_input(const torch::Tensor& x, bool use_channels_last,
                               const torch::Device& device) {
  torch::Tensor in = x.to(device);
  if (use_channels_last && in.dim() == 4) in = channels_last(in);
  return in;
}

StepResult train_step(torch::nn::Sequential& net, torch::optim::Optimizer& optimizer,
                      models::Head head, const torch::Tensor& x, const torch::Tensor& y, bool bf16,
                      const torch::Device& device, const std::function<void()>& before_step,
                      double label_smoothing) {
  // Dropped, not zeroed (PyTorch's zero_grad(set_to_none=True)): backward then stores each
  // gradient instead of adding it to zeros, and nothing zero-fills them first.
  for (auto& group : optimizer.param_groups()) {
    for (auto& p : group.params()) p.mutable_grad().reset();
  }
  StepResult r;
  {
    AutocastScope autocast(bf16, device);
    r.outputs = net->forward(x);
    r.loss = models::head_loss(head, r.outputs, y, label_smoothing);
  }
  r.loss.backward();
  if (before_step) before_step();
  optimizer.step();
  return r;
}

void prepare_for_inference(torch::nn::Sequential& net, Precision precision) {
  net->eval();
  if (models::find_knn(net)) return;
  if (precision == Precision::kBf16) net->to(torch::kBFloat16);
  use_channels_last(net, /*for_training=*/false);
}

torch::TensorOptions parameter_options(torch::nn::Sequential& net) {
  for (const auto& p : net->parameters()) return p.options();
  for (const auto& b : net->buffers()) {
    if (b.is_floating_point()) return b.options();
  }
  return torch::TensorOptions().dtype(torch::kFloat32);
}

torch::Tensor infer(torch::nn::Sequential& net, const torch::Tensor& x) {
  c10::InferenceMode guard;
  const SingleThreadScope one_thread(x.dim() > 0 && x.size(0) <= kSingleThreadBatch);
  // One walk over the parameters: at batch 1 each walk is a measurable share of the latency.
  const auto params = net->parameters();
  const torch::TensorOptions to = params.empty() ? parameter_options(net) : params[0].options();
  // An ensemble takes float pixels and casts each member's normalized inputs itself.
  const bool cast = to.dtype() == torch::kBFloat16 && !models::find_ensemble(net);
  torch::Tensor in = x.to(to.device(), cast ? torch::kBFloat16 : torch::kFloat32);
  const bool nhwc = !params.empty() && params[0].dim() == 4 &&
                    params[0].suggest_memory_format() == at::MemoryFormat::ChannelsLast;
  if (nhwc && in.dim() == 4) in = channels_last(in);
  return net->forward(in).to(torch::kCPU, torch::kFloat32);
}

PrecisionChoice choose_precision(const std::string& requested, const models::ArchSpec& spec,
                                 const torch::Device& device) {
  if (requested != "auto" && requested != "fp32" && requested != "bf16") {
    throw core::UsageError("--precision: unknown '" + requested + "' (allowed: auto, fp32, bf16)");
  }
  if (spec.is_knn()) {
    return {Precision::kFp32, "fp32", "k-nearest neighbours measures distances in fp32"};
  }
  if (requested == "fp32") return {Precision::kFp32, "fp32", "as asked"};
  if (requested == "bf16") {
    if (!device.is_cuda() && !cpu_has_native_bf16()) {
      std::fprintf(stderr,
                   "warning: --precision bf16: this CPU has no native bf16 (AVX512-BF16 or "
                   "AMX-BF16); it is emulated and runs many times slower than fp32\n");
    }
    return {Precision::kBf16, "bf16", "as asked"};
  }
  if (device.is_cuda()) return {Precision::kBf16, "bf16", "auto: a GPU"};
  if (core::cpu_has_flag("amx_bf16")) {
    return {Precision::kBf16, "bf16", "auto: this CPU has AMX-BF16"};
  }
  if (!core::cpu_has_flag("avx512_bf16")) {
    return {Precision::kFp32, "fp32", "auto: this CPU has no native bf16"};
  }
  if (core::cpu_vendor() == "AuthenticAMD") {
    return {Precision::kBf16, "bf16", "auto: an AMD CPU with AVX512-BF16"};
  }
  return {Precision::kFp32, "fp32", "auto: AVX512-BF16 without AMX is slower than fp32 on Intel"};
}

}  // namespace digitlab::train
