// Fuzz target for the service's request handling: any body and content type gets a JSON answer
// with a known status from /v1/predict and /v1/read, and only valid requests reach the model.
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "fuzz_check.h"
#include "read/reader.h"
#include "serve/api.h"

using digitlab::fuzz::check;

namespace {

class NullModel : public digitlab::serve::Predictor {
 public:
  digitlab::serve::Prediction predict(const digitlab::data::GrayImage& digit) override {
    check(digit.width == 28 && digit.height == 28 && digit.pixels.size() == 784,
          "the model only ever sees 28x28 images");
    digitlab::serve::Prediction p;
    p.label = 0;
    p.probabilities.assign(10, 0.1);
    return p;
  }
  const std::vector<std::string>& class_names() const override { return names_; }
  nlohmann::json model_info() const override { return {}; }

 private:
  std::vector<std::string> names_ = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
};

// A stand-in line model: checks what it is shown, and reads a 0 at the first frame and a 1 in
// the middle of every strip.
std::vector<digitlab::read::LineFrames> strip_digits(
    const std::vector<digitlab::data::GrayImage>& lines) {
  using namespace digitlab::read;
  std::vector<LineFrames> out;
  for (const auto& l : lines) {
    check(l.height == kLineHeight && l.width >= 1 && l.width <= kMaxLineWidth &&
              l.pixels.size() == size_t(l.width) * size_t(l.height),
          "a line model sees strips kLineHeight tall and at most kMaxLineWidth wide");
    LineFrames f(size_t((l.width + kLineFrame - 1) / kLineFrame),
                 std::vector<float>(kLineClasses, 0.f));
    for (auto& p : f) p[kLineClasses - 1] = 1.f;
    f.front().assign(kLineClasses, 0.f), f.front()[0] = 1.f;
    if (f.size() > 2) f[f.size() / 2].assign(kLineClasses, 0.f), f[f.size() / 2][1] = 0.5f;
    out.push_back(std::move(f));
  }
  return out;
}

void check_read(const char* type, const std::string& body, int predict_status,
                const digitlab::read::NumberReader& reader) {
  const auto r = digitlab::serve::handle_read(type, body, 1 << 20, reader);
  const auto k = nlohmann::json::parse(r.body, nullptr, false);
  check(!k.is_discarded(), "every read answer is JSON");
  check(r.status == predict_status || (predict_status == 400 && r.status == 200),
        "read refuses what predict refuses (a blank image is a 200 with a reason)");
  if (r.status != 200) return;
  std::string text;
  for (const auto& n : k["numbers"]) {
    text += (text.empty() ? "" : " ") + n["text"].get<std::string>();
    for (const auto& d : n["digits"]) {
      const auto& b = d["box"];
      check(b[0] >= 0 && b[1] >= 0 && b[0] < b[2] && b[1] < b[3] &&
                b[2] <= k["image"]["width"].get<int>() + 1 &&
                b[3] <= k["image"]["height"].get<int>() + 1,
            "a digit's box lies in the image");
    }
  }
  check(text == k["text"].get<std::string>(), "the text is the numbers' texts");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The first byte picks the content type, the rest is the body.
  static const char* kTypes[] = {"application/json", "image/png",      "image/jpeg",
                                 "image/bmp",        "image/gif",      "image/x-portable-graymap",
                                 "text/plain",       "IMAGE/PNG; q=1", ""};
  const char* type = size ? kTypes[data[0] % (sizeof kTypes / sizeof kTypes[0])] : "";
  const std::string body =
      size ? std::string(reinterpret_cast<const char*>(data) + 1, size - 1) : std::string();
  NullModel model;
  const auto a = digitlab::serve::handle_predict(type, body, 1 << 20, model);
  const auto j = nlohmann::json::parse(a.body, nullptr, false);
  check(!j.is_discarded(), "every answer is JSON");
  check(a.status == 200 || a.status == 400 || a.status == 413 || a.status == 415,
        "status is 200, 400, 413 or 415");
  if (a.status == 200) {
    check(j.contains("label") && j.contains("probabilities"), "a 200 answer has a prediction");
  } else {
    check(j.contains("error") && j["error"]["status"] == a.status, "an error names its status");
  }
  // The same body to POST /v1/read, digit by digit and with a line model: the same refusals,
  // and a 200 holds numbers whose texts make its text and whose digit boxes lie in the image.
  check_read(type, body, a.status, digitlab::serve::classifier_reader(model));
  check_read(
      type, body, a.status,
      [](const digitlab::data::GrayImage& image, const digitlab::read::ReadOptions& options) {
        return digitlab::read::read_lines(image, strip_digits, options);
      });
  return 0;
}
