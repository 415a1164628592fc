// The line reader's network and its spec text.
#include "models/line_net.h"

#include <sstream>

#include "core/error.h"

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

void add_conv(torch::nn::Sequential& seq, int64_t in, int64_t out) {
  seq->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).padding(1).bias(false)));
  seq->push_back(torch::nn::BatchNorm2d(out));
  seq->push_back(torch::nn::ReLU());
}

}  // namespace

LineNetImpl::LineNetImpl(const LineSpec& s) {
  const auto& c = s.channels;
  torch::nn::Sequential f;
  add_conv(f, 1, c[0]);
  f->push_back(torch::nn::MaxPool2d(2));
  add_conv(f, c[0], c[1]);
  f->push_back(torch::nn::MaxPool2d(2));
  add_conv(f, c[1], c[2]);
  f->push_back(torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions({2, 1})));
  add_conv(f, c[2], c[3]);
  features_ = register_module("features", f);
  // Over 3 frames of all 4 rows: each frame sees its neighbours' ink.
  head_ = register_module(
      "head",
      torch::nn::Sequential(
          torch::nn::Conv2d(torch::nn::Conv2dOptions(c[3], s.hidden, {4, 3}).padding({0, 1})),
          torch::nn::ReLU(), torch::nn::Dropout(s.dropout),
          torch::nn::Conv2d(torch::nn::Conv2dOptions(s.hidden, kLineClasses, 1))));
}

torch::Tensor LineNetImpl::forward(torch::Tensor x) {
  TORCH_CHECK(
      x.dim() == 4 && x.size(1) == 1 && x.size(2) == kLineInputHeight && x.size(3) >= kLineStride,
      "LineNet: input must be [N, 1, 32, W >= 4]");
  return torch::log_softmax(head_->forward(features_->forward(x)).squeeze(2), 1);
}

}  // namespace digitlab::models
