// `digitlab read` (whole numbers in images through a trained classifier) and `bench --what read`
// (the reader on numbers composed from test digits).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <random>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/files.h"
#include "data/decode.h"
#include "data/font_digits.h"
#include "data/image_io.h"
#include "data/number_render.h"
#include "data/registry.h"
#include "data/store.h"
#include "read/reader.h"
#include "serve/line_reader.h"
#include "serve/serve.h"
#include "serve/torch_predictor.h"
#include "train/runtime.h"

namespace digitlab::serve {
namespace {

std::string box_text(const data::PixelBox& b) {
  return "[" + std::to_string(b.x) + "," + std::to_string(b.y) + "," +
         std::to_string(b.x + b.width) + "," + std::to_string(b.y + b.height) + "]";
}

void print_reading(const std::string& file, const read::Reading& r) {
  if (r.numbers.empty()) {
    std::printf("%s\t\t(%s)\n", file.c_str(), r.reason.c_str());
    return;
  }
  std::printf("%s\t%s\n", file.c_str(), r.text.c_str());
  for (const read::ReadNumber& n : r.numbers) {
    std::printf("  %s at %s:", n.text.c_str(), box_text(n.box).c_str());
    for (const read::ReadDigit& d : n.digits) {
      std::printf(" %s%s %.2f", d.label.c_str(), d.uncertain ? "?" : "", d.confidence);
    }
    std::printf("\n");
  }
}

struct Tally {
  int numbers = 0, exact = 0, digits = 0, edits = 0;
  void add(const std::string& truth, const std::string& read, int distance) {
    ++numbers;
    exact += truth == read;
    digits += int(truth.size());
    edits += distance;
  }
  double number_accuracy() const { return numbers ? double(exact) / numbers : 0; }
  double digit_accuracy() const { return digits ? 1 - double(edits) / digits : 0; }
  nlohmann::json to_json() const {
    return {{"numbers", numbers},
            {"number_accuracy", number_accuracy()},
            {"digit_accuracy", digit_accuracy()}};
  }
};

}  // namespace

int read_command(const ReadCommandOptions& o) {
  if (o.inputs.empty()) throw core::UsageError("read: give one or more images or directories");
  if (!(o.min_confidence >= 0 && o.min_confidence <= 1)) {
    throw core::UsageError("--min-confidence: must be 0 to 1");
  }
  train::configure_threads(o.threads);
  NumberReaderModel model(o.model, o.precision);
  read::ReadOptions ro;
  ro.min_confidence = o.min_confidence;
  const std::vector<std::string> files = expand_inputs(o.inputs);
  const bool progress = files.size() > 20 && isatty(STDERR_FILENO);
  nlohmann::json results = nlohmann::json::array();
  int failures = 0;
  for (size_t i = 0; i < files.size(); ++i) {
    const std::string& file = files[i];
    try {
      const read::Reading r = model.read(data::read_image_file(file), ro);
      if (o.json) {
        nlohmann::json j = read::to_json(r);
        j["file"] = file;
        results.push_back(std::move(j));
      } else {
        if (progress) std::fprintf(stderr, "\r\033[K");
        print_reading(file, r);
      }
    } catch (const core::Error& e) {
      if (progress) std::fprintf(stderr, "\r\033[K");
      std::cerr << "digitlab: " << e.what() << "\n";
      ++failures;
    } catch (const std::exception& e) {  // the model's own failure (memory): this file only
      if (progress) std::fprintf(stderr, "\r\033[K");
      std::cerr << "digitlab: " << file << ": reading failed (" << core::one_line(e.what())
                << ")\n";
      ++failures;
    }
    if (progress) {
      std::fprintf(stderr, "\rread %zu of %zu images", i + 1, files.size());
      std::fflush(stderr);
    }
  }
  if (progress) std::fprintf(stderr, "\r\033[K");
  std::fflush(stdout);
  if (o.json) {
    std::cout << nlohmann::json{{"results", results}}.dump(2, ' ', false,
                                                           nlohmann::json::error_handler_t::replace)
              << "\n";
  }
  return failures ? 1 : 0;
}

int read_bench_command(const ReadBenchOptions& o) {
  if (o.count < 1) throw core::UsageError("--count: must be 1 or more");
  train::configure_threads(o.threads);
  NumberReaderModel model(o.model, "auto");
  const auto& names = model.class_names();
  // The digits 0-9, and maybe the reader's "none".
  const bool digits =
      (names.size() == 10 || (names.size() == 11 && names[10] == read::kRejectClass)) &&
      std::all_of(names.begin(), names.begin() + 10,
                  [&](const std::string& n) { return n == std::to_string(&n - names.data()); });
  if (!digits) {
    throw core::UsageError("--what read: " + o.model + " does not classify the digits 0-9");
  }
  // Numbers are composed of MNIST test digits, whatever the model was trained on, or of digits
  // drawn from fonts: writing that is not MNIST's.
  constexpr int kFontVariants = 20;
  const data::RawSplit test =
      o.fonts.empty()
          ? data::load_raw_split(o.data_root, data::find_dataset("mnist"), data::Split::kTest)
          : data::font_digit_split(o.fonts, kFontVariants, o.seed);
  std::mt19937_64 pick(o.seed);
  Tally all, touching, apart;
  std::map<int, Tally> by_length;
  std::map<std::string, int> errors;
  Tally guessed;  // unsure digits at their best guess
  int uncertain = 0, saved = 0;
  double seconds = 0;
  if (!o.save_errors.empty()) core::make_dirs(o.save_errors);
  const data::NumberStyle style;
  for (int i = 0; i < o.count; ++i) {
    const data::NumberDigits drawn = data::draw_number_digits(test, pick);
    const std::string& truth = drawn.text;
    const int length = int(truth.size());
    const data::RenderedNumber number =
        data::render_number(drawn.digits, truth, style, o.seed * 1000003 + uint64_t(i));
    const auto t0 = std::chrono::steady_clock::now();
    const read::Reading r = model.read(number.image, {});
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::string text = r.text;
    text.erase(std::remove(text.begin(), text.end(), ' '), text.end());  // one number was written
    uncertain += int(std::count(text.begin(), text.end(), '?'));
    // The same reading with each unsure digit at its best guess: how often the '?' was right
    // to doubt.
    std::string guess;
    for (const read::ReadNumber& n : r.numbers) {
      for (const read::ReadDigit& d : n.digits) guess += d.label;
    }
    guessed.add(truth, guess, read::edit_distance(truth, guess));
    const int distance = read::edit_distance(truth, text, &errors);
    if (distance > 0 && !o.save_errors.empty() && saved < 100) {
      ++saved;
      data::write_png(
          core::join_path(o.save_errors, std::to_string(i) + "_" + truth + "_read_" +
                                             (text.empty() ? "nothing" : text) + ".png"),
          number.image);
    }
    all.add(truth, text, distance);
    by_length[length].add(truth, text, distance);
    const bool touches =
        std::any_of(number.gaps.begin(), number.gaps.end(), [](double g) { return g < 1; });
    (touches ? touching : apart).add(truth, text, distance);
  }
  std::vector<std::pair<int, std::string>> common;
  for (const auto& [what, n] : errors) common.emplace_back(n, what);
  std::sort(common.rbegin(), common.rend());
  if (common.size() > 10) common.resize(10);
  nlohmann::json j = {
      {"model", model.model_info()["model"]},
      {"digits", o.fonts.empty() ? nlohmann::json("mnist test") : nlohmann::json(o.fonts)},
      {"spec", model.model_info()["spec"]},
      {"count", o.count},
      {"seed", o.seed},
      {"images_per_second", o.count / std::max(seconds, 1e-9)},
      {"all", all.to_json()},
      {"touching", touching.to_json()},
      {"apart", apart.to_json()},
      {"uncertain_digits", uncertain},
      {"best_guesses", guessed.to_json()}};
  for (const auto& [length, t] : by_length) j["by_length"][std::to_string(length)] = t.to_json();
  for (const auto& [n, what] : common)
    j["commonest_errors"].push_back({{"error", what}, {"count", n}});
  if (o.json) {
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  const std::string source =
      o.fonts.empty() ? "test digits" : "digits of " + std::to_string(o.fonts.size()) + " fonts";
  std::printf("%s on %d numbers of 2-8 %s (%dx%d, seed %llu): %.1f images/s\n",
              j["spec"].get<std::string>().c_str(), o.count, source.c_str(), style.width,
              style.height, static_cast<unsigned long long>(o.seed),
              j["images_per_second"].get<double>());
  auto row = [](const char* what, const Tally& t) {
    std::printf("%-12s %6d numbers  %6.2f%% exact  %6.2f%% digits\n", what, t.numbers,
                100 * t.number_accuracy(), 100 * t.digit_accuracy());
  };
  row("all", all);
  row("touching", touching);
  row("apart", apart);
  for (const auto& [length, t] : by_length) row((std::to_string(length) + " digits").c_str(), t);
  std::printf(
      "uncertain digits ('?'): %d; at their best guesses instead: %.2f%% exact, %.2f%% "
      "digits\ncommonest errors (true>read, - = none):",
      uncertain, 100 * guessed.number_accuracy(), 100 * guessed.digit_accuracy());
  for (const auto& [n, what] : common) std::printf(" %s x%d", what.c_str(), n);
  std::printf("\n");
  return 0;
}

}  // namespace digitlab::serve
