// The augmentation preview grid and the sheet of composed numbers.
#include "data/preview.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "core/error.h"
#include "data/number_render.h"

namespace digitlab::data {
namespace {

constexpr int kZoom = 3;    // each 28x28 image drawn at 84x84
constexpr int kGap = 6;     // pixels between cells
constexpr int kLabel = 30;  // width of the label column
constexpr uint8_t kBackground = 112;

}  // namespace

GrayImage preview_grid(const RawSplit& split, const AugmentSpec& spec, int rows, int variants,
                       uint64_t seed) {
  const int h = int(split.images.dims[1]), w = int(split.images.dims[2]);
  const int cell_w = w * kZoom, cell_h = h * kZoom;
  // The original stands apart from its variants by an extra gap.
  const int width = kLabel + (variants + 1) * (cell_w + kGap) + 2 * kGap;
  const int height = rows * (cell_h + kGap) + kGap;
  GrayImage grid(width, height, kBackground);
  Rng pick(seed);
  std::vector<float> out(size_t(h * w));
  std::vector<uint8_t> bytes(size_t(h * w));
  for (int r = 0; r < rows; ++r) {
    const int64_t id = pick.below(int64_t(split.images.count()));
    const uint8_t* src = split.images.data.data() + id * h * w;
    const int y = kGap + r * (cell_h + kGap);
    draw_text(grid, 4, y + cell_h / 2 - 7, std::to_string(split.labels.data[size_t(id)]), 2, 255);
    blit(grid, src, h, w, kLabel, y, kZoom);
    for (int v = 0; v < variants; ++v) {
      Rng rng(image_stream(seed, v + 1, id));
      augment_image(src, out.data(), h, w, spec, rng);
      for (size_t p = 0; p < out.size(); ++p) {
        bytes[p] = uint8_t(std::lround(std::min(255.0f, std::max(0.0f, out[p]))));
      }
      blit(grid, bytes.data(), h, w, kLabel + (v + 1) * (cell_w + kGap) + 2 * kGap, y, kZoom);
    }
  }
  return grid;
}

GrayImage number_sheet(const RawSplit& split, int rows, uint64_t seed,
                       std::vector<std::string>& texts) {
  const NumberStyle style;
  GrayImage sheet(style.width, rows * (style.height + 4) - 4, 255);
  std::mt19937_64 pick(seed);
  for (int r = 0; r < rows; ++r) {
    const NumberDigits drawn = draw_number_digits(split, pick);
    const RenderedNumber number =
        render_number(drawn.digits, drawn.text, style, seed * 7919 + uint64_t(r));
    for (int y = 0; y < style.height; ++y) {
      std::copy_n(number.image.pixels.begin() + long(y) * style.width, style.width,
                  sheet.pixels.begin() + long(r * (style.height + 4) + y) * style.width);
    }
    texts.push_back(drawn.text);
  }
  return sheet;
}

int preview_command(const PreviewOptions& o) {
  if (o.out.empty()) throw core::UsageError("--out: required (a .png file)");
  if (o.rows < 1 || o.rows > 64) throw core::UsageError("--rows: must be 1 to 64");
  if (o.variants < 0 || o.variants > 16) throw core::UsageError("--variants: must be 0 to 16");
  const AugmentSpec spec = parse_augment(o.augment);
  const DatasetInfo info = find_dataset(o.dataset, o.data_root);
  const RawSplit split = load_raw_split(o.data_root, info, Split::kTrain);
  if (o.numbers) {
    std::vector<std::string> texts;
    write_png(o.out, number_sheet(split, o.rows, o.seed, texts));
    std::printf("wrote %s: %d numbers composed from %s training images:", o.out.c_str(), o.rows,
                info.name.c_str());
    for (const auto& t : texts) std::printf(" %s", t.c_str());
    std::printf("\n");
    return 0;
  }
  write_png(o.out, preview_grid(split, spec, o.rows, o.variants, o.seed));
  std::printf("wrote %s: %d %s training images (label, original, then %d draws of '%s')\n",
              o.out.c_str(), o.rows, info.name.c_str(), o.variants, to_string(spec).c_str());
  return 0;
}

}  // namespace digitlab::data
