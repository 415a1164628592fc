// The mnist-lines data set: numbers composed of MNIST digits as a line model sees them
// (read::number_lines), each with its digits' labels, for training a sequence reader.
#pragma once

#include <cstdint>
#include <string>

#include "data/idx.h"
#include "data/store.h"

namespace digitlab::read {

constexpr int kLineWidth = 320;     // stored line images are kLineHeight x kLineWidth
constexpr int kLineMaxDigits = 16;  // label rows: the digits, then kLinePad
constexpr uint8_t kLinePad = 255;

constexpr int kMaxLineNumbers = 200000;

struct LineSetOptions {
  int train_numbers = 40000;  // numbers composed from the training digits
  int test_numbers = 2000;    // and from the test digits
  uint64_t seed = 1;
};

// Composes `numbers` numbers of `digits` (data::render_number, default style): with
// `wide_lengths`, 70% of 2-8 digits and 30% of 1-12 (readers meet single digits and long
// numbers), else all of 2-8 as the benchmark; `thick_share` of the digits drawn with a wider pen;
// and frames each as the reader does (find_ink, number_lines). A number the reader finds as exactly
// one number no wider than kLineWidth is kept: images (n, kLineHeight, kLineWidth), left-aligned on
// 0, and labels (n, kLineMaxDigits). Returns how many were not kept. Deterministic for a seed.
int make_line_split(const data::RawSplit& digits, int numbers, uint64_t seed, double thick_share,
                    bool wide_lengths, data::IdxArray& images, data::IdxArray& labels);

// `digitlab data make --dataset mnist-lines`: both splits from the mnist data set under
// data_root, written as IDX files in data_root/mnist-lines. Requires 1 to kMaxLineNumbers
// numbers (otherwise core::UsageError). Throws core::Error when mnist is missing or the files
// cannot be written.
int make_lines_command(const std::string& data_root, const LineSetOptions& options);

}  // namespace digitlab::read
