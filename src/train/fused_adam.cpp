// The one-pass Adam step.
#include "train/fused_adam.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <memory>
#include <string>

#include "train/adam_kernel.h"

namespace digitlab::train {
namespace {

// `t` with `like`'s strides (a copy unless it has them already): the moments loaded from a
// checkpoint, for one, are contiguous while a channels_last weight is not.
torch::Tensor strided_like(const torch::Tensor& t, const torch::Tensor& like) {
  if (t.strides() == like.strides()) return t;
  return torch::empty_like(like).copy_(t);
}

bool float_cpu(const torch::Tensor& t) {
  return t.device().is_cpu() && t.scalar_type() == torch::kFloat32 && !t.is_sparse();
}

// Whether the one-pass loop can update `p`: float32 on the CPU, dense (its memory order is then
// the order of all four arrays), and its moments, when it has them already, float32 on the CPU.
// Checked for every parameter before any is updated, so that a step is never half one, half
// the other.
bool fusable(const torch::Tensor& p, const torch::optim::OptimizerParamState* state,
             const torch::optim::AdamOptions& o) {
  if (o.amsgrad() || !float_cpu(p) || !float_cpu(p.grad()) || !p.is_non_overlapping_and_dense()) {
    return false;
  }
  if (!state) return true;
  const auto& s = static_cast<const torch::optim::AdamParamState&>(*state);
  return float_cpu(s.exp_avg()) && float_cpu(s.exp_avg_sq()) && s.exp_avg().sizes() == p.sizes() &&
         s.exp_avg_sq().sizes() == p.sizes();
}

}  // namespace

torch::Tensor FusedAdam::step(LossClosure closure) {
  torch::Tensor loss;
  if (closure) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  torch::NoGradGuard no_grad;
  for (auto& group : param_groups_) {
    auto& o = static_cast<torch::optim::AdamOptions&>(group.options());
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      const auto it = state_.find(c10::guts::to_string(p.unsafeGetTensorImpl()));
      if (!fusable(p, it == state_.end() ? nullptr : it->second.get(), o)) {
        Adam::step();  // the whole step Adam's way
        return loss;
      }
    }
  }
  for (auto& group : param_groups_) {
    auto& o = static_cast<torch::optim::AdamOptions&>(group.options());
    const auto [beta1, beta2] = o.betas();
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      const std::string key = c10::guts::to_string(p.unsafeGetTensorImpl());
      auto it = state_.find(key);
      if (it == state_.end()) {
        auto fresh = std::make_unique<torch::optim::AdamParamState>();
        fresh->step(0);
        fresh->exp_avg(torch::zeros_like(p, at::MemoryFormat::Preserve));
        fresh->exp_avg_sq(torch::zeros_like(p, at::MemoryFormat::Preserve));
        it = state_.emplace(key, std::move(fresh)).first;
      }
      auto& st = static_cast<torch::optim::AdamParamState&>(*it->second);
      st.exp_avg(strided_like(st.exp_avg(), p));
      st.exp_avg_sq(strided_like(st.exp_avg_sq(), p));
      const torch::Tensor grad = strided_like(p.grad(), p);
      st.step(st.step() + 1);
      const double bias_correction1 = 1 - std::pow(beta1, double(st.step()));
      const double bias_correction2 = 1 - std::pow(beta2, double(st.step()));
      const AdamScalars s{float(beta1),
                          float(beta2),
                          float(1 - beta1),
                          float(1 - beta2),
                          float(o.weight_decay()),
                          float(o.eps()),
                          float(o.lr() / bias_correction1),
                          float(std::sqrt(bias_correction2))};
      float* pp = p.data_ptr<float>();
      const float* gp = grad.data_ptr<float>();
      float* mp = st.exp_avg().data_ptr<float>();
      float* vp = st.exp_avg_sq().data_ptr<float>();
      // Memory order, not logical order: all four share their strides and leave no gaps.
      at::parallel_for(0, p.numel(), 1 << 15, [&](int64_t begin, int64_t end) {
        adam_update(pp, gp, mp, vp, begin, end, s);
      });
      // Written through raw pointers: tell autograd's saved-tensor checks and any cache keyed on
      // versions (models::Dense) that they changed, as an in-place tensor operation would.
      for (const torch::Tensor* t : {&p, &st.exp_avg(), &st.exp_avg_sq()}) {
        t->unsafeGetTensorImpl()->bump_version();
      }
    }
  }
  return loss;
}

}  // namespace digitlab::train
