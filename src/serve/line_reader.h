// The models `read`, `bench --what read` and `serve` read numbers with: a line reader's
// checkpoint (whole numbers at once) or a digit classifier's (digits one by one).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "read/reader.h"
#include "serve/torch_predictor.h"
#include "train/line_checkpoint.h"

namespace digitlab::serve {

// A line reader checkpoint as the reader's LineRecognizer. Thread-safe (one forward at a time).
class TorchLineReader {
 public:
  // Throws core::Error for a missing or foreign checkpoint.
  explicit TorchLineReader(const std::string& model);
  // Requires lines kLineHeight pixels tall and 1 to kMaxLineWidth wide (otherwise
  // core::RuntimeError). Reads them in batches of similar widths; each answer has the frames of
  // its batch's widest line, the columns past its own width padding.
  std::vector<read::LineFrames> recognize(const std::vector<data::GrayImage>& lines);
  // GET /v1/model's document: spec, parameters, epoch, validation figures, checkpoint.
  nlohmann::json model_info() const { return info_; }

 private:
  train::LoadedLineReader ck_;
  nlohmann::json info_;
  std::mutex mu_;
};

// `model` as a reader of numbers: a line reader's checkpoint through read::read_lines, any
// other run or checkpoint as a digit classifier through read::read_numbers. Throws core::Error
// for a bad checkpoint or precision.
class NumberReaderModel {
 public:
  // A line reader refuses precision bf16 (core::UsageError).
  NumberReaderModel(const std::string& model, const std::string& precision);
  // Thread-safe. Never throws for image content.
  read::Reading read(const data::GrayImage& image, const read::ReadOptions& options);
  // True for a line reader.
  bool reads_lines() const { return lines_ != nullptr; }
  // The digit classifier's classes; for a line reader the digits 0-9.
  const std::vector<std::string>& class_names() const { return names_; }
  // The line reader's or the classifier's model_info().
  nlohmann::json model_info() const;

 private:
  std::unique_ptr<TorchLineReader> lines_;
  std::unique_ptr<TorchPredictor> digits_;
  std::vector<std::string> names_;
};

}  // namespace digitlab::serve
