// Making mnist-pieces: compose, cut as the reader does, label by the digits' ink columns.
#include "read/piece_set.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <thread>

#include "core/error.h"
#include "core/files.h"
#include "data/font_digits.h"
#include "data/number_render.h"
#include "data/registry.h"
#include "read/reader.h"

namespace digitlab::read {
namespace {

constexpr uint8_t kNone = 10;
constexpr double kSplitDigitShare = 0.3;  // of the digit pieces that splits cut
constexpr double kThickShare = 0.3;       // of the digits drawn with a wider pen

int overlap(int a0, int a1, int b0, int b1) {
  return std::max(0, std::min(a1, b1) - std::max(a0, b0));
}

// The label of a piece with ink columns [x0, x1) among the digits' boxes: a digit, kNone, or -1
// (neither clearly: left out).
int label_of(int x0, int x1, const data::RenderedNumber& number) {
  double best = 0, second = 0;
  int which = -1;
  for (size_t i = 0; i < number.boxes.size(); ++i) {
    const data::PixelBox& t = number.boxes[i];
    if (t.width <= 0) continue;
    const double covered = double(overlap(x0, x1, t.x, t.x + t.width)) / t.width;
    if (covered > best) {
      second = best;
      best = covered;
      which = int(i);
    } else {
      second = std::max(second, covered);
    }
  }
  if (which >= 0 && best >= 0.85 && second <= 0.2) return number.text[size_t(which)] - '0';
  if (best < 0.6 || second >= 0.35) return kNone;
  return -1;
}

}  // namespace

std::vector<uint8_t> thicken_digit(const uint8_t* d, double amount) {
  std::vector<uint8_t> out(d, d + 784);
  for (int y = 0; y < 28; ++y) {
    for (int x = 0; x < 28; ++x) {
      int peak = 0;
      for (int v = std::max(0, y - 1); v <= std::min(27, y + 1); ++v) {
        for (int u = std::max(0, x - 1); u <= std::min(27, x + 1); ++u)
          peak = std::max(peak, int(d[v * 28 + u]));
      }
      out[size_t(y * 28 + x)] =
          uint8_t(std::max(int(d[y * 28 + x]), int(std::lround(amount * peak))));
    }
  }
  return out;
}

void thicken_some(data::NumberDigits& drawn, double share, std::mt19937_64& pick,
                  std::vector<std::vector<uint8_t>>& store) {
  store.clear();
  store.reserve(drawn.digits.size());  // no reallocation: the pointers below stay valid
  for (const uint8_t*& d : drawn.digits) {
    if (double(pick() >> 11) * 0x1p-53 >= share) continue;
    store.push_back(thicken_digit(d, 0.4 + 0.6 * double(pick() >> 11) * 0x1p-53));
    d = store.back().data();
  }
}

namespace {

struct Part {
  std::vector<uint8_t> images, labels;
};

void make_range(const data::RawSplit& digits, int begin, int end, uint64_t seed,
                double reject_share, Part& out) {
  const data::NumberStyle style;
  for (int i = begin; i < end; ++i) {
    std::mt19937_64 pick(seed * 1000003 + uint64_t(i));
    data::NumberDigits drawn = data::draw_number_digits(digits, pick);
    std::vector<std::vector<uint8_t>> thick;
    thicken_some(drawn, kThickShare, pick, thick);
    const data::RenderedNumber number =
        data::render_number(drawn.digits, drawn.text, style, pick());
    for (const CandidatePiece& p : candidate_pieces(number.image)) {
      const int label = label_of(p.box.x, p.box.x + p.box.width, number);
      if (label < 0) continue;
      // A split tries many cuts: pieces that are no digit outnumber digits many times, and one
      // digit is cut out many ways. Keep every whole blob and a share of the rest.
      const double keep = p.whole ? 1.0 : label == kNone ? reject_share : kSplitDigitShare;
      if (double(pick() >> 11) * 0x1p-53 >= keep) continue;
      out.images.insert(out.images.end(), p.digit.pixels.begin(), p.digit.pixels.end());
      out.labels.push_back(uint8_t(label));
    }
  }
}

}  // namespace

void make_piece_split(const data::RawSplit& digits, int numbers, uint64_t seed, double reject_share,
                      data::IdxArray& images, data::IdxArray& labels) {
  if (digits.images.count() == 0) throw core::RuntimeError("make_piece_split: no digits");
  const int threads = int(std::max(1u, std::min(8u, std::thread::hardware_concurrency())));
  std::vector<Part> parts(static_cast<size_t>(threads));
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    const int begin = numbers * t / threads, end = numbers * (t + 1) / threads;
    workers.emplace_back([&, t, begin, end] {
      make_range(digits, begin, end, seed, reject_share, parts[size_t(t)]);
    });
  }
  for (auto& w : workers) w.join();
  images.data.clear();
  labels.data.clear();
  for (const Part& p : parts) {
    images.data.insert(images.data.end(), p.images.begin(), p.images.end());
    labels.data.insert(labels.data.end(), p.labels.begin(), p.labels.end());
  }
  images.dims = {uint32_t(labels.data.size()), 28, 28};
  labels.dims = {uint32_t(labels.data.size())};
}

int make_pieces_command(const std::string& data_root, const PieceSetOptions& o) {
  if (o.train_numbers < 1 || o.test_numbers < 1) {
    throw core::UsageError("--numbers: must be 1 or more");
  }
  const data::DatasetInfo& mnist = data::find_dataset("mnist");
  const data::DatasetInfo& pieces = data::find_dataset("mnist-pieces");
  const std::string dir = data::dataset_dir(data_root, pieces);
  core::make_dirs(dir);
  for (data::Split split : {data::Split::kTrain, data::Split::kTest}) {
    const bool train = split == data::Split::kTrain;
    data::RawSplit digits = data::load_raw_split(data_root, mnist, split);
    if (train && !o.fonts.empty()) {
      const std::vector<std::string> files = data::font_files(o.fonts);
      data::append_split(digits, data::font_digit_split(files, o.font_variants, o.seed));
      std::printf("train: %zu fonts join the training digits, %d versions of each digit\n",
                  files.size(), o.font_variants);
    }
    data::IdxArray images, labels;
    make_piece_split(digits, train ? o.train_numbers : o.test_numbers, o.seed + (train ? 0 : 1),
                     o.reject_share, images, labels);
    data::write_idx(
        core::join_path(dir, train ? pieces.train_images.name : pieces.test_images.name), images);
    data::write_idx(
        core::join_path(dir, train ? pieces.train_labels.name : pieces.test_labels.name), labels);
    std::vector<int> per_class(pieces.class_names.size(), 0);
    for (uint8_t l : labels.data) ++per_class[l];
    std::printf("%s: %zu pieces from %d numbers of mnist %s digits:", train ? "train" : "test",
                labels.data.size(), train ? o.train_numbers : o.test_numbers,
                train ? "training" : "test");
    for (size_t c = 0; c < per_class.size(); ++c) {
      std::printf(" %s %d", pieces.class_names[c].c_str(), per_class[c]);
    }
    std::printf("\n");
  }
  std::printf("wrote %s\n", dir.c_str());
  return 0;
}

}  // namespace digitlab::read
