// Reading numbers: ink, lines and boxes, splitting and grouping on pages the tests draw (rings
// for 0, bars for 1) with a stand-in classifier that tells a ring from a bar; and the number
// renderer.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "data/font_digits.h"
#include "data/number_render.h"
#include "read/piece_set.h"
#include "read/reader.h"

namespace digitlab::read {
namespace {

// Ink coverage 0..1 per pixel, turned into a page at the end.
struct Page {
  int w, h;
  std::vector<float> ink;
  Page(int width, int height) : w(width), h(height), ink(size_t(width) * size_t(height), 0.f) {}
  void put(int x, int y) {
    if (x >= 0 && y >= 0 && x < w && y < h) ink[size_t(y) * size_t(w) + size_t(x)] = 1.f;
  }
  // A 0: an ellipse ring of half-height r, stroke t, centred at (cx, cy).
  void ring(double cx, double cy, double r, double t) {
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) {
        const double d = std::hypot((x - cx) / 0.7, y - cy);
        if (d <= r && d >= r - t) put(x, y);
      }
    }
  }
  // A 1: a bar of height 2r, stroke t, centred at (cx, cy).
  void bar(double cx, double cy, double r, double t) {
    for (int y = int(cy - r); y <= int(cy + r); ++y) {
      for (int x = int(cx - t / 2); x < int(cx + t / 2); ++x) put(x, y);
    }
  }
  void rect(int x0, int y0, int x1, int y1) {
    for (int y = y0; y <= y1; ++y) {
      for (int x = x0; x <= x1; ++x) put(x, y);
    }
  }
  // Dark ink on paper with light falling off from left to right, or chalk on a board.
  GrayImage render(bool chalk = false) const {
    GrayImage img(w, h, 0);
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) {
        const double paper = chalk ? 40 : 210 - 50.0 * x / w;
        const double ink_level = chalk ? 220 : 40;
        const double v = paper + (ink_level - paper) * ink[size_t(y) * size_t(w) + size_t(x)] +
                         3 * std::sin(x * 12.9898 + y * 78.233);  // faint texture
        img.at(x, y) = uint8_t(std::clamp(std::lround(v), 0L, 255L));
      }
    }
    return img;
  }
};

// A bar: nearly all ink in the middle columns, from top to bottom. A ring: ink at its four
// compass points, none at the centre, as much left as right and top as bottom. Anything else
// (half a ring, the arcs between two rings, a ring and a bar) is read with little confidence,
// as a real classifier would.
std::vector<double> ring_or_bar(const GrayImage& d, double confidence = 0.99) {
  auto sum = [&](int x0, int x1, int y0, int y1) {
    double s = 0;
    for (int y = y0; y <= y1; ++y) {
      for (int x = x0; x <= x1; ++x) s += d.pixels[size_t(y) * 28 + size_t(x)];
    }
    return s;
  };
  const double total = sum(0, 27, 0, 27);
  const double left = sum(0, 11, 0, 27), right = sum(16, 27, 0, 27);
  const double top = sum(0, 27, 0, 11), bottom = sum(0, 27, 16, 27);
  const bool bar = sum(11, 16, 0, 27) > 0.85 * total && sum(11, 16, 12, 15) > 0.05 * total &&
                   top > 0.2 * total && bottom > 0.2 * total;
  const double point = 0.02 * total;
  const bool ring = sum(12, 15, 12, 15) < 0.01 * total && sum(11, 16, 0, 8) > point &&
                    sum(11, 16, 19, 27) > point && sum(0, 8, 11, 16) > point &&
                    sum(19, 27, 11, 16) > point &&
                    std::min(left, right) > 0.6 * std::max(left, right) &&
                    std::min(top, bottom) > 0.6 * std::max(top, bottom);
  const double c = bar || ring ? confidence : 0.5;
  return {ring ? c : 1 - c, ring ? 1 - c : c};
}

const std::vector<std::string> kNames = {"0", "1"};

Reading read(const GrayImage& img, double confidence = 0.99) {
  const DigitClassifier classify = [&](const std::vector<GrayImage>& digits) {
    std::vector<std::vector<double>> out;
    for (const GrayImage& d : digits) out.push_back(ring_or_bar(d, confidence));
    return out;
  };
  return read_numbers(img, classify, kNames);
}

TEST(Reader, SeparateDigitsOnAnUnevenPageReadInOrderWithTheirBoxes) {
  Page p(400, 120);
  p.bar(60, 60, 30, 7);
  p.ring(120, 60, 30, 7);
  p.ring(190, 60, 30, 7);
  p.bar(250, 60, 30, 7);
  const Reading r = read(p.render());
  EXPECT_EQ(r.text, "1001") << r.reason;
  ASSERT_EQ(r.numbers.size(), 1u);
  ASSERT_EQ(r.numbers[0].digits.size(), 4u);
  const PixelBox& second = r.numbers[0].digits[1].box;
  EXPECT_NEAR(second.x + second.width / 2.0, 120, 3);
  EXPECT_NEAR(second.height, 61, 3);
  EXPECT_FALSE(r.numbers[0].digits[0].uncertain);
}

// Overlapping digits, which need cuts that no column can make cleanly, are measured with a
// real classifier by `bench --what read` (docs/reading.md).
TEST(Reader, TouchingDigitsAreSplit) {
  Page p(400, 120);
  p.ring(100, 60, 30, 7);
  p.ring(141, 60, 30, 7);  // touches its neighbour
  p.ring(190, 62, 30, 7);
  p.ring(231, 62, 30, 7);  // and so does this one
  p.bar(262, 60, 30, 7);
  const Reading r = read(p.render());
  EXPECT_EQ(r.text, "00001");
}

TEST(Reader, RuledLinesAndFormBoxesAreNotInk) {
  Page line(400, 120);
  line.bar(100, 55, 30, 7);
  line.ring(160, 55, 30, 7);
  line.bar(220, 55, 30, 7);
  line.rect(40, 84, 330, 85);  // a ruled line touching the digits' feet
  EXPECT_EQ(read(line.render()).text, "101");
  Page box(400, 140);
  box.ring(150, 70, 30, 7);
  box.bar(210, 70, 30, 7);
  box.rect(90, 25, 290, 26);
  box.rect(90, 114, 290, 115);
  box.rect(90, 25, 91, 115);
  box.rect(289, 25, 290, 115);
  EXPECT_EQ(read(box.render()).text, "01");
}

// A box drawn with a thin pen, broken by noise, barely taller than the thick digits inside it.
TEST(Reader, AThinBrokenBoxAroundThickDigitsIsNotInk) {
  Page box(400, 130);
  box.ring(170, 65, 42, 14);
  box.bar(240, 65, 42, 14);
  for (int x = 110; x <= 290; x += 12) {  // sides of 2 pixels, a gap every 12
    box.rect(x, 12, std::min(x + 9, 290), 13);
    box.rect(x, 117, std::min(x + 9, 290), 118);
  }
  for (int y = 12; y <= 118; y += 12) {
    box.rect(110, y, 111, std::min(y + 9, 118));
    box.rect(289, y, 290, std::min(y + 9, 118));
  }
  EXPECT_EQ(read(box.render()).text, "01");
}

// A 5's bar drawn apart from its body, reaching past it to the right, is part of the digit.
TEST(Reader, ADetachedBarJoinsItsDigit) {
  Page p(300, 120);
  p.ring(100, 70, 30, 7);
  p.rect(105, 20, 150, 26);  // overlaps the ring's columns by a third of its width
  p.bar(220, 60, 35, 7);
  const InkMap m = find_ink(p.render());
  const auto lines = find_lines(m);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].size(), 2u);
}

// A model with a "none" class sees each piece at the line's scale, the ink around it faint; a
// 10-class model sees every piece as MNIST framed it, its longer side 20 pixels.
TEST(Reader, AReaderModelSeesPiecesAtTheLinesScale) {
  Page p(400, 120);
  p.ring(100, 60, 30, 7);
  p.bar(160, 60, 30, 7);
  p.ring(210, 78, 12, 5);  // a small mark at the foot of the line, a third as tall
  p.ring(260, 60, 30, 7);
  auto ink_height = [](const GrayImage& d) {
    int y0 = 28, y1 = -1;
    for (int y = 0; y < 28; ++y) {
      for (int x = 0; x < 28; ++x) {
        if (d.pixels[size_t(y) * 28 + size_t(x)] > 128) y0 = std::min(y0, y), y1 = std::max(y1, y);
      }
    }
    return y1 - y0 + 1;
  };
  for (const bool reader_model : {false, true}) {
    std::vector<int> heights;
    const DigitClassifier classify = [&](const std::vector<GrayImage>& digits) {
      std::vector<std::vector<double>> out;
      for (const GrayImage& d : digits) {
        heights.push_back(ink_height(d));
        std::vector<double> q = ring_or_bar(d);
        if (reader_model) q.push_back(0.001);
        out.push_back(q);
      }
      return out;
    };
    const std::vector<std::string> names =
        reader_model ? std::vector<std::string>{"0", "1", kRejectClass} : kNames;
    read_numbers(p.render(), classify, names);
    ASSERT_GE(heights.size(), 4u);
    std::sort(heights.begin(), heights.end());
    if (reader_model) {
      EXPECT_NEAR(heights[0], 20.0 / 3, 2);  // the mark keeps its size
      EXPECT_NEAR(heights.back(), 20, 2);
    } else {
      EXPECT_NEAR(heights[0], 20, 2);  // the mark is blown up to a digit's size
    }
  }
}

TEST(Reader, NumbersOnSeveralLinesAndFieldsAreSeparated) {
  Page p(500, 260);
  p.bar(60, 60, 30, 7);
  p.ring(110, 60, 30, 7);
  p.ring(350, 60, 30, 7);  // a second field on the same line
  p.ring(80, 190, 30, 7);
  p.bar(135, 190, 30, 7);
  p.bar(175, 190, 30, 7);
  const Reading r = read(p.render());
  EXPECT_EQ(r.text, "10 0 011");
  ASSERT_EQ(r.numbers.size(), 3u);
  EXPECT_LT(r.numbers[0].box.y + r.numbers[0].box.height, r.numbers[2].box.y);
}

TEST(Reader, ChalkOnABoardReadsTheSame) {
  Page p(300, 100);
  p.ring(100, 50, 28, 6);
  p.bar(160, 50, 28, 6);
  EXPECT_EQ(read(p.render(true)).text, "01");
}

TEST(Reader, BlankPagesAndUnsureDigitsSaySo) {
  const Reading blank = read(Page(300, 100).render());
  EXPECT_TRUE(blank.numbers.empty());
  EXPECT_EQ(blank.text, "");
  EXPECT_FALSE(blank.reason.empty());
  Page p(300, 100);
  p.ring(100, 50, 28, 6);
  const Reading unsure = read(p.render(), 0.55);
  EXPECT_EQ(unsure.text, "?");
  ASSERT_EQ(unsure.numbers.size(), 1u);
  EXPECT_TRUE(unsure.numbers[0].digits[0].uncertain);
  EXPECT_EQ(unsure.numbers[0].digits[0].label, "0");  // the best guess is still given
}

// 28x28 MNIST-style digits drawn by hand: a ring (0) and a bar (1), ink bright.
std::vector<uint8_t> mnist_digit(bool bar) {
  std::vector<uint8_t> d(784, 0);
  for (int y = 0; y < 28; ++y) {
    for (int x = 0; x < 28; ++x) {
      const double r = std::hypot((x - 13.5) / 0.7, y - 13.5);
      const bool on = bar ? (x >= 12 && x <= 15 && y >= 4 && y <= 23) : (r <= 10 && r >= 7);
      d[size_t(y) * 28 + size_t(x)] = on ? 255 : 0;
    }
  }
  return d;
}

TEST(NumberRender, DeterministicWithBoxesOnTheInkAndReadable) {
  const auto zero = mnist_digit(false), one = mnist_digit(true);
  const std::vector<const uint8_t*> digits = {one.data(), zero.data(), zero.data(), one.data()};
  data::NumberStyle style;
  style.gap_lo = 0.15;  // apart: this reader has no real classifier to split with
  style.line_prob = style.box_prob = 0;
  style.slant = 0;
  const data::RenderedNumber a = data::render_number(digits, "1001", style, 7);
  const data::RenderedNumber b = data::render_number(digits, "1001", style, 7);
  EXPECT_EQ(a.image.pixels, b.image.pixels);
  EXPECT_NE(a.image.pixels, data::render_number(digits, "1001", style, 8).image.pixels);
  ASSERT_EQ(a.boxes.size(), 4u);
  EXPECT_EQ(a.text, "1001");
  for (size_t i = 0; i + 1 < a.boxes.size(); ++i) EXPECT_LT(a.boxes[i].x, a.boxes[i + 1].x);
  for (const auto& box : a.boxes) {
    EXPECT_GE(box.x, 0);
    EXPECT_LE(box.x + box.width, style.width);
    EXPECT_GT(box.height, 0.25 * style.height);
  }
  EXPECT_EQ(read(a.image).text, "1001");
}

// Every digit of a font, in several versions, framed as MNIST was (fonts-dejavu-core is
// installed by scripts/setup).
TEST(FontDigits, EveryDigitOfAFontFramedAsMnist) {
  const std::string font = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
  const data::RawSplit split = data::font_digit_split({font}, 3, 7);
  ASSERT_EQ(split.images.count(), 30u);
  ASSERT_EQ(split.labels.count(), 30u);
  for (size_t i = 0; i < 30; ++i) {
    EXPECT_EQ(split.labels.data[i], i / 3);
    const uint8_t* d = split.images.data.data() + i * 784;
    double mass = 0, mx = 0, my = 0;
    int x0 = 28, x1 = -1, y0 = 28, y1 = -1;
    for (int y = 0; y < 28; ++y) {
      for (int x = 0; x < 28; ++x) {
        const double v = d[y * 28 + x];
        mass += v, mx += v * (x + 0.5), my += v * (y + 0.5);
        if (v > 0)
          x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
      }
    }
    ASSERT_GT(mass, 0) << i;
    EXPECT_NEAR(mx / mass, 14, 1.5) << i;
    EXPECT_NEAR(my / mass, 14, 1.5) << i;
    EXPECT_NEAR(std::max(x1 - x0, y1 - y0) + 1, 20, 2) << i;
  }
  // Versions differ (weight, slant); the same seed draws the same ones.
  EXPECT_NE(
      std::vector<uint8_t>(split.images.data.begin(), split.images.data.begin() + 784),
      std::vector<uint8_t>(split.images.data.begin() + 784, split.images.data.begin() + 2 * 784));
  EXPECT_EQ(data::font_digit_split({font}, 3, 7).images.data, split.images.data);
  EXPECT_THROW(data::font_digit_split({"/nonexistent.ttf"}, 1, 1), core::Error);
}

// mnist-pieces from hand-drawn 0s and 1s: every piece is a 28x28 image labelled 0, 1 or none
// (10), whole digits are among them, and the set is the same on every run.
TEST(PieceSet, PiecesAreLabelledByTheDigitsTheyCover) {
  const auto zero = mnist_digit(false), one = mnist_digit(true);
  data::RawSplit digits;
  digits.images.dims = {20, 28, 28};
  digits.labels.dims = {20};
  for (int i = 0; i < 20; ++i) {
    const auto& d = i % 2 ? one : zero;
    digits.images.data.insert(digits.images.data.end(), d.begin(), d.end());
    digits.labels.data.push_back(uint8_t(i % 2));
  }
  data::IdxArray images, labels, again_images, again_labels;
  make_piece_split(digits, 30, 5, 0.5, images, labels);
  make_piece_split(digits, 30, 5, 0.5, again_images, again_labels);
  EXPECT_EQ(images.data, again_images.data);
  EXPECT_EQ(labels.data, again_labels.data);
  ASSERT_GT(labels.count(), 60u);  // at least the 30 numbers' 2-8 whole digits
  EXPECT_EQ(images.dims, (std::vector<uint32_t>{uint32_t(labels.count()), 28, 28}));
  std::vector<int> per_class(11, 0);
  for (uint8_t l : labels.data) {
    ASSERT_TRUE(l == 0 || l == 1 || l == 10) << int(l);
    ++per_class[l];
  }
  EXPECT_GT(per_class[0], 0);
  EXPECT_GT(per_class[1], 0);
  EXPECT_GT(per_class[10], 0);  // touching digits' splits try pieces that are no digit
}

}  // namespace
}  // namespace digitlab::read
