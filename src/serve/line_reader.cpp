// Line reader checkpoints behind read::LineRecognizer, and the choice between line and digit
// models for reading numbers.
#include "serve/line_reader.h"

#include <torch/torch.h>

#include <algorithm>

#include "core/error.h"
#include "models/line_net.h"

namespace digitlab::serve {

TorchLineReader::TorchLineReader(const std::string& model)
    : ck_(train::load_line_checkpoint(model)) {
  info_ = {{"model", "line-reader"},
           {"spec", models::to_string(ck_.spec)},
           {"dataset", ck_.meta.value("options", nlohmann::json::object()).value("dataset", "")},
           {"classes", {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}},
           {"parameters", ck_.meta.value("parameters", 0)},
           {"epoch", ck_.meta.value("epoch", 0)},
           {"checkpoint", ck_.path},
           {"precision", "fp32"},
           {"validation", ck_.meta.value("metrics", nlohmann::json())}};
}

namespace {

// Lines `index` (all kLineHeight tall) padded to the widest of them and read in one forward;
// their frames into `out`.
void recognize_group(models::LineNet& net, const std::vector<data::GrayImage>& lines,
                     const std::vector<size_t>& index, std::vector<read::LineFrames>& out) {
  int width = models::kLineStride;
  for (size_t i : index) width = std::max(width, lines[i].width);
  width = (width + read::kLineFrame - 1) / read::kLineFrame * read::kLineFrame;
  torch::Tensor u8 =
      torch::zeros({int64_t(index.size()), 1, read::kLineHeight, width}, torch::kUInt8);
  uint8_t* p = u8.data_ptr<uint8_t>();
  for (size_t k = 0; k < index.size(); ++k) {
    const data::GrayImage& l = lines[index[k]];
    for (int y = 0; y < l.height; ++y) {
      std::copy_n(l.pixels.begin() + long(y) * l.width, l.width,
                  p + (int64_t(k) * read::kLineHeight + y) * width);
    }
  }
  torch::NoGradGuard no_grad;
  const torch::Tensor probs =
      net->forward(u8.to(torch::kFloat32).div_(255)).exp().permute({0, 2, 1}).contiguous();
  const auto a = probs.accessor<float, 3>();
  for (size_t k = 0; k < index.size(); ++k) {
    read::LineFrames& f = out[index[k]];
    f.resize(size_t(probs.size(1)));
    for (int64_t t = 0; t < probs.size(1); ++t) {
      f[size_t(t)].assign(&a[int64_t(k)][t][0], &a[int64_t(k)][t][0] + read::kLineClasses);
    }
  }
}

}  // namespace

std::vector<read::LineFrames> TorchLineReader::recognize(
    const std::vector<data::GrayImage>& lines) {
  std::vector<size_t> order(lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    const data::GrayImage& l = lines[i];
    if (l.height != read::kLineHeight || l.width < 1 || l.width > read::kMaxLineWidth ||
        l.pixels.size() != size_t(l.width) * size_t(l.height)) {
      throw core::RuntimeError("line reader: expected lines " + std::to_string(read::kLineHeight) +
                               " pixels tall and at most " + std::to_string(read::kMaxLineWidth) +
                               " wide, got " + std::to_string(l.width) + "x" +
                               std::to_string(l.height));
    }
    order[i] = i;
  }
  // Batches of similar widths, each at most kColumns wide in all: a page of many numbers pads
  // little and holds little memory.
  constexpr int kColumns = 16384;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return lines[a].width < lines[b].width; });
  std::vector<read::LineFrames> out(lines.size());
  std::lock_guard<std::mutex> lock(mu_);  // one forward at a time: each uses every thread
  for (size_t s = 0; s < order.size();) {
    std::vector<size_t> group;
    const int first = lines[order[s]].width;
    while (s < order.size() && lines[order[s]].width <= first * 3 / 2 + read::kLineFrame &&
           int(group.size() + 1) * lines[order[s]].width <= kColumns) {
      group.push_back(order[s++]);
    }
    if (group.empty()) group.push_back(order[s++]);
    recognize_group(ck_.net, lines, group, out);
  }
  return out;
}

NumberReaderModel::NumberReaderModel(const std::string& model, const std::string& precision) {
  if (train::is_line_checkpoint(model)) {
    if (precision == "bf16") {
      throw core::UsageError("--precision bf16: " + model +
                             " is a line reader, which reads in fp32");
    }
    lines_ = std::make_unique<TorchLineReader>(model);
    names_ = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
  } else {
    digits_ = std::make_unique<TorchPredictor>(model, precision);
    names_ = digits_->class_names();
  }
}

read::Reading NumberReaderModel::read(const data::GrayImage& image,
                                      const read::ReadOptions& options) {
  if (lines_) {
    return read::read_lines(
        image, [this](const std::vector<data::GrayImage>& l) { return lines_->recognize(l); },
        options);
  }
  return read::read_numbers(image, read_classifier(*digits_), names_, options);
}

nlohmann::json NumberReaderModel::model_info() const {
  return lines_ ? lines_->model_info() : digits_->model_info();
}

}  // namespace digitlab::serve
