// The learning-rate range test's plot: smoothed loss over the rate, the suggestion marked.
#pragma once

#include <string>

#include "train/lr_find.h"

namespace digitlab::report {

// Requires r.points non-empty with positive rates. Writes a 640x400 PNG to `path` (through a
// temporary file and a rename) of the smoothed loss against log10 of the rate (whole-number ticks
// are powers of ten) with the suggested rate marked. Throws core::RuntimeError naming the path
// when it cannot be written.
void write_lr_find_png(const std::string& path, const train::LrFindResult& r);

}  // namespace digitlab::report
