// 2x2 max-pooling over channels-last float and bfloat16 arrays, vectorized per CPU kind.
#include "models/pool_kernel.h"

#include <atomic>
#include <stdexcept>

namespace digitlab::models {
namespace {

// One build of the loops per instruction set, chosen once by the CPU. A pragma rather than
// target_clones, which cannot ask for 512-bit vectors: GCC's AVX-512 tuning prefers 256-bit ones,
// and the 512-bit loop measured twice as fast on a Zen 4-class core (inference forward of
// 64x32x28x28 bf16 on bare arrays, one thread: 84 against 161 us). Clang ignores the pragma, so a
// clang build runs the baseline loops in all three: correct, slower.
namespace avx512 {
#pragma GCC push_options
#pragma GCC target("arch=x86-64-v4,prefer-vector-width=512")
#include "models/pool_loops.inc"
#pragma GCC pop_options
}  // namespace avx512

namespace avx2 {
#pragma GCC push_options
#pragma GCC target("arch=x86-64-v3")
#include "models/pool_loops.inc"
#pragma GCC pop_options
}  // namespace avx2

namespace baseline {
#include "models/pool_loops.inc"
}  // namespace baseline

enum class Isa { kBaseline, kAvx2, kAvx512 };
constexpr const char* kIsaNames[] = {"baseline", "avx2", "avx512"};

// The x86-64 levels name exactly the feature sets the pragmas above compile for (v4: AVX-512 F,
// BW, CD, DQ, VL; v3: AVX2, FMA, BMI1/2, F16C, LZCNT, MOVBE).
Isa best_isa() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("x86-64-v4")) return Isa::kAvx512;
  if (__builtin_cpu_supports("x86-64-v3")) return Isa::kAvx2;
  return Isa::kBaseline;
}

std::atomic<Isa> g_isa{best_isa()};

template <typename T>
void forward(const T* x, T* y, uint16_t* arg, const PoolShape& s, int64_t begin, int64_t end) {
  switch (g_isa.load(std::memory_order_relaxed)) {
    case Isa::kAvx512:
      return avx512::forward(x, y, arg, s, begin, end);
    case Isa::kAvx2:
      return avx2::forward(x, y, arg, s, begin, end);
    case Isa::kBaseline:
      return baseline::forward(x, y, arg, s, begin, end);
  }
}

template <typename T>
void backward(const T* gy, const uint16_t* arg, T* gx, const PoolShape& s, int64_t begin,
              int64_t end) {
  switch (g_isa.load(std::memory_order_relaxed)) {
    case Isa::kAvx512:
      return avx512::backward(gy, arg, gx, s, begin, end);
    case Isa::kAvx2:
      return avx2::backward(gy, arg, gx, s, begin, end);
    case Isa::kBaseline:
      return baseline::backward(gy, arg, gx, s, begin, end);
  }
}

}  // namespace

void max_pool2x2_forward(const float* x, float* y, uint16_t* arg, const PoolShape& shape,
                         int64_t begin, int64_t end) {
  forward(x, y, arg, shape, begin, end);
}

void max_pool2x2_forward(const uint16_t* x, uint16_t* y, uint16_t* arg, const PoolShape& shape,
                         int64_t begin, int64_t end) {
  forward(x, y, arg, shape, begin, end);
}

void max_pool2x2_backward(const float* grad_y, const uint16_t* arg, float* grad_x,
                          const PoolShape& shape, int64_t begin, int64_t end) {
  backward(grad_y, arg, grad_x, shape, begin, end);
}

void max_pool2x2_backward(const uint16_t* grad_y, const uint16_t* arg, uint16_t* grad_x,
                          const PoolShape& shape, int64_t begin, int64_t end) {
  backward(grad_y, arg, grad_x, shape, begin, end);
}

std::vector<std::string> pool_kernel_builds() {
  std::vector<std::string> names;
  for (int i = int(best_isa()); i >= 0; --i) names.push_back(kIsaNames[i]);
  return names;
}

std::string pool_kernel_build() { return kIsaNames[int(g_isa.load())]; }

void use_pool_kernel_build(const std::string& name) {
  for (int i = 0; i <= int(best_isa()); ++i) {
    if (name == kIsaNames[i]) return g_isa.store(Isa(i));
  }
  throw std::invalid_argument("max-pool kernel: no '" + name + "' build for this CPU");
}

}  // namespace digitlab::models
