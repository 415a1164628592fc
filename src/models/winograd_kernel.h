// 3x3 convolutions with stride 1 over channels-last float arrays by Winograd's F(2x2, 3x3), without
// torch: models::Conv's kernel on CPUs with AVX2 and FMA.
#pragma once

#include <cstdint>

namespace digitlab::models {

// An NHWC input of n x height x width x in_channels, a 3x3 kernel with stride 1 and `pad` zeros on
// every side, and an NHWC output of n x out_height() x out_width() x out_channels.
struct WinogradShape {
  int64_t n = 0, height = 0, width = 0, in_channels = 0, out_channels = 0, pad = 0;
  int64_t out_height() const { return height + 2 * pad - 2; }
  int64_t out_width() const { return width + 2 * pad - 2; }
  // Output tiles of 2x2 (the last row and column of tiles may stick out by one).
  int64_t tiles() const { return n * ((out_height() + 1) / 2) * ((out_width() + 1) / 2); }
};

// True where the kernel can run: an x86-64 CPU with AVX2 and FMA.
bool winograd_supported();

// True where digitlab prefers the kernel to LibTorch's convolution for float32: AVX2 and FMA
// without AVX-512 (measured faster there; with AVX-512 oneDNN's direct convolution uses twice the
// vector width, and the kernel has not been measured against it).
bool winograd_preferred();

// Requires winograd_supported(), both channel counts multiples of 8, 0 <= pad <= 2, an output of
// at least 1x1, and arrays that do not overlap. Each tile block is a run of consecutive tiles of
// winograd_block_tiles(shape); blocks [begin, end) of winograd_blocks(shape) may run on different
// threads at once.
int64_t winograd_block_tiles(const WinogradShape& shape);
int64_t winograd_blocks(const WinogradShape& shape);

// The transformed weights, 16 x in_channels x out_channels floats, of weights [out][in][3][3]
// (PyTorch's layout, contiguous). With `flip`, those of the convolution that computes the input
// gradient instead: in and out swapped and each 3x3 kernel turned by 180 degrees, so that the
// gradient is winograd_forward of the output gradient with pad 2 - pad.
void winograd_weights(const float* weights, const WinogradShape& shape, bool flip, float* out);

// Output of blocks [begin, end): y = x (*) weights + bias. `u` is winograd_weights(weights, shape,
// false); `bias` (out_channels floats) may be null. Every output of those blocks' tiles is written.
void winograd_forward(const float* x, const float* u, const float* bias, const WinogradShape& shape,
                      int64_t begin, int64_t end, float* y);

// Adds the weight gradient's Winograd-domain contribution of blocks [begin, end), 16 x in_channels
// x out_channels floats, to `acc`; winograd_weight_gradient turns the sum over all blocks into the
// gradient [out][in][3][3].
void winograd_weight_gradient_blocks(const float* x, const float* grad_y,
                                     const WinogradShape& shape, int64_t begin, int64_t end,
                                     float* acc);
void winograd_weight_gradient(const float* acc, const WinogradShape& shape, float* grad_weights);

}  // namespace digitlab::models
