// The line reader's network: convolutional features over a line of digits and, per column of
// them, the probabilities of the ten digits and a blank (trained with CTC, read greedily).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace digitlab::models {

constexpr int64_t kLineClasses = 11;  // the digits 0-9, then the blank
constexpr int64_t kLineBlank = 10;
constexpr int64_t kLineInputHeight = 32;  // read::kLineHeight
constexpr int64_t kLineStride = 4;        // input columns per output frame

// "line:C1,C2,C3,C4,H": four 3x3 convolutions with C1..C4 filters, the first three max-pooled
// 2x2, 2x2 and 2x1 before their batch norm and ReLU, the fourth with batch norm and ReLU, so
// that a 32-pixel line becomes 4 rows of frames every 4 columns; then a convolution over 3
// frames of all 4 rows with H units and ReLU, one over 3 frames 2 apart with H units and ReLU,
// dropout, and a 1x1 convolution to the 11 classes.
struct LineSpec {
  std::vector<int64_t> channels = {32, 64, 96, 96};
  int64_t hidden = 256;
  double dropout = 0.2;
};

// True for text that starts "line:" (a line reader's spec rather than a classifier's).
bool is_line_spec(const std::string& text);

// Parses "line:C1,C2,C3,C4,H" (each 1 to 1024). Throws core::UsageError naming the text.
LineSpec parse_line_spec(const std::string& text);
// The spec's text: parse_line_spec(to_string(s)) gives s back (its dropout is fixed).
std::string to_string(const LineSpec& spec);

class LineNetImpl : public torch::nn::Module {
 public:
  explicit LineNetImpl(const LineSpec& spec);
  // Requires [N, 1, 32, W] with W >= 4 (pixels scaled to 0-1), in either memory order.
  // Returns log-probabilities [N, 11, W / 4]: frame t covers input columns [4t, 4t + 4).
  // The convolution weights are kept channels_last (NHWC).
  torch::Tensor forward(torch::Tensor x);

 private:
  torch::nn::Sequential features_{nullptr}, head_{nullptr};
};
TORCH_MODULE(LineNet);

}  // namespace digitlab::models
