// The service's request handling with a stand-in model: status codes, JSON bodies, metrics.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/files.h"
#include "data/image_io.h"
#include "serve/api.h"
#include "test_util.h"

namespace digitlab::serve {
namespace {

// Answers class 3 with certainty and remembers what it was shown.
class FakePredictor : public Predictor {
 public:
  Prediction predict(const data::GrayImage& digit) override {
    last = digit;
    ++calls;
    Prediction p;
    p.label = 3;
    p.probabilities.assign(10, 0.0);
    p.probabilities[3] = 1.0;
    return p;
  }
  const std::vector<std::string>& class_names() const override { return names_; }
  nlohmann::json model_info() const override { return {{"spec", "16-10"}}; }
  data::GrayImage last;
  int calls = 0;

 private:
  std::vector<std::string> names_ = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
};

std::string pixels_json(size_t n, int value) {
  return nlohmann::json{{"pixels", std::vector<int>(n, value)}}.dump();
}

// A dark stroke on light paper, 90x120, as a photographed digit.
std::string stroke_png() {
  data::GrayImage img(90, 120, 230);
  for (int y = 30; y < 90; ++y) {
    for (int x = 40; x < 50; ++x) img.at(x, y) = 20;
  }
  return data::encode_png(img.width, img.height, 1, img.pixels, "stroke");
}

int status_of(const Answer& a) {
  const auto j = nlohmann::json::parse(a.body);  // every answer, error or not, is JSON
  if (a.status != 200) {
    EXPECT_EQ(j["error"]["status"], a.status);
    EXPECT_FALSE(j["error"]["message"].get<std::string>().empty());
  }
  return a.status;
}

TEST(ServeApi, PixelsAndImagesAreAnswered) {
  FakePredictor model;
  Answer a = handle_predict("application/json", pixels_json(784, 7), kDefaultMaxBodyBytes, model);
  ASSERT_EQ(status_of(a), 200) << a.body;
  auto j = nlohmann::json::parse(a.body);
  EXPECT_EQ(j["label"], 3);
  EXPECT_EQ(j["class"], "3");
  EXPECT_DOUBLE_EQ(j["confidence"].get<double>(), 1.0);
  EXPECT_EQ(j["probabilities"].size(), 10u);
  EXPECT_TRUE(j["latency_ms"].is_number());
  EXPECT_EQ(model.last.width, 28);
  EXPECT_EQ(model.last.pixels[0], 7);  // pixels go to the model as they are

  Answer img = handle_predict("image/png", stroke_png(), kDefaultMaxBodyBytes, model);
  ASSERT_EQ(status_of(img), 200) << img.body;
  j = nlohmann::json::parse(img.body);
  EXPECT_EQ(j["image"]["width"], 90);
  EXPECT_TRUE(j["image"]["inverted"].get<bool>());
  // Preprocessed MNIST-style: bright ink, dark corners.
  EXPECT_EQ(model.last.width, 28);
  EXPECT_EQ(model.last.pixels[0], 0);
  EXPECT_EQ(*std::max_element(model.last.pixels.begin(), model.last.pixels.end()), 255);
  EXPECT_EQ(status_of(handle_predict("Image/PNG; charset=binary", stroke_png(),
                                     kDefaultMaxBodyBytes, model)),
            200);
}

TEST(ServeApi, EveryMalformedRequestHasItsStatus) {
  FakePredictor model;
  const size_t max = kDefaultMaxBodyBytes;
  EXPECT_EQ(status_of(handle_predict("application/json", pixels_json(784, 0), 100, model)), 413);
  EXPECT_EQ(status_of(handle_predict("text/plain", "7", max, model)), 415);
  EXPECT_EQ(status_of(handle_predict("", "7", max, model)), 415);
  EXPECT_EQ(status_of(handle_predict("application/json", "{\"pixels\": [1, 2", max, model)), 400);
  EXPECT_EQ(status_of(handle_predict("application/json", "[1, 2, 3]", max, model)), 400);
  EXPECT_EQ(status_of(handle_predict("application/json", pixels_json(783, 0), max, model)), 400);
  EXPECT_EQ(status_of(handle_predict("application/json", pixels_json(784, 256), max, model)), 400);
  EXPECT_EQ(status_of(handle_predict("application/json", pixels_json(784, -1), max, model)), 400);
  Answer text = handle_predict("application/json", R"({"pixels": ["a"]})", max, model);
  EXPECT_EQ(status_of(text), 400);
  EXPECT_EQ(status_of(handle_predict("image/png", "not a png", max, model)), 400);
  data::GrayImage blank(50, 50, 200);
  EXPECT_EQ(status_of(handle_predict(
                "image/png", data::encode_png(50, 50, 1, blank.pixels, "blank"), max, model)),
            400);
  EXPECT_EQ(model.calls, 0);  // nothing malformed reached the model
  const Answer wrong = handle_predict("application/json", pixels_json(10, 0), max, model);
  EXPECT_NE(wrong.body.find("10 values; expected 784"), std::string::npos) << wrong.body;
}

// POST /v1/read takes the same bodies and refuses the same requests; a page without ink is
// read as nothing, with a reason; two strokes far apart are two numbers with a box each.
TEST(ServeApi, ReadAnswersNumbersAndRefusesWhatPredictRefuses) {
  FakePredictor predictor;
  const read::NumberReader model = classifier_reader(predictor);
  const size_t max = kDefaultMaxBodyBytes;
  EXPECT_EQ(status_of(handle_read("application/json", pixels_json(784, 0), 100, model)), 413);
  EXPECT_EQ(status_of(handle_read("text/plain", "7", max, model)), 415);
  EXPECT_EQ(status_of(handle_read("application/json", pixels_json(783, 0), max, model)), 400);
  EXPECT_EQ(status_of(handle_read("image/png", "not a png", max, model)), 400);
  EXPECT_EQ(predictor.calls, 0);
  data::GrayImage blank(200, 80, 200);
  const Answer nothing =
      handle_read("image/png", data::encode_png(200, 80, 1, blank.pixels, "blank"), max, model);
  EXPECT_EQ(status_of(nothing), 200);
  const auto empty = nlohmann::json::parse(nothing.body);
  EXPECT_EQ(empty["text"], "");
  EXPECT_TRUE(empty.contains("reason"));
  data::GrayImage page(400, 100, 220);
  for (int y = 25; y < 75; ++y) {
    for (int x : {60, 300}) {
      for (int dx = 0; dx < 8; ++dx) page.at(x + dx, y) = 30;
    }
  }
  const Answer two =
      handle_read("image/png", data::encode_png(400, 100, 1, page.pixels, "page"), max, model);
  ASSERT_EQ(status_of(two), 200) << two.body;
  const auto j = nlohmann::json::parse(two.body);
  EXPECT_EQ(j["text"], "3 3");  // the stand-in reads every digit as 3
  ASSERT_EQ(j["numbers"].size(), 2u);
  EXPECT_EQ(j["numbers"][0]["digits"][0]["box"], nlohmann::json({60, 25, 68, 75}));
  EXPECT_EQ(j["image"]["width"], 400);
  EXPECT_TRUE(j.contains("latency_ms"));
}

TEST(ServeApi, MetricsInPrometheusTextFormat) {
  Metrics m;
  m.record("/v1/predict", 200, 0.0007);
  m.record("/v1/predict", 200, 0.003);
  m.record("/v1/predict", 415, 0);
  m.record("/healthz", 200, 0);
  const std::string text = m.prometheus();
  EXPECT_NE(text.find("# TYPE digitlab_requests_total counter"), std::string::npos);
  EXPECT_NE(text.find("digitlab_requests_total{path=\"/v1/predict\",code=\"200\"} 2\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("digitlab_requests_total{path=\"/v1/predict\",code=\"415\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("digitlab_request_errors_total 1\n"), std::string::npos);
  // Cumulative buckets: 0.7 ms falls under 1 ms and above, 3 ms from 5 ms on.
  EXPECT_NE(text.find("digitlab_predict_latency_seconds_bucket{le=\"0.0005\"} 0\n"),
            std::string::npos);
  EXPECT_NE(text.find("digitlab_predict_latency_seconds_bucket{le=\"0.001\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("digitlab_predict_latency_seconds_bucket{le=\"0.005\"} 2\n"),
            std::string::npos);
  EXPECT_NE(text.find("digitlab_predict_latency_seconds_bucket{le=\"+Inf\"} 2\n"),
            std::string::npos);
  EXPECT_NE(text.find("digitlab_predict_latency_seconds_count 2\n"), std::string::npos);
}

// Paths a client makes up count under one label: nothing they hold reaches the page, and a
// flood of distinct 404s does not grow it.
TEST(ServeApi, MetricsLabelsComeFromAFixedSetOfRoutes) {
  Metrics m;
  m.record("/a\"}\ninjected_metric{x=\"", 404, 0);
  const size_t one_unknown = m.prometheus().size();
  for (int i = 0; i < 10000; ++i) m.record("/nope/" + std::to_string(i), 404, 0);
  m.record("/healthz", 200, 0);
  const std::string text = m.prometheus();
  EXPECT_EQ(text.find("injected_metric"), std::string::npos) << text;
  EXPECT_NE(text.find("digitlab_requests_total{path=\"other\",code=\"404\"} 10001\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("digitlab_requests_total{path=\"/healthz\",code=\"200\"} 1\n"),
            std::string::npos);
  EXPECT_LT(text.size(), one_unknown + 200) << "the page grew with the number of paths";
  EXPECT_EQ(metrics_route("/v1/predict"), "/v1/predict");
  EXPECT_EQ(metrics_route("/v1/predict/"), "other");
  EXPECT_EQ(metrics_route(""), "other");
}

TEST(ServeApi, DrawingPageIsSelfContained) {
  const std::string& page = drawing_page();
  EXPECT_NE(page.find("<canvas id=\"pad\""), std::string::npos);
  EXPECT_NE(page.find("/v1/predict"), std::string::npos);
  EXPECT_EQ(page.find("http://"), std::string::npos);
  EXPECT_EQ(page.find("https://"), std::string::npos);
}

// GET /v1/model's test accuracy comes only from an evaluation of the very checkpoint served.
TEST(ServeApi, RecordedTestAccuracyBelongsToTheServedCheckpoint) {
  testing::TempDir dir;
  const std::string run = dir / "run";
  core::make_dirs(run + "/checkpoints");
  core::make_dirs(run + "/eval");
  const std::string best = run + "/checkpoints/best.pt";
  auto summary = [&](const nlohmann::json& j) {
    core::write_file_atomic(run + "/eval/summary.json", j.dump());
  };
  nlohmann::json s = {{"checkpoint", "elsewhere/run/checkpoints/best.pt"},
                      {"epoch", 7},
                      {"split", "test"},
                      {"tta", false},
                      {"accuracy", 0.9912}};
  EXPECT_FALSE(recorded_test_accuracy(best, 7));  // no summary yet
  summary(s);
  ASSERT_TRUE(recorded_test_accuracy(best, 7));
  EXPECT_DOUBLE_EQ(*recorded_test_accuracy(best, 7), 0.9912);
  EXPECT_FALSE(recorded_test_accuracy(best, 8));                          // retrained since
  EXPECT_FALSE(recorded_test_accuracy(run + "/checkpoints/last.pt", 7));  // another file
  EXPECT_FALSE(recorded_test_accuracy(dir / "best.pt", 7));               // not in a run
  core::make_dirs(dir / "loose/eval");
  core::write_file_atomic(dir / "loose/eval/summary.json", s.dump());
  EXPECT_FALSE(recorded_test_accuracy(dir / "loose/x/best.pt", 7));  // not a checkpoints folder

  nlohmann::json tta = s;
  tta["tta"] = true;
  summary(tta);
  EXPECT_FALSE(recorded_test_accuracy(best, 7));
  nlohmann::json old = s;  // summaries before TTA existed have no "tta"
  old.erase("tta");
  summary(old);
  EXPECT_TRUE(recorded_test_accuracy(best, 7));
  nlohmann::json val = s;
  val["split"] = "val";
  summary(val);
  EXPECT_FALSE(recorded_test_accuracy(best, 7));
  nlohmann::json text = s;
  text["accuracy"] = "99%";
  summary(text);
  EXPECT_FALSE(recorded_test_accuracy(best, 7));
  core::write_file_atomic(run + "/eval/summary.json", "{\"accuracy\": ");
  EXPECT_FALSE(recorded_test_accuracy(best, 7));
}

}  // namespace
}  // namespace digitlab::serve
