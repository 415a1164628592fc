// Reading whole numbers in photos and scans: ink, ruled lines and boxes, digits, lines and
// numbers, touching digits split where a classifier reads them best. No torch: the classifier
// is a function.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/digit_prep.h"
#include "data/image_io.h"

namespace digitlab::read {

using data::GrayImage;
using data::PixelBox;

// The ink of an image as the reader sees it: contrast above the local paper level (ink bright,
// 0 on paper), and the ink pixels with ruled lines and box sides taken out.
struct InkMap {
  int width = 0, height = 0;
  std::vector<uint8_t> contrast;
  std::vector<uint8_t> ink;  // 1 = ink
  double stroke = 0;         // typical stroke width, px
  std::string reason;        // why there is no ink ("" when there is)
  // The map is the image sheared upright: map x = image x - shear * (y - image height / 2) +
  // offset, so that slanted writing splits at vertical cuts.
  double shear = 0, offset = 0;
  double image_x(double x, double y) const { return x - offset + shear * (y - height / 2.0); }
};

// Requires a consistent image (otherwise core::RuntimeError). Paper level from a grid of local
// percentiles (uneven light), polarity from which side of it holds more contrast (unless forced),
// a threshold relative to the ink's peak and the noise; then pixels of long thin horizontal and
// vertical runs (ruled lines, form boxes) are removed, keeping where a stroke crosses them; last,
// the map is sheared by the slant (up to about 24 degrees) that makes its strokes most upright.
InkMap find_ink(const GrayImage& image, data::InkPolarity polarity = data::InkPolarity::kAuto);

// A digit candidate: one or more 8-connected pieces of ink that stand over each other.
struct Blob {
  PixelBox box;
  std::vector<int> pixels;  // indices into the ink map
};

// Blobs grouped into text lines, top to bottom, each line left to right; specks and dust
// dropped. Empty when the map has no ink.
std::vector<std::vector<Blob>> find_lines(const InkMap& map);

// For each 28x28 MNIST-style image (ink bright on 0, centred), its probabilities, one per class.
// Called with many images at once, so that a model can read them in one batch.
using DigitClassifier =
    std::function<std::vector<std::vector<double>>(const std::vector<GrayImage>& digits28)>;

// A class of this name in a model's classes means "no digit": pieces the reader should not
// read as one (halves, pairs, dust). Models of the mnist-pieces data set have it.
constexpr const char* kRejectClass = "none";

struct ReadOptions {
  double min_confidence = 0.6;  // a digit read with less is marked uncertain ('?' in the text)
  data::InkPolarity polarity = data::InkPolarity::kAuto;
};

struct ReadDigit {
  std::string label;
  double confidence = 0;
  PixelBox box;
  bool uncertain = false;
};

struct ReadNumber {
  std::string text;  // labels, '?' for an uncertain digit
  PixelBox box;
  std::vector<ReadDigit> digits;
};

struct Reading {
  std::string text;  // the numbers' texts joined by a space
  std::vector<ReadNumber> numbers;
  std::string reason;  // why nothing was read ("" when something was)
};

// Finds the numbers of `image` and reads each digit with `classify` over `class_names`. A gap
// wider than about one digit height separates numbers on a line. A blob wider than one digit is
// split at the columns where the pieces read best (at most 4 pieces). Requires a classifier
// returning class_names.size() probabilities. Never throws for image content; a blank image
// gives no numbers and a reason.
Reading read_numbers(const GrayImage& image, const DigitClassifier& classify,
                     const std::vector<std::string>& class_names, const ReadOptions& options = {});

// What the reader shows a reader model (one with a kRejectClass class), for making its training
// data (read/piece_set.h): for every blob of the image the whole blob, and for blobs wide enough
// to hold two digits every piece a split would try; each with its box in the image and its 28x28
// image, framed at the line's scale (the line's digits 20 pixels tall, the piece's centre of
// mass at the centre) with the ink around the piece drawn faint. A model without that class is
// shown pieces framed as MNIST was (the longer side 20 pixels, nothing around).
struct CandidatePiece {
  PixelBox box;
  GrayImage digit;
  bool whole = false;
};
std::vector<CandidatePiece> candidate_pieces(const GrayImage& image);

// A number as a line model sees it: the ink of its blobs only (contrast on 0; other numbers' and
// lines' ink left out), scaled so that the line's digits are kLineDigitHeight pixels tall (less
// when the number is too tall for the image), its box centred in an image kLineHeight pixels
// tall with kLineMargin pixels left and right, and stretched to a peak of 255.
// Image x = (map x - box.x) * scale + kLineMargin.
// A number wider than kMaxLineWidth at that scale is drawn smaller, to fit.
constexpr int kLineHeight = 32, kLineDigitHeight = 20, kLineMargin = 4, kMaxLineWidth = 2048;
struct NumberLine {
  GrayImage image;
  PixelBox box;       // the number's ink in the (sheared) map
  double scale = 1;   // image pixels per map pixel
  double height = 1;  // the line's digit height in map pixels
  std::vector<Blob> blobs;
};

// The numbers of a map, top to bottom and left to right: its lines (find_lines), each cut into
// numbers where a gap between blobs is wider than 0.9 of the line's digit height.
std::vector<NumberLine> number_lines(const InkMap& map);

// A line model (models::LineNet behind a function): for each number image (NumberLine::image,
// kLineHeight tall, any width), one entry per frame of kLineFrame columns (frame t covers columns
// [t * kLineFrame, (t + 1) * kLineFrame)), each the probabilities of the digits 0-9 and, last, of
// "no digit here" (CTC's blank). Called with all of an image's numbers at once.
constexpr int kLineFrame = 4;
constexpr int kLineClasses = 11;
using LineFrames = std::vector<std::vector<float>>;
using LineRecognizer = std::function<std::vector<LineFrames>(const std::vector<GrayImage>& lines)>;

// A digit of a greedy CTC reading: the frames [first, last] where its label was the likeliest,
// and its confidence, the highest probability the label had there among the digits (the
// blank's share left out).
struct FrameDigit {
  int label = 0;
  double confidence = 0;
  int first = 0, last = 0;
};

// The best class of each frame, repeats merged and blanks dropped. Requires frames of
// kLineClasses probabilities (otherwise core::RuntimeError).
std::vector<FrameDigit> decode_frames(const LineFrames& frames);

// Finds the numbers of `image` as read_numbers does and reads each whole with `recognize`: no
// cuts, so digits that touch or overlap need no split. A digit's box is its number's ink between
// the midpoints to its neighbours' frames. Never throws for image content.
Reading read_lines(const GrayImage& image, const LineRecognizer& recognize,
                   const ReadOptions& options = {});

// How a command reads numbers: read_numbers with a classifier, or read_lines with a line model.
using NumberReader = std::function<Reading(const GrayImage& image, const ReadOptions& options)>;

// Levenshtein distance between a number's true digits and a reading of it; with `errors`, the
// substitutions, deletions and insertions of one best alignment ("3>8", "3>-", "->1") are
// counted into it. How `bench --what read` and the line reader's validation score readings.
int edit_distance(const std::string& truth, const std::string& read,
                  std::map<std::string, int>* errors = nullptr);

// {"text", "numbers": [{"text", "box": [x0, y0, x1, y1], "digits": [{"label", "confidence",
// "box", "uncertain"}]}]} plus "reason" when nothing was read; boxes end exclusive.
nlohmann::json to_json(const Reading& reading);

}  // namespace digitlab::read
