// 2x2 max-pooling with stride 2 over channels-last arrays, without torch: models::MaxPool's kernel.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace digitlab::models {

// An NHWC input of `height` x `width` x `channels` per image; the output is height/2 x width/2 x
// channels (a trailing odd row or column is dropped, as PyTorch's floor mode does).
struct PoolShape {
  int64_t height = 0, width = 0, channels = 0;
};

// Output rows [begin, end) of the forward, row r being image r / (height/2), row r % (height/2).
// Each output is the largest of its four inputs, NaN winning, the first in row-major window order
// on ties (PyTorch's rule), copied bit for bit. When `arg` is not null it receives, per output,
// which input won (0 to 3). Requires height, width >= 2 and arrays that do not overlap.
// `uint16_t` arrays hold bfloat16 bits. Runs the AVX-512, AVX2 or baseline build of the loop,
// whichever the CPU has.
void max_pool2x2_forward(const float* x, float* y, uint16_t* arg, const PoolShape& shape,
                         int64_t begin, int64_t end);
void max_pool2x2_forward(const uint16_t* x, uint16_t* y, uint16_t* arg, const PoolShape& shape,
                         int64_t begin, int64_t end);

// The gradient for the input rows of output rows [begin, end): each input gets its output's
// gradient when it won and zero otherwise, and the rows and columns no window covers get zero, so
// every element of those input rows is written. Requires `arg` from the forward of the same input.
void max_pool2x2_backward(const float* grad_y, const uint16_t* arg, float* grad_x,
                          const PoolShape& shape, int64_t begin, int64_t end);
void max_pool2x2_backward(const uint16_t* grad_y, const uint16_t* arg, uint16_t* grad_x,
                          const PoolShape& shape, int64_t begin, int64_t end);

// The builds of the loops this CPU runs, best first ("avx512", "avx2", "baseline"), and the one in
// use (the best, unless changed). use_pool_kernel_build() lets tests and benchmarks run each: it
// applies to the whole process and must not race with running kernels. Throws
// std::invalid_argument for a name not in pool_kernel_builds().
std::vector<std::string> pool_kernel_builds();
std::string pool_kernel_build();
void use_pool_kernel_build(const std::string& name);

}  // namespace digitlab::models
