// Gradient saliency of a network's predicted class and the sheet that draws it.
#include "train/saliency.h"

#include <algorithm>
#include <cmath>

#include "data/dataset.h"
#include "data/image_io.h"
#include "train/precision.h"

namespace digitlab::train {
namespace {

constexpr int kZoom = 3, kGap = 6, kCaption = 22, kPerRow = 4;

// "Hot" colour map: black, red, yellow, white as v goes 0..1, so weak and strong evidence differ
// in hue as well as in brightness.
void heat_rgb(float v, uint8_t* rgb) {
  const float t = std::clamp(v, 0.0f, 1.0f) * 3.0f;
  rgb[0] = uint8_t(std::lround(255 * std::min(1.0f, t)));
  rgb[1] = uint8_t(std::lround(255 * std::clamp(t - 1.0f, 0.0f, 1.0f)));
  rgb[2] = uint8_t(std::lround(255 * std::clamp(t - 2.0f, 0.0f, 1.0f)));
}

}  // namespace

torch::Tensor saliency_maps(torch::nn::Sequential& net, const torch::Tensor& images_u8,
                            const torch::Tensor& classes, const data::Normalization& norm) {
  const bool was_training = net->is_training();
  net->eval();
  const torch::TensorOptions to = parameter_options(net);
  torch::Tensor input = data::to_input(images_u8, norm).to(to).detach().requires_grad_(true);
  const torch::Tensor out = net->forward(input).to(torch::kFloat32);
  const torch::Tensor score = out.gather(1, classes.to(out.device()).view({-1, 1})).sum();
  // autograd::grad rather than backward(): the parameters' .grad stay untouched.
  torch::Tensor grad = torch::autograd::grad({score}, {input})[0];
  if (was_training) net->train();
  torch::Tensor maps = grad.abs().to(torch::kCPU, torch::kFloat32).reshape(images_u8.sizes());
  const torch::Tensor peak = std::get<0>(maps.flatten(1).max(1)).clamp_min(1e-30);
  return (maps / peak.view({-1, 1, 1})).contiguous();
}

std::vector<int64_t> saliency_picks(const torch::Tensor& labels, const torch::Tensor& predicted,
                                    int count) {
  auto l = labels.accessor<int64_t, 1>();
  auto p = predicted.accessor<int64_t, 1>();
  std::vector<int64_t> wrong, right;
  for (int64_t i = 0; i < labels.size(0); ++i) (l[i] == p[i] ? right : wrong).push_back(i);
  const size_t n = size_t(std::max(0, count));
  const size_t take_wrong = std::min(wrong.size(), std::max(n / 2, n - std::min(n, right.size())));
  std::vector<int64_t> picks(wrong.begin(), wrong.begin() + long(take_wrong));
  for (size_t i = 0; i < right.size() && picks.size() < n; ++i) picks.push_back(right[i]);
  return picks;
}

std::string saliency_png(const torch::Tensor& images_u8, const torch::Tensor& maps,
                         const std::vector<int64_t>& labels,
                         const std::vector<int64_t>& predicted) {
  const int n = int(images_u8.size(0)), h = int(images_u8.size(1)), w = int(images_u8.size(2));
  const int cell_w = 2 * w * kZoom + kGap, cell_h = h * kZoom + kCaption;
  const int cols = std::max(1, std::min(n, kPerRow)),
            rows = std::max(1, (n + kPerRow - 1) / kPerRow);
  const int width = cols * (cell_w + kGap) + kGap, height = rows * (cell_h + kGap) + kGap;
  // Drawn in gray first (images, captions), then the heat maps are painted over in colour.
  data::GrayImage sheet(width, height, 255);
  const torch::Tensor img = images_u8.to(torch::kCPU).contiguous();
  const torch::Tensor sal = maps.to(torch::kCPU, torch::kFloat32).contiguous();
  for (int i = 0; i < n; ++i) {
    const int x = kGap + (i % kPerRow) * (cell_w + kGap),
              y = kGap + (i / kPerRow) * (cell_h + kGap);
    data::blit(sheet, img[i].data_ptr<uint8_t>(), h, w, x, y, kZoom);
    const std::string caption =
        std::to_string(labels[size_t(i)]) + "-" + std::to_string(predicted[size_t(i)]);
    data::draw_text(sheet, x, y + h * kZoom + 4, caption, 2,
                    labels[size_t(i)] == predicted[size_t(i)] ? 0 : 96);
  }
  std::vector<uint8_t> rgb(size_t(width) * size_t(height) * 3);
  for (size_t p = 0; p < sheet.pixels.size(); ++p) {
    rgb[3 * p] = rgb[3 * p + 1] = rgb[3 * p + 2] = sheet.pixels[p];
  }
  for (int i = 0; i < n; ++i) {
    const int x0 = kGap + (i % kPerRow) * (cell_w + kGap) + w * kZoom + kGap;
    const int y0 = kGap + (i / kPerRow) * (cell_h + kGap);
    const float* m = sal[i].data_ptr<float>();
    for (int r = 0; r < h * kZoom; ++r) {
      for (int c = 0; c < w * kZoom; ++c) {
        heat_rgb(m[(r / kZoom) * w + c / kZoom], &rgb[(size_t(y0 + r) * width + x0 + c) * 3]);
      }
    }
  }
  return data::encode_png(width, height, 3, rgb, "saliency.png");
}

}  // namespace digitlab::train
