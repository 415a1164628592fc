// Adam's update of a run of float32 values, without torch: the kernel of train::FusedAdam.
#pragma once

#include <cstdint>

namespace digitlab::train {

// One step's constants for one parameter group, worked out in double and rounded once.
struct AdamScalars {
  float beta1, beta2, one_minus_beta1, one_minus_beta2, weight_decay, eps, step_size,
      sqrt_bias_correction2;
};

// Updates values [begin, end) of a parameter `p`, its gradient and its two moments `m` and `v`,
// in the order of torch::optim::Adam's tensor operations: g = grad (+ wd * p),
// m = m * b1 + (1 - b1) * g, v = v * b2 + (1 - b2) * g * g,
// p -= step_size * m / (sqrt(v) / sqrt(bc2) + eps). Requires the four arrays not to overlap.
// Compiled for AVX-512, AVX2 and the baseline, chosen at load time by the CPU.
void adam_update(float* p, const float* grad, float* m, float* v, int64_t begin, int64_t end,
                 const AdamScalars& s);

}  // namespace digitlab::train
