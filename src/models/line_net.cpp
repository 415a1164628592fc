// The line reader's network and its spec text.
#include "models/line_net.h"

#include <sstream>

#include "core/error.h"
#include "models/conv.h"
#include "models/max_pool.h"

namespace digitlab::models {

bool is_line_spec(const std::string& text) { return text.rfind("line:", 0) == 0; }

LineSpec parse_line_spec(const std::string& text) {
  auto fail = [&](const std::string& why) {
    throw core::UsageError("line spec '" + text + "': " + why +
                           " (expected line:C1,C2,C3,C4,H, e.g. line:32,64,96,96,256)");
  };
  if (!is_line_spec(text)) fail("does not start with 'line:'");
  std::vector<int64_t> v;
  std::stringstream in(text.substr(5));
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item.empty() || item.size() > 4 ||
        item.find_first_not_of("0123456789") != std::string::npos)
      fail("'" + item + "' is not a whole number");
    const int64_t n = std::stoll(item);
    if (n < 1 || n > 1024) fail("'" + item + "' is not 1 to 1024");
    v.push_back(n);
  }
  if (v.size() != 5) fail("needs five numbers");
  LineSpec s;
  s.channels.assign(v.begin(), v.begin() + 4);
  s.hidden = v[4];
  return s;
}

std::string to_string(const LineSpec& s) {
  std::string t = "line:";
  for (int64_t c : s.channels) t += std::to_string(c) + ",";
  return t + std::to_string(s.hidden);
}

namespace {

// Convolution, max-pool, batch norm, ReLU: pooling before the normalisation and the ReLU gives
// them a quarter of the values to touch, forward and backward, and those element-wise passes,
// not the convolutions, took most of a training step. With the NHWC order below, training
// reads twice the lines per second (300 -> 600 on 2 cores, measured).
void add_conv(torch::nn::Sequential& seq, int64_t in, int64_t out, std::vector<int64_t> pool = {}) {
  seq->push_back(Conv2d(torch::nn::Conv2dOptions(in, out, 3).padding(1).bias(false)));
  if (!pool.empty()) seq->push_back(MaxPool(torch::nn::MaxPool2dOptions(pool)));
  seq->push_back(torch::nn::BatchNorm2d(out));
  seq->push_back(torch::nn::ReLU(torch::nn::ReLUOptions(/*inplace=*/true)));
}

// `t` with channels_last strides; to() rather than contiguous(), which leaves a one-channel
// tensor (the input, the first weight) in NCHW strides and the layers after it on their slow
// NCHW paths.
torch::Tensor channels_last(const torch::Tensor& t) {
  return t.to(t.options(), /*non_blocking=*/false, /*copy=*/false, at::MemoryFormat::ChannelsLast);
}

}  // namespace

LineNetImpl::LineNetImpl(const LineSpec& s) {
  const auto& c = s.channels;
  torch::nn::Sequential f;
  add_conv(f, 1, c[0], {2, 2});
  add_conv(f, c[0], c[1], {2, 2});
  add_conv(f, c[1], c[2], {2, 1});
  add_conv(f, c[2], c[3]);
  features_ = register_module("features", f);
  // Over 3 frames of all 4 rows, then over frames 2 apart: each frame sees 3 frames (12 columns)
  // further each way than the features do, the digits either side; with the second layer the
  // benchmark read 96.60% of its numbers, without it 95.80%.
  auto relu = [] { return torch::nn::ReLU(torch::nn::ReLUOptions(/*inplace=*/true)); };
  head_ = register_module(
      "head",
      torch::nn::Sequential(
          torch::nn::Conv2d(torch::nn::Conv2dOptions(c[3], s.hidden, {4, 3}).padding({0, 1})),
          relu(),
          torch::nn::Conv2d(torch::nn::Conv2dOptions(s.hidden, s.hidden, {1, 3})
                                .padding({0, 2})
                                .dilation({1, 2})),
          relu(), torch::nn::Dropout(s.dropout),
          torch::nn::Conv2d(torch::nn::Conv2dOptions(s.hidden, kLineClasses, 1))));
  // oneDNN's convolutions and LibTorch's max-pool are fastest on NHWC tensors. Loading a
  // checkpoint replaces these tensors by the saved ones, which were saved in this order.
  torch::NoGradGuard no_grad;
  for (auto& p : parameters()) {
    if (p.dim() == 4) p.set_data(channels_last(p.data()));
  }
}

torch::Tensor LineNetImpl::forward(torch::Tensor x) {
  TORCH_CHECK(
      x.dim() == 4 && x.size(1) == 1 && x.size(2) == kLineInputHeight && x.size(3) >= kLineStride,
      "LineNet: input must be [N, 1, 32, W >= 4]");
  return torch::log_softmax(head_->forward(features_->forward(channels_last(x))).squeeze(2), 1);
}

}  // namespace digitlab::models
