// The mnist-pieces data set: what `digitlab read` shows its classifier, cut from numbers
// composed of MNIST digits and labelled, so that a classifier can be trained for the reader.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "data/idx.h"
#include "data/number_render.h"
#include "data/store.h"

namespace digitlab::read {

struct PieceSetOptions {
  int train_numbers = 8000;  // numbers composed from the training digits
  int test_numbers = 1333;   // and from the test digits
  uint64_t seed = 1;
  double reject_share = 0.07;  // of the pieces that are no digit, the share kept
  // Fonts (files or folders, data::font_files) whose digits join the training digits, each digit
  // in `font_variants` versions (data::font_digit_split): writing that is not MNIST's.
  std::vector<std::string> fonts;
  int font_variants = 60;
};

// A 28x28 digit drawn with a wider pen: each pixel at least `amount` (0-1) of its brightest
// neighbour (3x3), so strokes grow by up to a pixel on each side, a softer edge for less.
std::vector<uint8_t> thicken_digit(const uint8_t* digit, double amount);

// Pens wider than MNIST's writers used (markers, bold fonts): each digit of `drawn`, with
// probability `share`, replaced by a copy thickened by 0.4-1.0 (thicken_digit) kept in `store`,
// which must outlive the use of `drawn`. Draws from `pick`.
void thicken_some(data::NumberDigits& drawn, double share, std::mt19937_64& pick,
                  std::vector<std::vector<uint8_t>>& store);

// Composes `numbers` numbers of 2-8 digits of `digits` (data::render_number, default style) and
// cuts each as the reader does (candidate_pieces). A piece that covers one digit's ink columns
// (85% or more) and little of its neighbours' (20% or less) is labelled with that digit; one that
// covers under 60% of every digit, or 35% of a second one, is "none" (label 10). Every whole blob
// is kept, `reject_share` of the "none" pieces of splits and 30% of their digit pieces; pieces
// in between are left out. Deterministic for a seed, whatever
// the thread count.
void make_piece_split(const data::RawSplit& digits, int numbers, uint64_t seed, double reject_share,
                      data::IdxArray& images, data::IdxArray& labels);

// `digitlab data make --dataset mnist-pieces`: both splits from the mnist data set under
// `data_root` (the training split's digits joined by the fonts' digits), written as IDX files in
// data_root/mnist-pieces. Prints counts per class. Throws
// core::Error when mnist is missing or the files cannot be written.
int make_pieces_command(const std::string& data_root, const PieceSetOptions& options);

}  // namespace digitlab::read
