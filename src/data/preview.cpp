// The preview mosaic, the augmentation preview grid and the sheet of composed numbers.
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
constexpr int kMosaicZoom = 2;   // 28x28 images at 56x56, so an 8x8 mosaic fits a screen
constexpr int kLabelStrip = 20;  // under each mosaic image: 2x digits (14 px) and margins

// The label drawn under an image: its class name where the font has every character.
std::string cell_label(const std::vector<std::string>& names, int label) {
  if (label >= 0 && size_t(label) < names.size()) {
    const std::string& n = names[size_t(label)];
    if (!n.empty() && n.size() <= 8 && n.find_first_not_of("0123456789-") == std::string::npos) {
      return n;
    }
  }
  return std::to_string(label);
}

}  // namespace

std::pair<int, int> parse_grid(const std::string& grid) {
  const size_t x = grid.find('x');
  int cols = 0, rows = 0;
  auto whole = [](const std::string& s, int& out) {
    if (s.empty() || s.size() > 3 || s.find_first_not_of("0123456789") != std::string::npos) {
      return false;
    }
    out = std::stoi(s);
    return out >= 1 && out <= 64;
  };
  if (x == std::string::npos || !whole(grid.substr(0, x), cols) ||
      !whole(grid.substr(x + 1), rows)) {
    throw core::UsageError("--grid: '" + grid +
                           "' is not COLUMNSxROWS with each 1 to 64 (e.g. 8x8)");
  }
  return {cols, rows};
}

GrayImage preview_mosaic(const RawSplit& split, const std::vector<std::string>& class_names,
                         int cols, int rows, uint64_t seed) {
  const int h = int(split.images.dims[1]), w = int(split.images.dims[2]);
  const int cell_w = w * kMosaicZoom, cell_h = h * kMosaicZoom + kLabelStrip;
  GrayImage mosaic(cols * (cell_w + kGap) + kGap, rows * (cell_h + kGap) + kGap, kBackground);
  // A partial Fisher-Yates shuffle: distinct images, the same ones for the same seed.
  const int64_t n = int64_t(split.images.count());
  const int64_t cells = std::min<int64_t>(int64_t(cols) * rows, n);
  std::vector<int64_t> ids(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) ids[size_t(i)] = i;
  Rng pick(seed);
  for (int64_t i = 0; i < cells; ++i) std::swap(ids[size_t(i)], ids[size_t(i + pick.below(n - i))]);
  for (int64_t i = 0; i < cells; ++i) {
    const int64_t id = ids[size_t(i)];
    const int x = kGap + int(i % cols) * (cell_w + kGap),
              y = kGap + int(i / cols) * (cell_h + kGap);
    blit(mosaic, split.images.data.data() + id * h * w, h, w, x, y, kMosaicZoom);
    const std::string label = cell_label(class_names, int(split.labels.data[size_t(id)]));
    const int text_w = int(label.size()) * 6 * 2 - 2;
    draw_text(mosaic, x + std::max(0, (cell_w - text_w) / 2), y + h * kMosaicZoom + 3, label, 2,
              255);
  }
  return mosaic;
}

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
  const int image_rows = o.rows == -1 ? 8 : o.rows, variants = o.variants == -1 ? 6 : o.variants;
  if (image_rows < 1 || image_rows > 64) throw core::UsageError("--rows: must be 1 to 64");
  if (variants < 0 || variants > 16) throw core::UsageError("--variants: must be 0 to 16");
  const AugmentSpec spec = parse_augment(o.augment);
  const auto [cols, rows] = parse_grid(o.grid.empty() ? "8x8" : o.grid);
  if (!o.grid.empty() && (spec.enabled() || o.numbers)) {
    throw core::UsageError(
        std::string("--grid: lays out images without augmentation; with ") +
        (o.numbers ? "--numbers use --rows" : "--augment use --rows and --variants"));
  }
  if (!spec.enabled() && !o.numbers && (o.rows != -1 || o.variants != -1)) {
    throw core::UsageError(std::string(o.rows != -1 ? "--rows" : "--variants") +
                           ": lays out augmentation draws; give --augment SPEC, or --grid "
                           "COLUMNSxROWS for the mosaic");
  }
  const DatasetInfo info = find_dataset(o.dataset, o.data_root);
  const RawSplit split = load_raw_split(o.data_root, info, Split::kTrain);
  if (o.numbers) {
    std::vector<std::string> texts;
    write_png(o.out, number_sheet(split, image_rows, o.seed, texts));
    std::printf("wrote %s: %d numbers composed from %s training images:", o.out.c_str(), image_rows,
                info.name.c_str());
    for (const auto& t : texts) std::printf(" %s", t.c_str());
    std::printf("\n");
    return 0;
  }
  if (!spec.enabled()) {
    write_png(o.out, preview_mosaic(split, info.class_names, cols, rows, o.seed));
    std::printf("wrote %s: %dx%d mosaic of %s training images with their labels\n", o.out.c_str(),
                cols, rows, info.name.c_str());
    return 0;
  }
  write_png(o.out, preview_grid(split, spec, image_rows, variants, o.seed));
  std::printf("wrote %s: %d %s training images (label, original, then %d draws of '%s')\n",
              o.out.c_str(), image_rows, info.name.c_str(), variants, to_string(spec).c_str());
  return 0;
}

}  // namespace digitlab::data
