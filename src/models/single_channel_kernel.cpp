// Direct convolution of one-channel images in AVX2 and FMA: each output pixel's channels are
// vectors, each input pixel a broadcast, with the image padded once so that no tap checks bounds.
#include "models/single_channel_kernel.h"

#include <immintrin.h>

#include <algorithm>
#include <vector>

namespace digitlab::models {
namespace {

constexpr int kPixels = 6;  // output pixels per forward micro-kernel call

// Image i with `pad` zeros around it, (height + 2 pad) x (width + 2 pad), into buf.
void pad_image(const float* x, const SingleChannelShape& s, int64_t i, float* buf) {
  const int64_t pw = s.width + 2 * s.pad, ph = s.height + 2 * s.pad;
  std::fill(buf, buf + ph * pw, 0.0f);
  for (int64_t r = 0; r < s.height; ++r) {
    std::copy_n(x + (i * s.height + r) * s.width, s.width, buf + (r + s.pad) * pw + s.pad);
  }
}

#pragma GCC push_options
#pragma GCC target("avx2,fma")

// P output pixels of one row, V vectors of 8 channels: xp is the padded input at the first
// pixel's window, wt the weights [tap][channel] at this channel group.
template <int KS, int P, int V>
void forward_pixels(const float* xp, int64_t pw, const float* wt, int64_t channels,
                    const float* bias, float* y) {
  __m256 acc[P][V];
  for (int v = 0; v < V; ++v) {
    const __m256 b = bias ? _mm256_loadu_ps(bias + 8 * v) : _mm256_setzero_ps();
    for (int p = 0; p < P; ++p) acc[p][v] = b;
  }
  for (int a = 0; a < KS; ++a) {
    for (int b = 0; b < KS; ++b) {
      __m256 w[V];
      for (int v = 0; v < V; ++v) w[v] = _mm256_loadu_ps(wt + (a * KS + b) * channels + 8 * v);
      for (int p = 0; p < P; ++p) {
        const __m256 xv = _mm256_broadcast_ss(xp + a * pw + p + b);
        for (int v = 0; v < V; ++v) acc[p][v] = _mm256_fmadd_ps(xv, w[v], acc[p][v]);
      }
    }
  }
  for (int p = 0; p < P; ++p) {
    for (int v = 0; v < V; ++v) _mm256_storeu_ps(y + p * channels + 8 * v, acc[p][v]);
  }
}

// One output row's channel group [c, c + 8 V) for all its pixels.
template <int KS, int V>
void forward_row(const float* xp, int64_t pw, const float* wt, int64_t channels, const float* bias,
                 int64_t wo, float* y) {
  int64_t o = 0;
  for (; o + kPixels <= wo; o += kPixels) {
    forward_pixels<KS, kPixels, V>(xp + o, pw, wt, channels, bias, y + o * channels);
  }
  const float* xo = xp + o;
  float* yo = y + o * channels;
  switch (wo - o) {
    case 5:
      return forward_pixels<KS, 5, V>(xo, pw, wt, channels, bias, yo);
    case 4:
      return forward_pixels<KS, 4, V>(xo, pw, wt, channels, bias, yo);
    case 3:
      return forward_pixels<KS, 3, V>(xo, pw, wt, channels, bias, yo);
    case 2:
      return forward_pixels<KS, 2, V>(xo, pw, wt, channels, bias, yo);
    case 1:
      return forward_pixels<KS, 1, V>(xo, pw, wt, channels, bias, yo);
    default:
      return;
  }
}

template <int KS>
void forward_images(const float* x, const float* weights, const float* bias,
                    const SingleChannelShape& s, int64_t begin, int64_t end, float* y) {
  const int64_t k = s.out_channels, ho = s.out_height(), wo = s.out_width();
  const int64_t pw = s.width + 2 * s.pad;
  std::vector<float> wt(KS * KS * k), padded((s.height + 2 * s.pad) * pw);
  for (int64_t c = 0; c < k; ++c) {
    for (int t = 0; t < KS * KS; ++t) wt[t * k + c] = weights[c * KS * KS + t];
  }
  for (int64_t i = begin; i < end; ++i) {
    pad_image(x, s, i, padded.data());
    for (int64_t r = 0; r < ho; ++r) {
      const float* xp = padded.data() + r * pw;
      float* yr = y + (i * ho + r) * wo * k;
      for (int64_t c = 0; c < k; c += 16) {
        const float* b = bias ? bias + c : nullptr;
        if (k - c >= 16) {
          forward_row<KS, 2>(xp, pw, wt.data() + c, k, b, wo, yr + c);
        } else {
          forward_row<KS, 1>(xp, pw, wt.data() + c, k, b, wo, yr + c);
        }
      }
    }
  }
}

// Adds one output row's contribution to the weight gradient of channel group [c, c + 8 V) (wacc
// and gy at that group) and to its bias gradient.
template <int KS, int V>
void gradient_row(const float* xp, int64_t pw, const float* gy, int64_t channels, int64_t wo,
                  float* wacc, float* bacc) {
  for (int a = 0; a < KS; ++a) {
    __m256 acc[KS][V];
    for (int b = 0; b < KS; ++b) {
      for (int v = 0; v < V; ++v) acc[b][v] = _mm256_setzero_ps();
    }
    const float* xa = xp + a * pw;
    for (int64_t o = 0; o < wo; ++o) {
      __m256 g[V];
      for (int v = 0; v < V; ++v) g[v] = _mm256_loadu_ps(gy + o * channels + 8 * v);
      for (int b = 0; b < KS; ++b) {
        const __m256 xv = _mm256_broadcast_ss(xa + o + b);
        for (int v = 0; v < V; ++v) acc[b][v] = _mm256_fmadd_ps(xv, g[v], acc[b][v]);
      }
    }
    for (int b = 0; b < KS; ++b) {
      float* dst = wacc + (a * KS + b) * channels;
      for (int v = 0; v < V; ++v) {
        _mm256_storeu_ps(dst + 8 * v, _mm256_add_ps(_mm256_loadu_ps(dst + 8 * v), acc[b][v]));
      }
    }
  }
  __m256 sum[V];
  for (int v = 0; v < V; ++v) sum[v] = _mm256_loadu_ps(bacc + 8 * v);
  for (int64_t o = 0; o < wo; ++o) {
    for (int v = 0; v < V; ++v)
      sum[v] = _mm256_add_ps(sum[v], _mm256_loadu_ps(gy + o * channels + 8 * v));
  }
  for (int v = 0; v < V; ++v) _mm256_storeu_ps(bacc + 8 * v, sum[v]);
}

template <int KS>
void gradient_images(const float* x, const float* gy, const SingleChannelShape& s, int64_t begin,
                     int64_t end, float* wacc, float* bacc) {
  const int64_t k = s.out_channels, ho = s.out_height(), wo = s.out_width();
  const int64_t pw = s.width + 2 * s.pad;
  std::vector<float> padded((s.height + 2 * s.pad) * pw);
  for (int64_t i = begin; i < end; ++i) {
    pad_image(x, s, i, padded.data());
    for (int64_t r = 0; r < ho; ++r) {
      const float* xp = padded.data() + r * pw;
      const float* gr = gy + (i * ho + r) * wo * k;
      for (int64_t c = 0; c < k; c += 16) {
        if (k - c >= 16) {
          gradient_row<KS, 2>(xp, pw, gr + c, k, wo, wacc + c, bacc + c);
        } else {
          gradient_row<KS, 1>(xp, pw, gr + c, k, wo, wacc + c, bacc + c);
        }
      }
    }
  }
}

#pragma GCC pop_options

}  // namespace

void single_channel_forward(const float* x, const float* weights, const float* bias,
                            const SingleChannelShape& s, int64_t begin, int64_t end, float* y) {
  if (s.kernel == 5) return forward_images<5>(x, weights, bias, s, begin, end, y);
  forward_images<3>(x, weights, bias, s, begin, end, y);
}

void single_channel_gradient_images(const float* x, const float* gy, const SingleChannelShape& s,
                                    int64_t begin, int64_t end, float* wacc, float* bacc) {
  if (s.kernel == 5) return gradient_images<5>(x, gy, s, begin, end, wacc, bacc);
  gradient_images<3>(x, gy, s, begin, end, wacc, bacc);
}

void single_channel_weight_gradient(const float* wacc, const SingleChannelShape& s, float* gw) {
  const int64_t taps = s.kernel * s.kernel, k = s.out_channels;
  for (int64_t c = 0; c < k; ++c) {
    for (int64_t t = 0; t < taps; ++t) gw[c * taps + t] = wacc[t * k + c];
  }
}

}  // namespace digitlab::models
