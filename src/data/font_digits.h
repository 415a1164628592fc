// Digits drawn from fonts (handwriting-like TrueType or OpenType files) as MNIST-style 28x28
// images: material for measuring the reader on writing that is not MNIST's.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/store.h"

namespace digitlab::data {

// The digits 0-9 of every font in `font_files`, each in `variants` versions (pen weights from
// the font's own to about twice it, and a slant of up to 8 degrees either way, drawn with
// `seed`), framed as MNIST was: ink bright on 0, longer side 20 pixels, centre of mass at the
// centre. Labels are the digits. Requires variants >= 1 and at least one file; a file that is
// unreadable, not a font, or without a glyph for every digit is a core::RuntimeError naming it.
// The font files named: a file stands for itself, a folder for its .ttf and .otf files (not its
// subfolders), in name order. A name that is neither is a core::RuntimeError naming it; so is a
// folder without fonts.
std::vector<std::string> font_files(const std::vector<std::string>& files_or_folders);

// Appends the images and labels of `more` to `split` (both of 28x28 images).
void append_split(RawSplit& split, const RawSplit& more);

RawSplit font_digit_split(const std::vector<std::string>& font_files, int variants, uint64_t seed);

// `digitlab data make --dataset font-digits`: an image folder OUT/0 ... OUT/9 of 28x28 PNG files
// as a user's own digits would be (dark ink on white paper), `per_digit` images of each digit
// spread evenly over the fonts (font_digit_split's versions, drawn with `seed`), named
// FONT-N.png. Requires per_digit from 1 to 10000 and an `out` that does not exist or is an empty
// folder (otherwise core::UsageError); font problems as font_files and font_digit_split say.
// Guarantees all of OUT or, on an error, nothing: the folder is filled under a temporary name.
// Returns the exit code.
int make_font_digits_command(const std::vector<std::string>& fonts, const std::string& out,
                             int per_digit, uint64_t seed);

}  // namespace digitlab::data
