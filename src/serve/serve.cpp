// The torch side of serving and predicting: the checkpoint as a thread-safe Predictor.
#include "serve/serve.h"

#include "serve/torch_predictor.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <mutex>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/files.h"
#include "data/dataset.h"
#include "data/decode.h"
#include "data/digit_prep.h"
#include "data/image_io.h"
#include "data/registry.h"
#include "data/scan_render.h"
#include "data/store.h"
#include "models/builder.h"
#include "serve/line_reader.h"
#include "train/checkpoint.h"
#include "train/precision.h"
#include "train/runtime.h"

namespace digitlab::serve {

TorchPredictor::TorchPredictor(const std::string& model, const std::string& precision) {
  ck_ = train::load_checkpoint(model);
  const train::PrecisionChoice p =
      train::choose_precision(precision, ck_.spec, torch::Device(torch::kCPU));
  precision_ = p.name;
  train::prepare_for_inference(ck_.net, p.precision);
  info_ = {{"model", ck_.meta.model},
           {"spec", ck_.meta.spec},
           {"dataset", ck_.meta.dataset},
           {"classes", ck_.meta.class_names},
           {"parameters", ck_.meta.parameters},
           {"epoch", ck_.meta.epoch},
           {"checkpoint", ck_.path},
           {"precision", precision_},
           {"validation", ck_.meta.metrics}};
  if (auto accuracy = recorded_test_accuracy(ck_.path, ck_.meta.epoch)) {
    info_["test_accuracy"] = *accuracy;
  }
}

Prediction TorchPredictor::predict(const data::GrayImage& digit) {
  return predict_batch({digit}).front();
}

std::vector<Prediction> TorchPredictor::predict_batch(const std::vector<data::GrayImage>& digits) {
  const int64_t n = int64_t(digits.size());
  torch::Tensor u8 = torch::empty({n, 28, 28}, torch::kUInt8);
  for (int64_t i = 0; i < n; ++i) {
    const data::GrayImage& d = digits[size_t(i)];
    if (d.width != 28 || d.height != 28 || d.pixels.size() != 784) {
      throw core::RuntimeError("expected a 28x28 image, got " + std::to_string(d.width) + "x" +
                               std::to_string(d.height));
    }
    std::copy(d.pixels.begin(), d.pixels.end(), u8.data_ptr<uint8_t>() + i * 784);
  }
  torch::Tensor probs;
  if (n > 0) {
    // One forward at a time: a large batch uses every compute thread already, and a network's
    // dense layers make their one-row copies on first use (models::Dense).
    std::lock_guard<std::mutex> lock(mu_);
    const torch::Tensor x = data::to_input(u8, ck_.meta.normalization);
    probs = models::head_probabilities(ck_.spec.head, train::infer(ck_.net, x)).contiguous();
  }
  std::vector<Prediction> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const float* row = probs.data_ptr<float>() + i * probs.size(1);
    Prediction& p = out[size_t(i)];
    p.probabilities.assign(row, row + probs.size(1));
    p.label = int64_t(std::max_element(p.probabilities.begin(), p.probabilities.end()) -
                      p.probabilities.begin());
  }
  return out;
}

std::vector<std::string> expand_inputs(const std::vector<std::string>& inputs) {
  std::vector<std::string> files;
  for (const auto& in : inputs) {
    if (core::dir_exists(in)) {
      std::vector<std::string> found;
      std::error_code ec;
      std::filesystem::directory_iterator it(in, ec), end;
      for (; !ec && it != end; it.increment(ec)) {
        std::error_code type_ec;
        const bool regular = it->is_regular_file(type_ec);
        if ((regular || type_ec) && data::is_image_file_name(it->path().string())) {
          found.push_back(it->path().string());
        }
      }
      if (ec) throw core::RuntimeError(in + ": cannot list the directory (" + ec.message() + ")");
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else {
      files.push_back(in);
    }
  }
  return files;
}

int scan_bench_command(const ScanBenchOptions& o) {
  if (o.count < 1) throw core::UsageError("--count: must be 1 or more");
  train::configure_threads(o.threads);
  TorchPredictor predictor(o.model, "auto");
  const data::DatasetInfo info =
      data::find_dataset(predictor.model_info()["dataset"].get<std::string>(), o.data_root);
  const data::RawSplit test = data::load_raw_split(o.data_root, info, data::Split::kTest);
  const int n = std::min<int>(o.count, int(test.images.count()));
  const uint8_t* digits = test.images.data.data();
  const uint8_t* labels = test.labels.data.data();
  auto as_image = [](const uint8_t* p) {
    data::GrayImage g(28, 28, 0);
    std::copy(p, p + 784, g.pixels.begin());
    return g;
  };
  int plain = 0;
  for (int i = 0; i < n; ++i)
    plain += predictor.predict(as_image(digits + i * 784)).label == labels[i];
  nlohmann::json rows = nlohmann::json::array();
  if (!o.json) {
    std::printf("%s on %d test digits: %.2f%% as they are\n",
                predictor.model_info()["model"].get<std::string>().c_str(), n, 100.0 * plain / n);
    std::printf("%-14s %10s %10s %10s\n", "variant", "prepared", "naive", "no ink");
  }
  for (const auto& name : data::scan_variant_names()) {
    const data::ScanVariant v = data::scan_variant(name);
    int prepared = 0, naive = 0, blank = 0;
    for (int i = 0; i < n; ++i) {
      const data::GrayImage scan =
          data::render_scan_like(digits + i * 784, v, o.seed + uint64_t(i));
      const data::PreparedDigit p = data::prepare_digit(scan);
      if (!p.ink_found) {
        ++blank;
      } else {
        prepared += predictor.predict(p.image).label == labels[i];
      }
      // Naive: the whole image squeezed to 28x28, turned to bright ink when the paper is light.
      data::GrayImage small = data::resize_image(scan, 28, 28);
      if (p.inverted) {
        for (auto& px : small.pixels) px = uint8_t(255 - px);
      }
      naive += predictor.predict(small).label == labels[i];
    }
    rows.push_back({{"variant", name},
                    {"prepared_accuracy", double(prepared) / n},
                    {"naive_accuracy", double(naive) / n},
                    {"no_ink", blank}});
    if (!o.json) {
      std::printf("%-14s %9.2f%% %9.2f%% %10d\n", name.c_str(), 100.0 * prepared / n,
                  100.0 * naive / n, blank);
      std::fflush(stdout);
    }
  }
  if (o.json) {
    std::cout << nlohmann::json{{"model", predictor.model_info()},
                                {"count", n},
                                {"plain_accuracy", double(plain) / n},
                                {"variants", rows}}
                     .dump(2)
              << "\n";
  }
  return 0;
}

int serve_command(const ServeOptions& o) {
  train::configure_threads(o.threads);
  TorchPredictor predictor(o.model, o.precision);
  std::printf("model %s (%s) from %s, %s\n",
              predictor.model_info()["model"].get<std::string>().c_str(),
              predictor.model_info()["spec"].get<std::string>().c_str(),
              predictor.model_info()["checkpoint"].get<std::string>().c_str(),
              predictor.precision().c_str());
  std::unique_ptr<NumberReaderModel> reader;
  ServerOptions server = o.server;
  if (!o.reader.empty()) {
    reader = std::make_unique<NumberReaderModel>(o.reader, o.precision);
    std::printf("numbers (/v1/read) read by %s (%s)\n",
                reader->model_info()["model"].get<std::string>().c_str(),
                reader->model_info()["spec"].get<std::string>().c_str());
    server.reader = [&reader](const data::GrayImage& image, const read::ReadOptions& options) {
      return reader->read(image, options);
    };
  }
  return run_server(predictor, server);
}

int predict_command(const PredictOptions& o) {
  if (o.inputs.empty()) throw core::UsageError("predict: give one or more images or directories");
  if (o.top_k < 1) throw core::UsageError("--top-k: must be 1 or more");
  train::configure_threads(o.threads);
  TorchPredictor predictor(o.model, o.precision);
  const auto& names = predictor.class_names();
  if (!o.save_preprocessed.empty()) core::make_dirs(o.save_preprocessed);
  nlohmann::json all = nlohmann::json::array();
  int failures = 0;
  for (const auto& file : expand_inputs(o.inputs)) {
    try {
      const data::GrayImage image = data::read_image_file(file);
      const data::PreparedDigit prep = data::prepare_digit(image, data::PrepOptions{});
      if (!prep.ink_found) throw core::RuntimeError(file + ": no ink found (a blank image?)");
      if (!o.save_preprocessed.empty()) {
        const std::string stem = std::filesystem::path(file).stem().string();
        data::write_png(core::join_path(o.save_preprocessed, stem + ".png"), prep.image);
      }
      const Prediction p = predictor.predict(prep.image);
      std::vector<size_t> order(p.probabilities.size());
      for (size_t i = 0; i < order.size(); ++i) order[i] = i;
      const size_t k = std::min(order.size(), size_t(o.top_k));
      std::partial_sort(
          order.begin(), order.begin() + long(k), order.end(),
          [&](size_t a, size_t b) { return p.probabilities[a] > p.probabilities[b]; });
      nlohmann::json top = nlohmann::json::array();
      for (size_t i = 0; i < k; ++i) {
        top.push_back({{"class", names[order[i]]}, {"probability", p.probabilities[order[i]]}});
      }
      const std::string label = names[size_t(p.label)];
      if (o.json) {
        all.push_back({{"file", file},
                       {"label", label},
                       {"confidence", p.probabilities[size_t(p.label)]},
                       {"top_k", top},
                       {"inverted", prep.inverted}});
      } else {
        std::printf("%s\t%s\t%.4f", file.c_str(), label.c_str(), p.probabilities[size_t(p.label)]);
        for (size_t i = 1; i < k; ++i) {
          std::printf("\t%s %.4f", names[order[i]].c_str(), p.probabilities[order[i]]);
        }
        std::printf("\n");
      }
    } catch (const core::Error& e) {
      std::cerr << "digitlab: " << e.what() << "\n";
      ++failures;
    }
  }
  if (o.json)
    std::cout << all.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  return failures ? 1 : 0;
}

}  // namespace digitlab::serve
