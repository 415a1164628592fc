// The prediction service's requests and answers, without sockets or torch: validation, JSON,
// metrics and the drawing page, so they are tested and fuzzed on their own.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/image_io.h"
#include "read/reader.h"

namespace digitlab::serve {

constexpr size_t kDefaultMaxBodyBytes = size_t(4) << 20;

struct Prediction {
  int64_t label = 0;
  std::vector<double> probabilities;  // one per class, summing to 1
};

// What the service needs from a model. predict() may be called from several threads at once.
class Predictor {
 public:
  virtual ~Predictor() = default;
  // `digit` is a 28x28 MNIST-style image: bright ink on a dark background, centred.
  virtual Prediction predict(const data::GrayImage& digit) = 0;
  // The same for many digits; a model may read them in one batch. Same requirements.
  virtual std::vector<Prediction> predict_batch(const std::vector<data::GrayImage>& digits) {
    std::vector<Prediction> out;
    for (const auto& d : digits) out.push_back(predict(d));
    return out;
  }
  virtual const std::vector<std::string>& class_names() const = 0;
  // GET /v1/model: architecture, data set, accuracy and the like.
  virtual nlohmann::json model_info() const = 0;
};

struct Answer {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

// {"error": {"status": S, "message": M}} with status S.
Answer error_answer(int status, const std::string& message);

// POST /v1/predict. Requires nothing of the input: a body over `max_body` is 413, a content type
// other than an image type (image/png, image/jpeg, image/bmp, image/gif,
// image/x-portable-graymap) or application/json is 415, an undecodable image, malformed JSON or
// anything but {"pixels": [784 integers 0-255]} is 400, each with a JSON error body naming the
// problem. Images go through the MNIST-style preprocessing (data/digit_prep.h); pixels are taken
// as an MNIST image (bright ink on dark) as they are. A 200 answer holds label, class, confidence,
// probabilities by class and latency_ms. Never throws for bad input.
Answer handle_predict(const std::string& content_type, const std::string& body, size_t max_body,
                      Predictor& predictor);

// The predictor as the reader's classifier (read/reader.h): many digits in one batch.
read::DigitClassifier read_classifier(Predictor& predictor);

// POST /v1/read: the numbers in the image (read/reader.h, JSON as read::to_json plus latency_ms
// and the image's size). The same bodies, limits and refusals as handle_predict; JSON pixels are
// read as bright ink on dark. An image without digits is a 200 with empty text and a reason.
// Never throws for bad input.
Answer handle_read(const std::string& content_type, const std::string& body, size_t max_body,
                   const read::NumberReader& reader);

// read::read_numbers with the predictor as its classifier.
read::NumberReader classifier_reader(Predictor& predictor);

// The label `path` takes in /metrics: the route itself for the service's six routes, "other"
// for any other path, so a client can neither inject text into the page nor grow it.
std::string metrics_route(const std::string& path);

// Request counts by route (metrics_route) and status, errors, and a latency histogram of
// /v1/predict, rendered in Prometheus' text format. Thread-safe.
class Metrics {
 public:
  void record(const std::string& path, int status, double seconds);
  std::string prometheus() const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, int64_t> requests_;
  int64_t errors_ = 0;
  std::vector<int64_t> buckets_;  // cumulative counts per kLatencyBuckets bound, filled lazily
  double latency_sum_ = 0;
  int64_t latency_count_ = 0;
};

// The test accuracy `digitlab evaluate` recorded for this checkpoint, for GET /v1/model. Requires
// nothing. Returns a value only when `checkpoint` lies in a run's checkpoints/ folder and that
// run's eval/summary.json is a test-split evaluation without TTA of the same checkpoint file name
// at the same `epoch` (an evaluation of another file, an older epoch or a stray file is not this
// model's).
std::optional<double> recorded_test_accuracy(const std::string& checkpoint, int64_t epoch);

// The page at GET /: draw a digit with mouse or finger and see the prediction and the ten
// probabilities live. Self-contained (inline script and style).
const std::string& drawing_page();

}  // namespace digitlab::serve
