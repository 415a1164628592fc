// Making mnist-lines: compose numbers, frame them as the reader does, keep the labels.
#include "read/line_set.h"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <random>
#include <thread>

#include "core/error.h"
#include "core/files.h"
#include "data/number_render.h"
#include "data/registry.h"
#include "read/piece_set.h"
#include "read/reader.h"

namespace digitlab::read {
namespace {

struct Part {
  std::vector<uint8_t> images, labels;
  int skipped = 0;
};

void make_range(const data::RawSplit& digits, int begin, int end, uint64_t seed, double thick_share,
                bool wide_lengths, Part& out) {
  const data::NumberStyle style;
  for (int i = begin; i < end; ++i) {
    std::mt19937_64 pick(seed * 1000003 + uint64_t(i));
    const bool wide = wide_lengths && double(pick() >> 11) * 0x1p-53 < 0.3;
    data::NumberDigits drawn = data::draw_number_digits(digits, pick, wide ? 1 : 2, wide ? 12 : 8);
    std::vector<std::vector<uint8_t>> thick;
    thicken_some(drawn, thick_share, pick, thick);
    const data::RenderedNumber number =
        data::render_number(drawn.digits, drawn.text, style, pick());
    const InkMap map = find_ink(number.image);
    const std::vector<NumberLine> found =
        map.reason.empty() ? number_lines(map) : std::vector<NumberLine>{};
    if (found.size() != 1 || found[0].image.width > kLineWidth ||
        drawn.text.size() > size_t(kLineMaxDigits)) {
      ++out.skipped;
      continue;
    }
    const GrayImage& img = found[0].image;
    const size_t at = out.images.size();
    out.images.resize(at + size_t(kLineHeight * kLineWidth), 0);
    for (int y = 0; y < kLineHeight; ++y) {
      std::copy_n(img.pixels.begin() + long(y * img.width), img.width,
                  out.images.begin() + long(at) + long(y * kLineWidth));
    }
    for (int k = 0; k < kLineMaxDigits; ++k) {
      out.labels.push_back(size_t(k) < drawn.text.size() ? uint8_t(drawn.text[size_t(k)] - '0')
                                                         : kLinePad);
    }
  }
}

}  // namespace

int make_line_split(const data::RawSplit& digits, int numbers, uint64_t seed, double thick_share,
                    bool wide_lengths, data::IdxArray& images, data::IdxArray& labels) {
  if (digits.images.count() == 0) throw core::RuntimeError("make_line_split: no digits");
  const int threads = int(std::max(1u, std::min(8u, std::thread::hardware_concurrency())));
  std::vector<Part> parts(static_cast<size_t>(threads));
  std::vector<std::exception_ptr> failures(static_cast<size_t>(threads));
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    const int begin = int(int64_t(numbers) * t / threads);
    const int end = int(int64_t(numbers) * (t + 1) / threads);
    workers.emplace_back([&, t, begin, end] {
      try {
        make_range(digits, begin, end, seed, thick_share, wide_lengths, parts[size_t(t)]);
      } catch (...) {  // rethrown on the calling thread
        failures[size_t(t)] = std::current_exception();
      }
    });
  }
  for (auto& w : workers) w.join();
  for (const std::exception_ptr& f : failures) {
    if (f) std::rethrow_exception(f);
  }
  images.data.clear();
  labels.data.clear();
  int skipped = 0;
  for (const Part& p : parts) {
    images.data.insert(images.data.end(), p.images.begin(), p.images.end());
    labels.data.insert(labels.data.end(), p.labels.begin(), p.labels.end());
    skipped += p.skipped;
  }
  const uint32_t n = uint32_t(labels.data.size() / kLineMaxDigits);
  images.dims = {n, uint32_t(kLineHeight), uint32_t(kLineWidth)};
  labels.dims = {n, uint32_t(kLineMaxDigits)};
  return skipped;
}

int make_lines_command(const std::string& data_root, const LineSetOptions& o) {
  // Each line is 10 KB; the largest set is 2 GB on disk and in memory.
  if (o.train_numbers < 1 || o.test_numbers < 1 || o.train_numbers > kMaxLineNumbers) {
    throw core::UsageError("--numbers: must be 1 to " + std::to_string(kMaxLineNumbers));
  }
  const data::DatasetInfo mnist = data::find_dataset("mnist");
  const std::string dir = core::join_path(data_root, "mnist-lines");
  core::make_dirs(dir);
  for (data::Split split : {data::Split::kTrain, data::Split::kTest}) {
    const bool train = split == data::Split::kTrain;
    const data::RawSplit digits = data::load_raw_split(data_root, mnist, split);
    data::IdxArray images, labels;
    const int numbers = train ? o.train_numbers : o.test_numbers;
    const int skipped = make_line_split(digits, numbers, o.seed + (train ? 0 : 1),
                                        train ? 0.3 : 0.0, train, images, labels);
    data::write_idx(
        core::join_path(dir, train ? "train-images-idx3-ubyte" : "t10k-images-idx3-ubyte"), images);
    data::write_idx(
        core::join_path(dir, train ? "train-labels-idx2-ubyte" : "t10k-labels-idx2-ubyte"), labels);
    std::printf("%s: %zu numbers of mnist %s digits (%d not found as one number)\n",
                train ? "train" : "test", labels.count(), train ? "training" : "test", skipped);
  }
  std::printf("wrote %s\n", dir.c_str());
  return 0;
}

}  // namespace digitlab::read
