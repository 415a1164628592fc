// Augmentation: spec parsing and errors, identity at zero strength, determinism, geometry; the
// preview mosaic.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "data/augment.h"
#include "data/preview.h"

namespace digitlab::data {
namespace {

constexpr int kH = 28, kW = 28;

std::string error_of(const std::string& text) {
  try {
    parse_augment(text);
  } catch (const core::UsageError& e) {
    return e.what();
  }
  return "";
}

// A blank image with a bright s x s square whose top-left is (x, y).
std::vector<uint8_t> square(int x, int y, int s) {
  std::vector<uint8_t> img(kH * kW, 0);
  for (int r = y; r < y + s; ++r) {
    for (int c = x; c < x + s; ++c) img[size_t(r * kW + c)] = 255;
  }
  return img;
}

struct Moments {
  double mass = 0, x = 0, y = 0;
};
Moments moments(const std::vector<float>& img) {
  Moments m;
  for (int r = 0; r < kH; ++r) {
    for (int c = 0; c < kW; ++c) {
      const double v = img[size_t(r * kW + c)];
      m.mass += v, m.x += v * c, m.y += v * r;
    }
  }
  m.x /= m.mass, m.y /= m.mass;
  return m;
}

std::vector<float> augmented(const std::vector<uint8_t>& src, const AugmentSpec& s, uint64_t seed) {
  std::vector<float> out(src.size());
  Rng rng(seed);
  augment_image(src.data(), out.data(), kH, kW, s, rng);
  return out;
}

TEST(Augment, ParsesEveryKeyAndThePreset) {
  AugmentSpec s = parse_augment("seed002");
  EXPECT_EQ(s.rotate, 10);
  EXPECT_EQ(s.scale_lo, 0.7);
  EXPECT_EQ(s.scale_hi, 1);
  EXPECT_EQ(s.ratio_lo, 0.9);
  EXPECT_EQ(s.ratio_hi, 1.1);
  EXPECT_EQ(s.translate, 0.1);
  s = parse_augment("seed002,rotate=5,elastic=34:4,erase=0.5");
  EXPECT_EQ(s.rotate, 5);  // later items override the preset
  EXPECT_EQ(s.elastic_alpha, 34);
  EXPECT_EQ(s.elastic_sigma, 4);
  EXPECT_EQ(s.erase, 0.5);
  EXPECT_EQ(parse_augment("elastic=8").elastic_sigma, 4);  // default sigma
  EXPECT_FALSE(parse_augment("none").enabled());
  EXPECT_FALSE(parse_augment("").enabled());
  EXPECT_FALSE(parse_augment("rotate=0,translate=0,scale=1:1,elastic=0,erase=0").enabled());
  // Values print with as many digits as they need to read back exactly.
  AugmentSpec precise = parse_augment("scale=0.9999999:1,rotate=0.123456789");
  EXPECT_EQ(parse_augment(to_string(precise)), precise);
  EXPECT_TRUE(parse_augment(to_string(precise)).enabled());
  for (const std::string t :
       {"rotate=10,scale=0.7:1,ratio=0.9:1.1,translate=0.1", "elastic=34:4,erase=0.25", "none"}) {
    EXPECT_EQ(to_string(parse_augment(t)), t);
    EXPECT_EQ(parse_augment(to_string(parse_augment(t))), parse_augment(t));
  }
}

TEST(Augment, ErrorsNameTheKeyAndTheAllowedRange) {
  EXPECT_EQ(error_of("spin=3"),
            "--augment: spin: unknown key (allowed: rotate, scale, ratio, translate, elastic, "
            "erase, or the preset seed002)");
  EXPECT_EQ(error_of("rotate=-5"),
            "--augment: rotate: '-5' is out of range (allowed: degrees from 0 to 180)");
  EXPECT_EQ(error_of("rotate=abc"),
            "--augment: rotate: 'abc' is not a number (allowed: degrees from 0 to 180)");
  EXPECT_EQ(error_of("scale=0.5:1.5"),
            "--augment: scale: '0.5:1.5' is out of range (allowed: LO:HI with 0 < LO <= HI <= 1)");
  EXPECT_EQ(error_of("scale=-0.5:1"),
            "--augment: scale: '-0.5:1' is out of range (allowed: LO:HI with 0 < LO <= HI <= 1)");
  EXPECT_EQ(error_of("scale=0.7"),
            "--augment: scale: '0.7' is not LO:HI (allowed: LO:HI with 0 < LO <= HI <= 1)");
  EXPECT_NE(error_of("ratio=2:1").find("ratio: '2:1' is out of range"), std::string::npos);
  EXPECT_NE(error_of("translate=0.7").find("translate: '0.7' is out of range (allowed: a fraction"),
            std::string::npos);
  EXPECT_NE(error_of("elastic=34:0").find("elastic: '34:0' is out of range"), std::string::npos);
  EXPECT_NE(error_of("erase=2").find("erase: '2' is out of range (allowed: a probability"),
            std::string::npos);
  EXPECT_NE(error_of("rotate").find("rotate: expected key=value or a preset"), std::string::npos);
  EXPECT_NE(error_of("rotate=10,,").find("(empty item): expected key=value"), std::string::npos);
}

TEST(Augment, ZeroStrengthLeavesTheImageUnchanged) {
  std::vector<uint8_t> img(kH * kW);
  for (size_t i = 0; i < img.size(); ++i) img[i] = uint8_t(i * 37 % 256);
  for (const std::string t :
       {"none", "rotate=0,translate=0,scale=1:1,ratio=1:1,elastic=0,erase=0"}) {
    std::vector<float> out = augmented(img, parse_augment(t), 9);
    for (size_t i = 0; i < img.size(); ++i) ASSERT_EQ(out[i], float(img[i])) << t << " at " << i;
  }
  std::vector<float> out(img.size());
  warp(img.data(), out.data(), kH, kW, rotation_inverse(0, kH, kW), nullptr, nullptr);
  for (size_t i = 0; i < img.size(); ++i) ASSERT_EQ(out[i], float(img[i]));
}

TEST(Augment, SameStreamSameImageOtherStreamOtherImage) {
  const AugmentSpec s = parse_augment("seed002,elastic=34:4,erase=0.5");
  const auto img = square(8, 8, 10);
  EXPECT_EQ(augmented(img, s, image_stream(1, 2, 3)), augmented(img, s, image_stream(1, 2, 3)));
  EXPECT_NE(augmented(img, s, image_stream(1, 2, 3)), augmented(img, s, image_stream(1, 2, 4)));
  EXPECT_NE(augmented(img, s, image_stream(1, 2, 3)), augmented(img, s, image_stream(1, 3, 3)));
  EXPECT_NE(augmented(img, s, image_stream(1, 2, 3)), augmented(img, s, image_stream(2, 2, 3)));
}

TEST(Augment, RotationMovesMassCounterClockwise) {
  // A square right of the centre (13.5, 13.5): centre of mass (21.5, 13.5).
  const auto img = square(20, 12, 4);
  std::vector<float> out(img.size());
  warp(img.data(), out.data(), kH, kW, rotation_inverse(90, kH, kW), nullptr, nullptr);
  Moments m = moments(out);
  EXPECT_NEAR(m.x, 13.5, 0.05);  // now above the centre, as seen on screen
  EXPECT_NEAR(m.y, 5.5, 0.05);
  EXPECT_NEAR(m.mass, 16 * 255, 1);
  warp(img.data(), out.data(), kH, kW, rotation_inverse(-90, kH, kW), nullptr, nullptr);
  EXPECT_NEAR(moments(out).y, 21.5, 0.05);
  // Random rotation by up to 10 degrees keeps the angle of the mass within 10 degrees.
  const AugmentSpec s = parse_augment("rotate=10");
  double widest = 0;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    Moments r = moments(augmented(img, s, seed));
    const double angle = std::atan2(-(r.y - 13.5), r.x - 13.5) * 180 / M_PI;
    EXPECT_LE(std::abs(angle), 10.2);
    widest = std::max(widest, std::abs(angle));
  }
  EXPECT_GT(widest, 8);  // the range is used, not just small angles
}

TEST(Augment, TranslationStaysWithinItsFraction) {
  const auto img = square(12, 12, 4);  // centred
  const AugmentSpec s = parse_augment("translate=0.1");
  double widest = 0;
  for (uint64_t seed = 0; seed < 300; ++seed) {
    Moments m = moments(augmented(img, s, seed));
    // 10% of 28 pixels is 2.8; shifts are whole pixels as in torchvision.
    EXPECT_LE(std::abs(m.x - 13.5), 3.0 + 1e-9);
    EXPECT_LE(std::abs(m.y - 13.5), 3.0 + 1e-9);
    EXPECT_NEAR(m.x - 13.5, std::round(m.x - 13.5), 1e-9);
    widest = std::max(widest, std::abs(m.x - 13.5));
  }
  EXPECT_EQ(widest, 3.0);
}

TEST(Augment, ResizedCropMagnifiesWithinItsScale) {
  const auto img = square(11, 11, 6);  // stays inside any crop of at least 70% of the area
  const AugmentSpec s = parse_augment("scale=0.7:1,ratio=1:1");
  double largest = 0;
  for (uint64_t seed = 0; seed < 300; ++seed) {
    const double ratio = moments(augmented(img, s, seed)).mass / (36 * 255.0);
    // Area grows by 1/scale: between 1 and 1/0.7, where the crop side is rounded to whole
    // pixels as torchvision does (sqrt(0.7 * 784) = 23.4 -> 23), so at most (28/23)^2; bilinear
    // edges blur it slightly.
    EXPECT_GE(ratio, 0.97);
    EXPECT_LE(ratio, (28.0 / 23.0) * (28.0 / 23.0) + 0.03);
    largest = std::max(largest, ratio);
  }
  EXPECT_GT(largest, 1.3);
}

TEST(Augment, CropFallsBackToACentreCropWithinTheRatioRange) {
  // A whole-image crop at aspect ratio 2 to 3 never fits a 28x28 image, so torchvision falls back
  // to the centre 28x14 band (ratio 2), stretched to 28x28.
  const AugmentSpec s = parse_augment("scale=1:1,ratio=2:3");
  EXPECT_EQ(moments(augmented(square(12, 0, 4), s, 1)).mass, 0.0);  // rows 0-3: cut off
  Moments m = moments(augmented(square(12, 12, 4), s, 1));          // rows 12-15: kept, doubled
  EXPECT_NEAR(m.mass / (16 * 255.0), 2.0, 0.1);
  EXPECT_NEAR(m.y, 13.5, 0.6);
}

TEST(Augment, ErasingBlanksOneRectangleOfTwoToThirtyThreePercent) {
  const std::vector<uint8_t> white(kH * kW, 255);
  const AugmentSpec s = parse_augment("erase=1");
  for (uint64_t seed = 0; seed < 100; ++seed) {
    auto out = augmented(white, s, seed);
    size_t zero = 0;
    int x0 = kW, x1 = -1, y0 = kH, y1 = -1;
    for (int r = 0; r < kH; ++r) {
      for (int c = 0; c < kW; ++c) {
        if (out[size_t(r * kW + c)] != 0) continue;
        ++zero, x0 = std::min(x0, c), x1 = std::max(x1, c), y0 = std::min(y0, r),
                y1 = std::max(y1, r);
      }
    }
    ASSERT_GT(zero, 0u) << seed;
    EXPECT_EQ(size_t((x1 - x0 + 1) * (y1 - y0 + 1)), zero) << "one rectangle";
    EXPECT_GE(double(zero) / (kH * kW), 0.015);
    EXPECT_LE(double(zero) / (kH * kW), 0.34);
  }
}

TEST(Augment, ElasticDistortionGrowsWithAlphaAndKeepsTheDigitNearby) {
  const auto img = square(9, 9, 10);
  auto distortion = [&](double alpha) {
    AugmentSpec s;
    s.elastic_alpha = alpha;
    double total = 0;
    for (uint64_t seed = 0; seed < 50; ++seed) {
      auto out = augmented(img, s, seed);
      Moments m = moments(out);
      // Displacements are smooth and small next to the image: the digit stays near its place.
      EXPECT_NEAR(m.x, 13.5, 4.0) << alpha;
      EXPECT_NEAR(m.y, 13.5, 4.0) << alpha;
      for (size_t i = 0; i < out.size(); ++i) total += std::abs(out[i] - img[i]);
    }
    return total / 50;
  };
  const double none = distortion(0), weak = distortion(8), strong = distortion(34);
  EXPECT_EQ(none, 0.0);
  EXPECT_GT(weak, 0.0);
  EXPECT_GT(strong, 2 * weak);
}

// `n` flat 28x28 images, image i all of value 10 + 10 i, labelled i % 10.
RawSplit flat_images(int n) {
  RawSplit s;
  s.images.dims = {uint32_t(n), kH, kW};
  s.labels.dims = {uint32_t(n)};
  for (int i = 0; i < n; ++i) {
    s.images.data.insert(s.images.data.end(), size_t(kH * kW), uint8_t(10 + 10 * i));
    s.labels.data.push_back(uint8_t(i % 10));
  }
  return s;
}

TEST(PreviewMosaic, SizeDistinctImagesAndALabelUnderEach) {
  const RawSplit split = flat_images(20);
  const std::vector<std::string> names = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
  const GrayImage m = preview_mosaic(split, names, 4, 3, 7);
  EXPECT_EQ(m.width, 4 * (56 + 6) + 6);
  EXPECT_EQ(m.height, 3 * (56 + 20 + 6) + 6);
  std::vector<int> seen;
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 4; ++c) {
      const int x = 6 + c * 62, y = 6 + r * 82;
      const int value = m.pixels[size_t((y + 28) * m.width + x + 28)];
      EXPECT_EQ((value - 10) % 10, 0) << "cell " << c << "," << r << " holds no image";
      seen.push_back(value);
      // The label strip holds white digit strokes, and the digit is the image's label.
      int lit = 0;
      for (int yy = y + 56; yy < y + 76; ++yy) {
        for (int xx = x; xx < x + 56; ++xx) lit += m.pixels[size_t(yy * m.width + xx)] == 255;
      }
      EXPECT_GT(lit, 10) << "no label under cell " << c << "," << r;
      GrayImage expected(56, 20, 112);
      draw_text(expected, (56 - 10) / 2, 3, std::to_string(((value - 10) / 10) % 10), 2, 255);
      int expected_lit = 0;
      for (uint8_t p : expected.pixels) expected_lit += p == 255;
      EXPECT_EQ(lit, expected_lit) << "cell " << c << "," << r;
    }
  }
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(std::unique(seen.begin(), seen.end()), seen.end()) << "an image appears twice";
  // The same seed picks the same images; another seed others.
  EXPECT_EQ(preview_mosaic(split, names, 4, 3, 7).pixels, m.pixels);
  EXPECT_NE(preview_mosaic(split, names, 4, 3, 8).pixels, m.pixels);
}

TEST(PreviewMosaic, FewerImagesThanCellsShowsEachOnceAndOddNamesByIndex) {
  const RawSplit split = flat_images(5);
  const GrayImage m =
      preview_mosaic(split, {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}, 3, 3, 1);
  int filled = 0, labelled = 0;
  for (int i = 0; i < 9; ++i) {
    const int x = 6 + (i % 3) * 62, y = 6 + (i / 3) * 82;
    filled += m.pixels[size_t((y + 28) * m.width + x + 28)] != 112;
    int lit = 0;
    for (int yy = y + 56; yy < y + 76; ++yy) {
      for (int xx = x; xx < x + 56; ++xx) lit += m.pixels[size_t(yy * m.width + xx)] == 255;
    }
    labelled += lit > 0;  // names the font cannot draw fall back to the class index
  }
  EXPECT_EQ(filled, 5);
  EXPECT_EQ(labelled, 5);
}

TEST(PreviewMosaic, GridIsColumnsByRows) {
  EXPECT_EQ(parse_grid("8x8"), std::make_pair(8, 8));
  EXPECT_EQ(parse_grid("12x3"), std::make_pair(12, 3));
  for (const char* bad : {"", "8", "0x4", "65x1", "8x", "x8", "8x8x8", "-1x4", "ax4"}) {
    EXPECT_THROW(parse_grid(bad), core::UsageError) << bad;
  }
}

}  // namespace
}  // namespace digitlab::data
