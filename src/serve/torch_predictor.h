// The checkpoint as a thread-safe Predictor, and the image files of a command's arguments: shared
// by predict, read and serve.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "serve/api.h"
#include "train/checkpoint.h"

namespace digitlab::serve {

class TorchPredictor : public Predictor {
 public:
  // Loads `model` (a run directory or checkpoint) for inference at `precision` (auto, fp32,
  // bf16). Throws core::Error for a bad checkpoint or precision.
  TorchPredictor(const std::string& model, const std::string& precision);
  // Requires a 28x28 image (otherwise core::RuntimeError). One forward at a time.
  Prediction predict(const data::GrayImage& digit) override;
  // One forward for all of `digits` (each 28x28, otherwise core::RuntimeError).
  std::vector<Prediction> predict_batch(const std::vector<data::GrayImage>& digits) override;
  const std::vector<std::string>& class_names() const override { return ck_.meta.class_names; }
  nlohmann::json model_info() const override { return info_; }
  const std::string& precision() const { return precision_; }

 private:
  train::LoadedCheckpoint ck_;
  std::string precision_;
  nlohmann::json info_;
  std::mutex mu_;
};

// Files of `inputs`, directories expanded to their images (sorted, not recursive). An entry whose
// type cannot be read (a symlink loop, a dangling link) but has an image's name is kept, so that
// reading it names it as a bad file while the others are read; a directory that cannot be listed
// is a core::RuntimeError.
std::vector<std::string> expand_inputs(const std::vector<std::string>& inputs);

}  // namespace digitlab::serve
