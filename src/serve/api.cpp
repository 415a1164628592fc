// Request validation and answers of the prediction service, its metrics and its drawing page.
#include "serve/api.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "core/error.h"
#include "core/files.h"
#include "core/json.h"
#include "core/run_files.h"
#include "data/decode.h"
#include "data/digit_prep.h"
#include "read/reader.h"

namespace digitlab::serve {
namespace {

using Clock = std::chrono::steady_clock;

// Upper bounds (seconds) of the latency histogram: 0.5 ms to 1 s.
const std::vector<double> kLatencyBuckets = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02,
                                             0.05,   0.1,   0.2,   0.5,   1.0};

// "Image/PNG; charset=x" -> "image/png".
std::string media_type(const std::string& content_type) {
  std::string t = content_type.substr(0, content_type.find(';'));
  t.erase(std::remove_if(t.begin(), t.end(), [](unsigned char c) { return std::isspace(c); }),
          t.end());
  for (char& c : t) c = char(std::tolower(static_cast<unsigned char>(c)));
  return t;
}

bool is_image_type(const std::string& t) {
  for (const char* ok : {"image/png", "image/jpeg", "image/jpg", "image/bmp", "image/gif",
                         "image/x-portable-graymap", "image/x-portable-anymap"}) {
    if (t == ok) return true;
  }
  return false;
}

// {"pixels": [784 numbers 0-255]} -> a 28x28 image; an error answer otherwise.
bool pixels_from_json(const std::string& body, data::GrayImage& out, Answer& error) {
  const auto j = core::parse_json(body);
  if (j.is_discarded()) {
    error = error_answer(400, "body is not valid JSON");
    return false;
  }
  if (!j.is_object() || !j.contains("pixels") || !j["pixels"].is_array()) {
    error = error_answer(400, "expected a JSON object {\"pixels\": [784 values 0-255]}");
    return false;
  }
  const auto& px = j["pixels"];
  if (px.size() != 784) {
    error = error_answer(400, "\"pixels\" has " + std::to_string(px.size()) +
                                  " values; expected 784 (28x28, row by row)");
    return false;
  }
  out = data::GrayImage(28, 28, 0);
  for (size_t i = 0; i < 784; ++i) {
    const auto& v = px[i];
    if (!v.is_number() || !(v.get<double>() >= 0 && v.get<double>() <= 255)) {
      error = error_answer(400, "\"pixels\"[" + std::to_string(i) + "] is not a number 0-255");
      return false;
    }
    out.pixels[i] = uint8_t(std::lround(v.get<double>()));
  }
  return true;
}

// Messages can quote what the client sent (a content type, a decoder's complaint about the
// bytes): invalid UTF-8 there is replaced rather than thrown (fuzz_http's
// regress-png-side-overflow).
std::string to_text(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace

Answer error_answer(int status, const std::string& message) {
  Answer a;
  a.status = status;
  a.body = to_text(nlohmann::json{{"error", {{"status", status}, {"message", message}}}});
  return a;
}

namespace {

// The image a request carries, as handle_predict reads it: an image type decoded, or JSON pixels
// (an MNIST-style 28x28 image, bright ink on dark). False with an error answer otherwise.
bool image_of_request(const std::string& content_type, const std::string& body, size_t max_body,
                      data::GrayImage& image, bool& bright_ink, Answer& error) {
  if (body.size() > max_body) {
    error = error_answer(413, "body of " + std::to_string(body.size()) + " bytes is over the " +
                                  std::to_string(max_body) + "-byte limit");
    return false;
  }
  const std::string type = media_type(content_type);
  bright_ink = false;
  if (type == "application/json") {
    bright_ink = true;
    return pixels_from_json(body, image, error);
  }
  if (!is_image_type(type)) {
    error = error_answer(415, "content type '" + (type.empty() ? std::string("none") : type) +
                                  "' is not supported; send image/png, image/jpeg, image/bmp, "
                                  "image/gif, image/x-portable-graymap or application/json");
    return false;
  }
  try {
    image = data::decode_image(body, "body");
  } catch (const core::Error& e) {
    error = error_answer(400, e.what());
    return false;
  }
  return true;
}

}  // namespace

Answer handle_predict(const std::string& content_type, const std::string& body, size_t max_body,
                      Predictor& predictor) {
  const auto t0 = Clock::now();
  data::GrayImage image;
  bool bright_ink = false;
  Answer error;
  if (!image_of_request(content_type, body, max_body, image, bright_ink, error)) return error;
  data::GrayImage digit = image;  // JSON pixels are an MNIST image already
  nlohmann::json prep = nullptr;
  if (!bright_ink) {
    try {
      const data::PreparedDigit p = data::prepare_digit(image, data::PrepOptions{});
      if (!p.ink_found) return error_answer(400, "the image holds no ink to read");
      digit = p.image;
      prep = {{"width", image.width}, {"height", image.height}, {"inverted", p.inverted}};
    } catch (const core::Error& e) {
      return error_answer(400, e.what());
    }
  }
  Prediction p;
  try {
    p = predictor.predict(digit);
  } catch (const std::exception& e) {
    return error_answer(500, std::string("prediction failed: ") + e.what());
  }
  const auto& names = predictor.class_names();
  nlohmann::json probs = nlohmann::json::object();
  for (size_t c = 0; c < p.probabilities.size(); ++c) {
    probs[c < names.size() ? names[c] : std::to_string(c)] = p.probabilities[c];
  }
  const size_t label = size_t(p.label);
  nlohmann::json j = {
      {"label", p.label},
      {"class", label < names.size() ? names[label] : std::to_string(label)},
      {"confidence", label < p.probabilities.size() ? p.probabilities[label] : 0.0},
      {"probabilities", probs},
      {"latency_ms", std::chrono::duration<double, std::milli>(Clock::now() - t0).count()}};
  if (!prep.is_null()) j["image"] = prep;
  Answer a;
  a.body = to_text(j);
  return a;
}

read::DigitClassifier read_classifier(Predictor& predictor) {
  return [&predictor](const std::vector<data::GrayImage>& digits) {
    std::vector<std::vector<double>> out;
    for (Prediction& p : predictor.predict_batch(digits)) out.push_back(std::move(p.probabilities));
    return out;
  };
}

read::NumberReader classifier_reader(Predictor& predictor) {
  return [&predictor](const data::GrayImage& image, const read::ReadOptions& options) {
    return read::read_numbers(image, read_classifier(predictor), predictor.class_names(), options);
  };
}

Answer handle_read(const std::string& content_type, const std::string& body, size_t max_body,
                   const read::NumberReader& reader) {
  const auto t0 = Clock::now();
  data::GrayImage image;
  bool bright_ink = false;
  Answer error;
  if (!image_of_request(content_type, body, max_body, image, bright_ink, error)) return error;
  read::ReadOptions options;
  if (bright_ink) options.polarity = data::InkPolarity::kLightInk;
  nlohmann::json j;
  try {
    j = read::to_json(reader(image, options));
  } catch (const std::exception& e) {
    return error_answer(500, std::string("reading failed: ") + e.what());
  }
  j["latency_ms"] = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  j["image"] = {{"width", image.width}, {"height", image.height}};
  Answer a;
  a.body = to_text(j);
  return a;
}

std::string metrics_route(const std::string& path) {
  for (const char* route : {"/", "/healthz", "/v1/model", "/v1/predict", "/v1/read", "/metrics"}) {
    if (path == route) return route;
  }
  return "other";
}

void Metrics::record(const std::string& path, int status, double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  // A client chooses the path: as a label it could inject lines or grow the page without bound.
  ++requests_[{metrics_route(path), status}];
  if (status >= 400) ++errors_;
  if (path == "/v1/predict" && status == 200) {
    if (buckets_.empty()) buckets_.assign(kLatencyBuckets.size(), 0);
    for (size_t i = 0; i < kLatencyBuckets.size(); ++i) {
      if (seconds <= kLatencyBuckets[i]) ++buckets_[i];
    }
    latency_sum_ += seconds;
    ++latency_count_;
  }
}

std::string Metrics::prometheus() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string s;
  s += "# HELP digitlab_requests_total HTTP requests by path and status code.\n";
  s += "# TYPE digitlab_requests_total counter\n";
  for (const auto& [key, n] : requests_) {
    s += "digitlab_requests_total{path=\"" + key.first + "\",code=\"" + std::to_string(key.second) +
         "\"} " + std::to_string(n) + "\n";
  }
  s += "# HELP digitlab_request_errors_total HTTP requests answered with status 400 or above.\n";
  s += "# TYPE digitlab_request_errors_total counter\n";
  s += "digitlab_request_errors_total " + std::to_string(errors_) + "\n";
  s += "# HELP digitlab_predict_latency_seconds Time to answer a successful /v1/predict.\n";
  s += "# TYPE digitlab_predict_latency_seconds histogram\n";
  char buf[64];
  for (size_t i = 0; i < kLatencyBuckets.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%g", kLatencyBuckets[i]);
    s += std::string("digitlab_predict_latency_seconds_bucket{le=\"") + buf + "\"} " +
         std::to_string(buckets_.empty() ? 0 : buckets_[i]) + "\n";
  }
  s += "digitlab_predict_latency_seconds_bucket{le=\"+Inf\"} " + std::to_string(latency_count_) +
       "\n";
  std::snprintf(buf, sizeof buf, "%.9g", latency_sum_);
  s += std::string("digitlab_predict_latency_seconds_sum ") + buf + "\n";
  s += "digitlab_predict_latency_seconds_count " + std::to_string(latency_count_) + "\n";
  return s;
}

std::optional<double> recorded_test_accuracy(const std::string& checkpoint, int64_t epoch) {
  const std::filesystem::path file(checkpoint);
  if (file.parent_path().filename() != core::run_files::kCheckpoints) return std::nullopt;
  const std::string summary =
      core::join_path(file.parent_path().parent_path().string(), core::run_files::kEvalSummary);
  if (!core::file_exists(summary)) return std::nullopt;
  nlohmann::json j;
  try {
    j = core::parse_json(core::read_file(summary));
  } catch (const core::Error&) {
    return std::nullopt;  // unreadable: the model is served without it
  }
  if (!j.is_object()) return std::nullopt;  // also a parse failure (discarded)
  // A missing field reads as null; types are checked because the file may be edited by hand.
  auto field = [&](const char* key) { return j.contains(key) ? j[key] : nlohmann::json(); };
  const nlohmann::json accuracy = field("accuracy"), evaluated = field("checkpoint"),
                       at = field("epoch"), tta = field("tta");
  if (!accuracy.is_number() || !evaluated.is_string() || !at.is_number_integer() ||
      field("split") != "test" || !(tta.is_null() || tta == false) ||
      std::filesystem::path(evaluated.get<std::string>()).filename() != file.filename() ||
      at.get<int64_t>() != epoch) {
    return std::nullopt;
  }
  return accuracy.get<double>();
}

}  // namespace digitlab::serve
