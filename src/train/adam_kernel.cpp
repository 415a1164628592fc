// Adam's one-pass update over float arrays, vectorized per CPU kind.
#include "train/adam_kernel.h"

#include <cmath>

namespace digitlab::train {

// This file is compiled with -O3 -fno-math-errno (CMakeLists.txt): the loop vectorizes, sqrt
// included. target_clones builds one copy per instruction set and the loader picks the best the
// CPU has (AVX-512 on the Intel machines and AMD Zen 4 or later, AVX2 on Zen 3).
__attribute__((target_clones("avx512f", "avx2", "default"))) void adam_update(
    float* __restrict p, const float* __restrict grad, float* __restrict m, float* __restrict v,
    int64_t begin, int64_t end, const AdamScalars& s) {
  const AdamScalars c = s;  // locals: the compiler need not reload them after every store
  for (int64_t i = begin; i < end; ++i) {
    const float g = c.weight_decay != 0.0f ? grad[i] + p[i] * c.weight_decay : grad[i];
    const float mi = m[i] * c.beta1 + g * c.one_minus_beta1;
    const float vi = v[i] * c.beta2 + g * g * c.one_minus_beta2;
    m[i] = mi;
    v[i] = vi;
    const float denom = std::sqrt(vi) / c.sqrt_bias_correction2 + c.eps;
    p[i] = p[i] - c.step_size * (mi / denom);
  }
}

}  // namespace digitlab::train
