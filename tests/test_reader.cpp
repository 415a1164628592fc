// Reading numbers: ink, lines and boxes, splitting and grouping on pages the tests draw (rings
// for 0, bars for 1) with a stand-in classifier that tells a ring from a bar; and the number
// renderer.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "core/error.h"
#include "data/font_digits.h"
#include "data/number_render.h"
#include "read/line_set.h"
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

// 20 drawn digits, 0s and 1s in turn, as a data set split.
data::RawSplit zeros_and_ones() {
  const auto zero = mnist_digit(false), one = mnist_digit(true);
  data::RawSplit digits;
  digits.images.dims = {20, 28, 28};
  digits.labels.dims = {20};
  for (int i = 0; i < 20; ++i) {
    const auto& d = i % 2 ? one : zero;
    digits.images.data.insert(digits.images.data.end(), d.begin(), d.end());
    digits.labels.data.push_back(uint8_t(i % 2));
  }
  return digits;
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
  const data::RawSplit digits = zeros_and_ones();
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

// A stand-in line model: each run of ink columns of a line image is a digit, a ring (0) when it
// is wider than half the line's digit height, else a bar (1), emitted at the frame of its centre
// with `confidence`; every other frame is blank.
std::vector<LineFrames> runs_as_digits(const std::vector<GrayImage>& lines, double confidence) {
  std::vector<LineFrames> out;
  for (const GrayImage& l : lines) {
    EXPECT_EQ(l.height, kLineHeight);
    const int frames = (l.width + kLineFrame - 1) / kLineFrame;
    LineFrames f(size_t(frames), std::vector<float>(kLineClasses, 0.f));
    for (auto& p : f) p[kLineClasses - 1] = 1.f;
    auto inked = [&](int x) {
      for (int y = 0; y < l.height; ++y) {
        if (l.pixels[size_t(y) * size_t(l.width) + size_t(x)] > 64) return true;
      }
      return false;
    };
    for (int x = 0; x < l.width;) {
      if (!inked(x)) {
        ++x;
        continue;
      }
      const int start = x;
      while (x < l.width && inked(x)) ++x;
      const int label = x - start > kLineDigitHeight / 2 ? 0 : 1;
      auto& p = f[size_t((start + x) / 2 / kLineFrame)];
      std::fill(p.begin(), p.end(), float((1 - confidence) / (kLineClasses - 1)));
      p[size_t(label)] = float(confidence);
    }
    out.push_back(std::move(f));
  }
  return out;
}

TEST(LineReader, DecodingMergesRepeatsAndDropsBlanks) {
  auto frame = [](int best, float p) {
    std::vector<float> f(kLineClasses, (1 - p) / (kLineClasses - 1));
    f[size_t(best)] = p;
    return f;
  };
  constexpr int kBlank = kLineClasses - 1;
  const LineFrames frames = {frame(kBlank, .9f), frame(1, .7f), frame(1, .95f),
                             frame(kBlank, .9f), frame(1, .8f), frame(7, .6f),
                             frame(kBlank, .9f)};
  const std::vector<FrameDigit> d = decode_frames(frames);
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d[0].label, 1);
  EXPECT_EQ(d[0].first, 1);
  EXPECT_EQ(d[0].last, 2);
  // The best frame of the two, among the digits: 0.95 of the 0.995 that is not blank.
  EXPECT_NEAR(d[0].confidence, 0.95 / 0.995, 1e-5);
  EXPECT_EQ(d[1].label, 1);  // a blank between them: two 1s
  EXPECT_EQ(d[2].label, 7);
  EXPECT_EQ(d[2].first, 5);
  EXPECT_TRUE(decode_frames({}).empty());
  EXPECT_THROW(decode_frames({std::vector<float>(3, 0.f)}), core::Error);
}

TEST(LineReader, NumbersAreFramedAtTheLinesScale) {
  Page p(600, 260);
  p.ring(80, 70, 30, 7);  // a number of two digits, 61 pixels tall
  p.bar(140, 70, 30, 7);
  p.ring(400, 70, 30, 7);  // another, far to the right on the same line
  p.bar(100, 190, 30, 7);  // a line below
  const InkMap m = find_ink(p.render());
  ASSERT_TRUE(m.reason.empty()) << m.reason;
  const std::vector<NumberLine> lines = number_lines(m);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_LT(lines[0].box.x, lines[1].box.x);
  EXPECT_GT(lines[2].box.y, lines[0].box.y + lines[0].box.height);
  for (const NumberLine& n : lines) {
    EXPECT_EQ(n.image.height, kLineHeight);
    EXPECT_NEAR(n.box.height * n.scale, kLineDigitHeight, 1.5);
    EXPECT_NEAR(n.image.width, n.box.width * n.scale + 2 * kLineMargin, 1.5);
    EXPECT_EQ(*std::max_element(n.image.pixels.begin(), n.image.pixels.end()), 255);
  }
  // A number too tall for the image at that scale (digits of very different sizes) still fits.
  Page tall(300, 200);
  tall.bar(80, 100, 20, 6);
  tall.bar(120, 100, 20, 6);
  tall.ring(160, 100, 80, 8);
  const std::vector<NumberLine> t = number_lines(find_ink(tall.render()));
  ASSERT_EQ(t.size(), 1u);
  EXPECT_LE(t[0].box.height * t[0].scale, kLineHeight - 4 + 1e-9);
}

TEST(LineReader, ReadsEachNumberWithItsDigitsBoxes) {
  Page p(600, 260);
  p.bar(60, 70, 30, 7);
  p.ring(120, 70, 30, 7);
  p.ring(190, 70, 30, 7);
  p.bar(430, 70, 30, 7);    // a second field on the line
  p.ring(100, 190, 30, 7);  // and a number on the next line
  p.bar(160, 190, 30, 7);
  const Reading r = read_lines(p.render(), [](const auto& l) { return runs_as_digits(l, 0.97); });
  EXPECT_EQ(r.text, "100 1 01") << r.reason;
  ASSERT_EQ(r.numbers.size(), 3u);
  ASSERT_EQ(r.numbers[0].digits.size(), 3u);
  const double centres[] = {60, 120, 190};
  for (size_t k = 0; k < 3; ++k) {
    const PixelBox& b = r.numbers[0].digits[k].box;
    EXPECT_NEAR(b.x + b.width / 2.0, centres[k], 3) << k;
    EXPECT_NEAR(b.height, 61, 3) << k;
    EXPECT_FALSE(r.numbers[0].digits[k].uncertain);
  }
  EXPECT_NEAR(r.numbers[0].box.x, 56, 3);
  EXPECT_NEAR(r.numbers[0].box.x + r.numbers[0].box.width, 212, 3);
  EXPECT_NEAR(r.numbers[2].box.y, 160, 3);
}

TEST(LineReader, BlankPagesUnsureDigitsAndLargePhotosSaySo) {
  const auto digits = [](const auto& l) { return runs_as_digits(l, 0.97); };
  const Reading blank = read_lines(Page(300, 100).render(), digits);
  EXPECT_TRUE(blank.numbers.empty());
  EXPECT_FALSE(blank.reason.empty());
  Page p(300, 100);
  p.ring(100, 50, 28, 6);
  p.bar(160, 50, 28, 6);
  const Reading unsure =
      read_lines(p.render(), [](const auto& l) { return runs_as_digits(l, 0.5); });
  EXPECT_EQ(unsure.text, "??");
  ASSERT_EQ(unsure.numbers.size(), 1u);
  EXPECT_TRUE(unsure.numbers[0].digits[0].uncertain);
  EXPECT_EQ(unsure.numbers[0].digits[0].label, "0");  // the best guess is still given
  // Nothing but blanks: no number, and a reason.
  const Reading none = read_lines(p.render(), [](const std::vector<GrayImage>& l) {
    std::vector<LineFrames> out;
    for (const GrayImage& g : l) {
      LineFrames f(size_t(g.width / kLineFrame), std::vector<float>(kLineClasses, 0.f));
      for (auto& v : f) v[kLineClasses - 1] = 1.f;
      out.push_back(f);
    }
    return out;
  });
  EXPECT_TRUE(none.numbers.empty());
  EXPECT_EQ(none.reason, "no digits found");
  // A photo larger than the reader's working size: boxes in the photo's own pixels.
  Page big(2400, 600);
  big.ring(800, 300, 120, 28);
  big.bar(1100, 300, 120, 28);
  const Reading photo = read_lines(big.render(), digits);
  EXPECT_EQ(photo.text, "01");
  ASSERT_EQ(photo.numbers.size(), 1u);
  EXPECT_NEAR(photo.numbers[0].digits[1].box.x + photo.numbers[0].digits[1].box.width / 2.0, 1100,
              8);
}

// mnist-lines from hand-drawn 0s and 1s: one line image per number, left-aligned, labelled with
// its digits, the same on every run.
TEST(LineSet, NumbersAreFramedAndLabelled) {
  const data::RawSplit digits = zeros_and_ones();
  data::IdxArray images, labels, again_images, again_labels;
  const int skipped = make_line_split(digits, 40, 5, 0.3, true, images, labels);
  make_line_split(digits, 40, 5, 0.3, true, again_images, again_labels);
  EXPECT_EQ(images.data, again_images.data);
  EXPECT_EQ(labels.data, again_labels.data);
  EXPECT_LE(skipped, 4);
  ASSERT_EQ(labels.count() + size_t(skipped), 40u);
  EXPECT_EQ(images.dims, (std::vector<uint32_t>{uint32_t(labels.count()), uint32_t(kLineHeight),
                                                uint32_t(kLineWidth)}));
  EXPECT_EQ(labels.dims,
            (std::vector<uint32_t>{uint32_t(labels.count()), uint32_t(kLineMaxDigits)}));
  size_t shortest = 99, longest = 0;
  for (size_t i = 0; i < labels.count(); ++i) {
    const uint8_t* row = labels.data.data() + i * kLineMaxDigits;
    size_t n = 0;
    while (n < size_t(kLineMaxDigits) && row[n] != kLinePad) {
      ASSERT_LE(row[n], 1) << i;
      ++n;
    }
    shortest = std::min(shortest, n), longest = std::max(longest, n);
    const uint8_t* img = images.data.data() + i * size_t(kLineHeight * kLineWidth);
    int left = kLineWidth;
    for (int y = 0; y < kLineHeight; ++y) {
      for (int x = 0; x < kLineWidth; ++x) {
        if (img[y * kLineWidth + x]) left = std::min(left, x);
      }
    }
    EXPECT_NEAR(left, kLineMargin, 1) << i;  // left-aligned, with the margin
  }
  EXPECT_GE(shortest, 1u);
  EXPECT_LE(longest, 12u);
  EXPECT_GT(longest, 2u);
}

// The benchmark's and the line reader's score: distance, and one best alignment's errors.
TEST(EditDistance, CountsSubstitutionsDeletionsAndInsertions) {
  EXPECT_EQ(edit_distance("90210", "90210"), 0);
  EXPECT_EQ(edit_distance("", "12"), 2);
  std::map<std::string, int> errors;
  EXPECT_EQ(edit_distance("1234", "1834", &errors), 1);
  EXPECT_EQ(edit_distance("1234", "134", &errors), 1);
  EXPECT_EQ(edit_distance("1234", "11234", &errors), 1);
  EXPECT_EQ(errors, (std::map<std::string, int>{{"2>8", 1}, {"2>-", 1}, {"->1", 1}}));
}

}  // namespace
}  // namespace digitlab::read
