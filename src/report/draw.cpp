// SVG and RGB raster drawing surfaces, and the raster's 5x7 font.
#include "report/draw.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "report/html.h"

namespace digitlab::report {
namespace {

// 5x7 glyphs as 7 rows of 5 cells ('#' = ink). Written out as pictures so a wrong cell is easy to
// see in review; looked up once into a table by character code.
struct Glyph {
  char c;
  const char* rows[7];
};
constexpr Glyph kGlyphs[] = {
    {'0', {".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."}},
    {'1', {"..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."}},
    {'2', {".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"}},
    {'3', {"#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."}},
    {'4', {"...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."}},
    {'5', {"#####", "#....", "####.", "....#", "....#", "#...#", ".###."}},
    {'6', {"..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."}},
    {'7', {"#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."}},
    {'8', {".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."}},
    {'9', {".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."}},
    {'A', {".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"}},
    {'B', {"####.", "#...#", "#...#", "####.", "#...#", "#...#", "####."}},
    {'C', {".###.", "#...#", "#....", "#....", "#....", "#...#", ".###."}},
    {'D', {"###..", "#..#.", "#...#", "#...#", "#...#", "#..#.", "###.."}},
    {'E', {"#####", "#....", "#....", "####.", "#....", "#....", "#####"}},
    {'F', {"#####", "#....", "#....", "####.", "#....", "#....", "#...."}},
    {'G', {".###.", "#...#", "#....", "#.###", "#...#", "#...#", ".####"}},
    {'H', {"#...#", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"}},
    {'I', {".###.", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."}},
    {'J', {"..###", "...#.", "...#.", "...#.", "...#.", "#..#.", ".##.."}},
    {'K', {"#...#", "#..#.", "#.#..", "##...", "#.#..", "#..#.", "#...#"}},
    {'L', {"#....", "#....", "#....", "#....", "#....", "#....", "#####"}},
    {'M', {"#...#", "##.##", "#.#.#", "#.#.#", "#...#", "#...#", "#...#"}},
    {'N', {"#...#", "#...#", "##..#", "#.#.#", "#..##", "#...#", "#...#"}},
    {'O', {".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."}},
    {'P', {"####.", "#...#", "#...#", "####.", "#....", "#....", "#...."}},
    {'Q', {".###.", "#...#", "#...#", "#...#", "#.#.#", "#..#.", ".##.#"}},
    {'R', {"####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#"}},
    {'S', {".####", "#....", "#....", ".###.", "....#", "....#", "####."}},
    {'T', {"#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."}},
    {'U', {"#...#", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."}},
    {'V', {"#...#", "#...#", "#...#", "#...#", "#...#", ".#.#.", "..#.."}},
    {'W', {"#...#", "#...#", "#...#", "#.#.#", "#.#.#", "#.#.#", ".#.#."}},
    {'X', {"#...#", "#...#", ".#.#.", "..#..", ".#.#.", "#...#", "#...#"}},
    {'Y', {"#...#", "#...#", ".#.#.", "..#..", "..#..", "..#..", "..#.."}},
    {'Z', {"#####", "....#", "...#.", "..#..", ".#...", "#....", "#####"}},
    {'.', {".....", ".....", ".....", ".....", ".....", ".##..", ".##.."}},
    {',', {".....", ".....", ".....", ".....", ".##..", "..#..", ".#..."}},
    {'-', {".....", ".....", ".....", "#####", ".....", ".....", "....."}},
    {'%', {"##...", "##..#", "...#.", "..#..", ".#...", "#..##", "...##"}},
    {'(', {"...#.", "..#..", ".#...", ".#...", ".#...", "..#..", "...#."}},
    {')', {".#...", "..#..", "...#.", "...#.", "...#.", "..#..", ".#..."}},
    {':', {".....", ".##..", ".##..", ".....", ".##..", ".##..", "....."}},
    {'/', {".....", "....#", "...#.", "..#..", ".#...", "#....", "....."}},
    {'_', {".....", ".....", ".....", ".....", ".....", ".....", "#####"}},
    {'>', {".#...", "..#..", "...#.", "....#", "...#.", "..#..", ".#..."}},
    {'<', {"...#.", "..#..", ".#...", "#....", ".#...", "..#..", "...#."}},
    {'+', {".....", "..#..", "..#..", "#####", "..#..", "..#..", "....."}},
    {'=', {".....", ".....", "#####", ".....", "#####", ".....", "....."}},
    {'\'', {"..#..", "..#..", ".#...", ".....", ".....", ".....", "....."}},
    {'?', {".###.", "#...#", "....#", "...#.", "..#..", ".....", "..#.."}},
    {'!', {"..#..", "..#..", "..#..", "..#..", "..#..", ".....", "..#.."}},
    {'[', {".###.", ".#...", ".#...", ".#...", ".#...", ".#...", ".###."}},
    {']', {".###.", "...#.", "...#.", "...#.", "...#.", "...#.", ".###."}},
    {'*', {".....", "..#..", "#.#.#", ".###.", "#.#.#", "..#..", "....."}},
    {'#', {".#.#.", ".#.#.", "#####", ".#.#.", "#####", ".#.#.", ".#.#."}},
};

// Row bitmasks by character code (bit 4 = leftmost column); all-zero rows mean "no glyph".
struct Font {
  uint8_t rows[128][7] = {};
  bool present[128] = {};
  Font() {
    for (const Glyph& g : kGlyphs) {
      const auto c = static_cast<unsigned char>(g.c);
      present[c] = true;
      for (int r = 0; r < 7; ++r) {
        for (int k = 0; k < 5; ++k) {
          if (g.rows[r][k] == '#') rows[c][r] |= uint8_t(0x10 >> k);
        }
      }
    }
  }
};

const Font& font() {
  static const Font f;
  return f;
}

unsigned char fold(char c) {
  return static_cast<unsigned char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
}

int zoom_for(double size) { return std::max(1, int(std::lround(size / 6.0))); }

// One decimal at most, no trailing ".0": coordinates in SVG need no more.
std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", v);
  std::string s = buf;
  if (s.size() > 2 && s.compare(s.size() - 2, 2, ".0") == 0) s.resize(s.size() - 2);
  return s == "-0" ? "0" : s;
}

std::string title_element(const std::string& tooltip) {
  return tooltip.empty() ? "" : "<title>" + html_escape(tooltip) + "</title>";
}

}  // namespace

std::string hex_color(Rgb c) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "#%02x%02x%02x", c.r, c.g, c.b);
  return buf;
}

double luminance(Rgb c) { return (0.2126 * c.r + 0.7152 * c.g + 0.0722 * c.b) / 255.0; }

bool font_has_glyph(char c) {
  const unsigned char f = fold(c);
  return f < 128 && font().present[f];
}

// ---- SVG ----

void SvgCanvas::rect(double x, double y, double w, double h, Rgb fill, const std::string& tooltip) {
  body_ += "<rect x=\"" + num(x) + "\" y=\"" + num(y) + "\" width=\"" + num(w) + "\" height=\"" +
           num(h) + "\" fill=\"" + hex_color(fill) + "\"";
  body_ += tooltip.empty() ? "/>" : ">" + title_element(tooltip) + "</rect>";
}

void SvgCanvas::line(double x1, double y1, double x2, double y2, Rgb color, double width) {
  body_ += "<line x1=\"" + num(x1) + "\" y1=\"" + num(y1) + "\" x2=\"" + num(x2) + "\" y2=\"" +
           num(y2) + "\" stroke=\"" + hex_color(color) + "\" stroke-width=\"" + num(width) + "\"/>";
}

void SvgCanvas::polyline(const Points& points, Rgb color, double width,
                         const std::string& css_class) {
  std::string pts;
  for (const auto& [x, y] : points) {
    if (!pts.empty()) pts += ' ';
    pts += num(x) + "," + num(y);
  }
  body_ += "<polyline";
  if (!css_class.empty()) body_ += " class=\"" + html_escape(css_class) + "\"";
  body_ += " points=\"" + pts + "\" fill=\"none\" stroke=\"" + hex_color(color) +
           "\" stroke-width=\"" + num(width) + "\" stroke-linejoin=\"round\"/>";
}

void SvgCanvas::dot(double x, double y, double radius, Rgb color, const std::string& tooltip) {
  body_ += "<circle cx=\"" + num(x) + "\" cy=\"" + num(y) + "\" r=\"" + num(radius) + "\" fill=\"" +
           hex_color(color) + "\"";
  body_ += tooltip.empty() ? "/>" : ">" + title_element(tooltip) + "</circle>";
}

void SvgCanvas::text(double x, double y, const std::string& s, double size, Rgb color,
                     Anchor anchor, bool vertical) {
  const char* a = anchor == Anchor::kStart ? "start" : anchor == Anchor::kMiddle ? "middle" : "end";
  body_ += "<text x=\"" + num(x) + "\" y=\"" + num(y) + "\" font-size=\"" + num(size) +
           "\" fill=\"" + hex_color(color) + "\" text-anchor=\"" + a + "\" dy=\".35em\"";
  if (vertical) body_ += " transform=\"rotate(-90 " + num(x) + " " + num(y) + ")\"";
  body_ += ">" + html_escape(s) + "</text>";
}

double SvgCanvas::text_width(const std::string& s, double size) const {
  // Average advance of sans-serif digits and letters is a little over half the em.
  return 0.6 * size * double(s.size());
}

void SvgCanvas::begin_group(const std::string& id, const std::string& css_class) {
  body_ += "<g";
  if (!id.empty()) body_ += " id=\"" + html_escape(id) + "\"";
  if (!css_class.empty()) body_ += " class=\"" + html_escape(css_class) + "\"";
  body_ += ">";
}

void SvgCanvas::end_group() { body_ += "</g>"; }

std::string SvgCanvas::document(const std::string& id, const std::string& css_class, double width,
                                double height, const std::string& label) const {
  std::string out = "<svg";
  if (!id.empty()) out += " id=\"" + html_escape(id) + "\"";
  if (!css_class.empty()) out += " class=\"" + html_escape(css_class) + "\"";
  out += " viewBox=\"0 0 " + num(width) + " " + num(height) + "\" width=\"" + num(width) +
         "\" height=\"" + num(height) + "\" role=\"img\" font-family=\"sans-serif\"";
  if (!label.empty()) out += " aria-label=\"" + html_escape(label) + "\"";
  return out + ">" + body_ + "</svg>";
}

// ---- raster ----

RasterCanvas::RasterCanvas(int width, int height, Rgb background)
    : width_(std::max(1, width)), height_(std::max(1, height)) {
  rgb_.resize(size_t(width_) * size_t(height_) * 3);
  for (size_t i = 0; i < rgb_.size(); i += 3) {
    rgb_[i] = background.r, rgb_[i + 1] = background.g, rgb_[i + 2] = background.b;
  }
}

void RasterCanvas::set(int x, int y, Rgb c) {
  if (x < 0 || y < 0 || x >= width_ || y >= height_) return;
  const size_t i = (size_t(y) * size_t(width_) + size_t(x)) * 3;
  rgb_[i] = c.r, rgb_[i + 1] = c.g, rgb_[i + 2] = c.b;
}

Rgb RasterCanvas::at(int x, int y) const {
  if (x < 0 || y < 0 || x >= width_ || y >= height_) return {};
  const size_t i = (size_t(y) * size_t(width_) + size_t(x)) * 3;
  return {rgb_[i], rgb_[i + 1], rgb_[i + 2]};
}

void RasterCanvas::rect(double x, double y, double w, double h, Rgb fill, const std::string&) {
  const int x0 = int(std::lround(x)), y0 = int(std::lround(y));
  const int x1 = int(std::lround(x + w)), y1 = int(std::lround(y + h));
  for (int py = std::max(0, y0); py < std::min(height_, y1); ++py) {
    for (int px = std::max(0, x0); px < std::min(width_, x1); ++px) set(px, py, fill);
  }
}

void RasterCanvas::line(double x1, double y1, double x2, double y2, Rgb color, double width) {
  // Stamps a k x k square at every step along the longer axis: hard-edged, even thickness.
  const int k = std::max(1, int(std::lround(width)));
  const int lo = -(k / 2);
  const double dx = x2 - x1, dy = y2 - y1;
  const int steps = std::max(1, int(std::ceil(std::max(std::fabs(dx), std::fabs(dy)))));
  for (int s = 0; s <= steps; ++s) {
    const double t = double(s) / steps;
    const int cx = int(std::lround(x1 + dx * t)), cy = int(std::lround(y1 + dy * t));
    for (int oy = lo; oy < lo + k; ++oy) {
      for (int ox = lo; ox < lo + k; ++ox) set(cx + ox, cy + oy, color);
    }
  }
}

void RasterCanvas::polyline(const Points& points, Rgb color, double width, const std::string&) {
  if (points.size() == 1) dot(points[0].first, points[0].second, width, color, "");
  for (size_t i = 1; i < points.size(); ++i) {
    line(points[i - 1].first, points[i - 1].second, points[i].first, points[i].second, color,
         width);
  }
}

void RasterCanvas::dot(double x, double y, double radius, Rgb color, const std::string&) {
  const int r = int(std::ceil(radius));
  for (int py = int(std::floor(y)) - r; py <= int(std::ceil(y)) + r; ++py) {
    for (int px = int(std::floor(x)) - r; px <= int(std::ceil(x)) + r; ++px) {
      const double ddx = px + 0.5 - x, ddy = py + 0.5 - y;
      if (ddx * ddx + ddy * ddy <= radius * radius) set(px, py, color);
    }
  }
}

void RasterCanvas::text(double x, double y, const std::string& s, double size, Rgb color,
                        Anchor anchor, bool vertical) {
  const int z = zoom_for(size);
  const double w = text_width(s, size), h = 7.0 * z;
  const double u0 = anchor == Anchor::kStart ? 0 : anchor == Anchor::kMiddle ? -w / 2 : -w;
  const Font& f = font();
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = fold(s[i]);
    if (c >= 128 || !f.present[c]) continue;
    for (int r = 0; r < 7 * z; ++r) {
      for (int q = 0; q < 5 * z; ++q) {
        if (!(f.rows[c][r / z] & (0x10 >> (q / z)))) continue;
        // (u, v): position along and across the text, relative to the anchor point.
        const double u = u0 + double(i) * 6 * z + q, v = -h / 2 + r;
        const double px = vertical ? x + v : x + u, py = vertical ? y - u : y + v;
        set(int(std::floor(px)), int(std::floor(py)), color);
      }
    }
  }
}

double RasterCanvas::text_width(const std::string& s, double size) const {
  if (s.empty()) return 0;
  const int z = zoom_for(size);
  return double(s.size()) * 6 * z - z;
}

}  // namespace digitlab::report
