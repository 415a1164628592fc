// Winograd F(2x2, 3x3) convolution over channels-last float arrays: transforms and small matrix
// products in AVX2 and FMA, one block of tiles at a time so that a block's data stays in cache.
#include "models/winograd_kernel.h"

#include <immintrin.h>

#include <algorithm>
#include <vector>

namespace digitlab::models {
namespace {

// A block's transformed inputs and products take 16 x tiles x (in + out channels) floats; this
// keeps them within Zen 3's 512 KiB L2 beside the transformed weights.
constexpr int64_t kBlockBytes = 256 * 1024;
constexpr int64_t kRows = 6;  // rows of the matrix-product micro-kernel

// Scratch for a block's transformed inputs (v) and products (m), kept per thread and zeroed per
// call. Measured on Zen 3, one thread, 64x32x14x14 -> 64 channels: fresh vectors per call 2.9-3.1
// ms, these buffers zeroed 3.0 ms; the same buffers not zeroed, or one buffer for both, 7.0 ms
// (cause not found; 4 KiB aliasing between the two regions is one suspect).
struct Scratch {
  float* v;
  float* m;
};
Scratch scratch(int64_t v_floats, int64_t m_floats) {
  thread_local std::vector<float> v, m;
  v.assign(v_floats, 0.0f);
  m.assign(m_floats, 0.0f);
  return {v.data(), m.data()};
}

struct TileGrid {
  int64_t rows, cols;  // tiles per image
  explicit TileGrid(const WinogradShape& s)
      : rows((s.out_height() + 1) / 2), cols((s.out_width() + 1) / 2) {}
};

#pragma GCC push_options
#pragma GCC target("avx2,fma")

// c[r][j] (+)= sum over l of a[r * a_row + l * a_step] * b[l * b_step + j], for R rows and V
// vectors of 8 columns: R x V accumulators in registers.
template <int R, int V>
void micro(int64_t depth, const float* a, int64_t a_row, int64_t a_step, const float* b,
           int64_t b_step, float* c, int64_t c_row, bool accumulate) {
  __m256 acc[R][V];
  for (int r = 0; r < R; ++r) {
    for (int v = 0; v < V; ++v) {
      acc[r][v] = accumulate ? _mm256_loadu_ps(c + r * c_row + 8 * v) : _mm256_setzero_ps();
    }
  }
  for (int64_t l = 0; l < depth; ++l) {
    __m256 bv[V];
    for (int v = 0; v < V; ++v) bv[v] = _mm256_loadu_ps(b + l * b_step + 8 * v);
    for (int r = 0; r < R; ++r) {
      const __m256 av = _mm256_broadcast_ss(a + r * a_row + l * a_step);
      for (int v = 0; v < V; ++v) acc[r][v] = _mm256_fmadd_ps(av, bv[v], acc[r][v]);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int v = 0; v < V; ++v) _mm256_storeu_ps(c + r * c_row + 8 * v, acc[r][v]);
  }
}

template <int V>
void micro_rows(int64_t rows, int64_t depth, const float* a, int64_t a_row, int64_t a_step,
                const float* b, int64_t b_step, float* c, int64_t c_row, bool accumulate) {
  int64_t i = 0;
  for (; i + kRows <= rows; i += kRows) {
    micro<kRows, V>(depth, a + i * a_row, a_row, a_step, b, b_step, c + i * c_row, c_row,
                    accumulate);
  }
  const float* ai = a + i * a_row;
  float* ci = c + i * c_row;
  switch (rows - i) {
    case 5:
      return micro<5, V>(depth, ai, a_row, a_step, b, b_step, ci, c_row, accumulate);
    case 4:
      return micro<4, V>(depth, ai, a_row, a_step, b, b_step, ci, c_row, accumulate);
    case 3:
      return micro<3, V>(depth, ai, a_row, a_step, b, b_step, ci, c_row, accumulate);
    case 2:
      return micro<2, V>(depth, ai, a_row, a_step, b, b_step, ci, c_row, accumulate);
    case 1:
      return micro<1, V>(depth, ai, a_row, a_step, b, b_step, ci, c_row, accumulate);
    default:
      return;
  }
}

// A rows x cols product over `depth` (cols a multiple of 8), in strips of 16 columns.
void gemm(int64_t rows, int64_t cols, int64_t depth, const float* a, int64_t a_row, int64_t a_step,
          const float* b, int64_t b_step, float* c, int64_t c_row, bool accumulate) {
  for (int64_t j = 0; j < cols; j += 16) {
    if (cols - j >= 16) {
      micro_rows<2>(rows, depth, a, a_row, a_step, b + j, b_step, c + j, c_row, accumulate);
    } else {
      micro_rows<1>(rows, depth, a, a_row, a_step, b + j, b_step, c + j, c_row, accumulate);
    }
  }
}

// Tile t's 4x4 input window, B^T d B, into out[xi * stride + channel] for xi = 4 * row + col.
void input_tile(const float* x, const WinogradShape& s, const TileGrid& g, int64_t t, float* out,
                int64_t stride) {
  const int64_t image = t / (g.rows * g.cols), rest = t % (g.rows * g.cols);
  const int64_t r0 = 2 * (rest / g.cols) - s.pad, c0 = 2 * (rest % g.cols) - s.pad;
  const int64_t ch = s.in_channels;
  const float* src[16];
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 4; ++j) {
      const int64_t r = r0 + i, c = c0 + j;
      const bool inside = r >= 0 && r < s.height && c >= 0 && c < s.width;
      src[4 * i + j] = inside ? x + ((image * s.height + r) * s.width + c) * ch : nullptr;
    }
  }
  for (int64_t c = 0; c < ch; c += 8) {
    __m256 d[16], e[16];
    for (int q = 0; q < 16; ++q) d[q] = src[q] ? _mm256_loadu_ps(src[q] + c) : _mm256_setzero_ps();
    for (int j = 0; j < 4; ++j) {
      e[j] = _mm256_sub_ps(d[j], d[8 + j]);
      e[4 + j] = _mm256_add_ps(d[4 + j], d[8 + j]);
      e[8 + j] = _mm256_sub_ps(d[8 + j], d[4 + j]);
      e[12 + j] = _mm256_sub_ps(d[4 + j], d[12 + j]);
    }
    for (int i = 0; i < 4; ++i) {
      const __m256* r = e + 4 * i;
      _mm256_storeu_ps(out + (4 * i) * stride + c, _mm256_sub_ps(r[0], r[2]));
      _mm256_storeu_ps(out + (4 * i + 1) * stride + c, _mm256_add_ps(r[1], r[2]));
      _mm256_storeu_ps(out + (4 * i + 2) * stride + c, _mm256_sub_ps(r[2], r[1]));
      _mm256_storeu_ps(out + (4 * i + 3) * stride + c, _mm256_sub_ps(r[1], r[3]));
    }
  }
}

// A^T m A (+ bias) for tile t from m[xi * stride + channel], written where inside the output.
void output_tile(const float* m, int64_t stride, const float* bias, const WinogradShape& s,
                 const TileGrid& g, int64_t t, float* y) {
  const int64_t ho = s.out_height(), wo = s.out_width(), ch = s.out_channels;
  const int64_t image = t / (g.rows * g.cols), rest = t % (g.rows * g.cols);
  const int64_t r0 = 2 * (rest / g.cols), c0 = 2 * (rest % g.cols);
  float* dst[4];
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 2; ++j) {
      const bool inside = r0 + i < ho && c0 + j < wo;
      dst[2 * i + j] = inside ? y + ((image * ho + r0 + i) * wo + c0 + j) * ch : nullptr;
    }
  }
  for (int64_t c = 0; c < ch; c += 8) {
    __m256 v[16], t0[4], t1[4];
    for (int q = 0; q < 16; ++q) v[q] = _mm256_loadu_ps(m + q * stride + c);
    for (int j = 0; j < 4; ++j) {
      t0[j] = _mm256_add_ps(_mm256_add_ps(v[j], v[4 + j]), v[8 + j]);
      t1[j] = _mm256_sub_ps(_mm256_sub_ps(v[4 + j], v[8 + j]), v[12 + j]);
    }
    const __m256 b = bias ? _mm256_loadu_ps(bias + c) : _mm256_setzero_ps();
    const __m256 out[4] = {_mm256_add_ps(_mm256_add_ps(_mm256_add_ps(t0[0], t0[1]), t0[2]), b),
                           _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(t0[1], t0[2]), t0[3]), b),
                           _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(t1[0], t1[1]), t1[2]), b),
                           _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(t1[1], t1[2]), t1[3]), b)};
    for (int q = 0; q < 4; ++q) {
      if (dst[q]) _mm256_storeu_ps(dst[q] + c, out[q]);
    }
  }
}

// A gy A^T for tile t's 2x2 output gradient (zero outside the output), into out[xi * stride + ch].
void gradient_tile(const float* gy, const WinogradShape& s, const TileGrid& g, int64_t t,
                   float* out, int64_t stride) {
  const int64_t ho = s.out_height(), wo = s.out_width(), ch = s.out_channels;
  const int64_t image = t / (g.rows * g.cols), rest = t % (g.rows * g.cols);
  const int64_t r0 = 2 * (rest / g.cols), c0 = 2 * (rest % g.cols);
  const float* src[4];
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 2; ++j) {
      const bool inside = r0 + i < ho && c0 + j < wo;
      src[2 * i + j] = inside ? gy + ((image * ho + r0 + i) * wo + c0 + j) * ch : nullptr;
    }
  }
  const __m256 zero = _mm256_setzero_ps();
  for (int64_t c = 0; c < ch; c += 8) {
    __m256 v[4];
    for (int q = 0; q < 4; ++q) v[q] = src[q] ? _mm256_loadu_ps(src[q] + c) : zero;
    // Rows of A gy: (g0), (g0 + g1), (g0 - g1), (-g1), each a pair of columns.
    const __m256 h[4][2] = {{v[0], v[1]},
                            {_mm256_add_ps(v[0], v[2]), _mm256_add_ps(v[1], v[3])},
                            {_mm256_sub_ps(v[0], v[2]), _mm256_sub_ps(v[1], v[3])},
                            {_mm256_sub_ps(zero, v[2]), _mm256_sub_ps(zero, v[3])}};
    for (int i = 0; i < 4; ++i) {
      const __m256 a = h[i][0], b = h[i][1];
      _mm256_storeu_ps(out + (4 * i) * stride + c, a);
      _mm256_storeu_ps(out + (4 * i + 1) * stride + c, _mm256_add_ps(a, b));
      _mm256_storeu_ps(out + (4 * i + 2) * stride + c, _mm256_sub_ps(a, b));
      _mm256_storeu_ps(out + (4 * i + 3) * stride + c, _mm256_sub_ps(zero, b));
    }
  }
}

void forward_blocks(const float* x, const float* u, const float* bias, const WinogradShape& s,
                    int64_t begin, int64_t end, float* y) {
  const TileGrid g(s);
  const int64_t per = winograd_block_tiles(s), tiles = s.tiles();
  const int64_t ci = s.in_channels, co = s.out_channels;
  const Scratch buffers = scratch(16 * std::min(per, tiles) * ci, 16 * std::min(per, tiles) * co);
  float* v = buffers.v;
  float* m = buffers.m;
  for (int64_t block = begin; block < end; ++block) {
    const int64_t t0 = block * per, n = std::min(per, tiles - t0);
    for (int64_t t = 0; t < n; ++t) input_tile(x, s, g, t0 + t, v + t * ci, n * ci);
    for (int xi = 0; xi < 16; ++xi) {
      gemm(n, co, ci, v + xi * n * ci, ci, 1, u + xi * ci * co, co, m + xi * n * co, co, false);
    }
    for (int64_t t = 0; t < n; ++t) output_tile(m + t * co, n * co, bias, s, g, t0 + t, y);
  }
}

void weight_gradient_blocks(const float* x, const float* gy, const WinogradShape& s, int64_t begin,
                            int64_t end, float* acc) {
  const TileGrid g(s);
  const int64_t per = winograd_block_tiles(s), tiles = s.tiles();
  const int64_t ci = s.in_channels, co = s.out_channels;
  const Scratch buffers = scratch(16 * std::min(per, tiles) * ci, 16 * std::min(per, tiles) * co);
  float* v = buffers.v;
  float* m = buffers.m;
  for (int64_t block = begin; block < end; ++block) {
    const int64_t t0 = block * per, n = std::min(per, tiles - t0);
    for (int64_t t = 0; t < n; ++t) {
      input_tile(x, s, g, t0 + t, v + t * ci, n * ci);
      gradient_tile(gy, s, g, t0 + t, m + t * co, n * co);
    }
    // acc[xi][in][out] += sum over tiles of v[xi][tile][in] * m[xi][tile][out].
    for (int xi = 0; xi < 16; ++xi) {
      gemm(ci, co, n, v + xi * n * ci, 1, ci, m + xi * n * co, co, acc + xi * ci * co, co, true);
    }
  }
}

#pragma GCC pop_options

}  // namespace

bool winograd_supported() {
  static const bool supported = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  return supported;
}

bool winograd_preferred() {
  static const bool preferred = winograd_supported() && !__builtin_cpu_supports("avx512f");
  return preferred;
}

int64_t winograd_block_tiles(const WinogradShape& s) {
  const int64_t fit = kBlockBytes / (16 * 4 * (s.in_channels + s.out_channels));
  return std::max<int64_t>(kRows, fit / kRows * kRows);
}

int64_t winograd_blocks(const WinogradShape& s) {
  const int64_t per = winograd_block_tiles(s);
  return (s.tiles() + per - 1) / per;
}

void winograd_weights(const float* w, const WinogradShape& s, bool flip, float* out) {
  const int64_t ci = s.in_channels, co = s.out_channels;
  // The inner loop runs along the output's rows (out channels, or in channels when flipped), so
  // that the 16 planes are written in order rather than one float per cache line.
  const int64_t outer_n = flip ? co : ci, inner_n = flip ? ci : co;
  // One output row of all 16 planes at a time, copied out plane by plane: written directly, the
  // 16 planes' rows (a multiple of 4 KiB apart) share an L1 set and evict one another.
  std::vector<float> rows(16 * inner_n);
  for (int64_t o = 0; o < outer_n; ++o) {
    for (int64_t i = 0; i < inner_n; ++i) {
      const int64_t k = flip ? o : i, c = flip ? i : o;
      const float* src = w + (k * ci + c) * 9;
      float g[3][3], h[4][3];
      for (int a = 0; a < 3; ++a) {
        for (int b = 0; b < 3; ++b) g[a][b] = flip ? src[(2 - a) * 3 + (2 - b)] : src[a * 3 + b];
      }
      // G g G^T with G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1].
      for (int b = 0; b < 3; ++b) {
        h[0][b] = g[0][b];
        h[1][b] = 0.5f * (g[0][b] + g[1][b] + g[2][b]);
        h[2][b] = 0.5f * (g[0][b] - g[1][b] + g[2][b]);
        h[3][b] = g[2][b];
      }
      for (int a = 0; a < 4; ++a) {
        const float row[4] = {h[a][0], 0.5f * (h[a][0] + h[a][1] + h[a][2]),
                              0.5f * (h[a][0] - h[a][1] + h[a][2]), h[a][2]};
        for (int b = 0; b < 4; ++b) rows[(4 * a + b) * inner_n + i] = row[b];
      }
    }
    for (int xi = 0; xi < 16; ++xi) {
      std::copy_n(rows.data() + xi * inner_n, inner_n, out + xi * ci * co + o * inner_n);
    }
  }
}

void winograd_forward(const float* x, const float* u, const float* bias, const WinogradShape& s,
                      int64_t begin, int64_t end, float* y) {
  forward_blocks(x, u, bias, s, begin, end, y);
}

void winograd_weight_gradient_blocks(const float* x, const float* gy, const WinogradShape& s,
                                     int64_t begin, int64_t end, float* acc) {
  weight_gradient_blocks(x, gy, s, begin, end, acc);
}

void winograd_weight_gradient(const float* acc, const WinogradShape& s, float* gw) {
  const int64_t ci = s.in_channels, co = s.out_channels;
  for (int64_t k = 0; k < co; ++k) {
    for (int64_t c = 0; c < ci; ++c) {
      float u[4][4], q[3][4];
      for (int xi = 0; xi < 16; ++xi) u[xi / 4][xi % 4] = acc[(xi * ci + c) * co + k];
      // G^T u G.
      for (int b = 0; b < 4; ++b) {
        q[0][b] = u[0][b] + 0.5f * (u[1][b] + u[2][b]);
        q[1][b] = 0.5f * (u[1][b] - u[2][b]);
        q[2][b] = 0.5f * (u[1][b] + u[2][b]) + u[3][b];
      }
      float* dst = gw + (k * ci + c) * 9;
      for (int a = 0; a < 3; ++a) {
        dst[a * 3] = q[a][0] + 0.5f * (q[a][1] + q[a][2]);
        dst[a * 3 + 1] = 0.5f * (q[a][1] - q[a][2]);
        dst[a * 3 + 2] = 0.5f * (q[a][1] + q[a][2]) + q[a][3];
      }
    }
  }
}

}  // namespace digitlab::models
