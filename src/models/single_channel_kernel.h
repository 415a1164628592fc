// Direct convolution of one-channel images (a network's first layer) with stride 1 into
// channels-last float arrays, without torch: models::Conv2d's kernel for them on AVX2 CPUs.
#pragma once

#include <cstdint>

namespace digitlab::models {

// n images of height x width (one channel), a square kernel of `kernel` (3 or 5) with stride 1 and
// `pad` zeros on every side (0 <= pad < kernel), and an NHWC output of n x out_height() x
// out_width() x out_channels.
struct SingleChannelShape {
  int64_t n = 0, height = 0, width = 0, out_channels = 0, kernel = 3, pad = 0;
  int64_t out_height() const { return height + 2 * pad - kernel + 1; }
  int64_t out_width() const { return width + 2 * pad - kernel + 1; }
};

// All below require winograd_supported() (AVX2 and FMA), kernel 3 or 5, out_channels a multiple
// of 8, an output of at least 1x1, and arrays that do not overlap. `weights` are PyTorch's
// [out][1][kernel][kernel], contiguous.

// Output of images [begin, end): y = x (*) weights + bias (bias may be null).
void single_channel_forward(const float* x, const float* weights, const float* bias,
                            const SingleChannelShape& shape, int64_t begin, int64_t end, float* y);

// Adds the weight gradient ([out][kernel][kernel], out channels last: `kernel * kernel *
// out_channels` floats) and the bias gradient (out_channels floats) of images [begin, end) to
// `weight_acc` and `bias_acc`; single_channel_weight_gradient turns the weight sum into PyTorch's
// [out][1][kernel][kernel] layout.
void single_channel_gradient_images(const float* x, const float* grad_y,
                                    const SingleChannelShape& shape, int64_t begin, int64_t end,
                                    float* weight_acc, float* bias_acc);
void single_channel_weight_gradient(const float* weight_acc, const SingleChannelShape& shape,
                                    float* grad_weights);

}  // namespace digitlab::models
