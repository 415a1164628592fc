// Drawing surfaces for charts: one interface, an SVG writer and an RGB raster with a 5x7 font.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace digitlab::report {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
};

// "#rrggbb".
std::string hex_color(Rgb c);
// Relative luminance in [0,1] (sRGB weights, no gamma), to pick readable text on a fill.
double luminance(Rgb c);

enum class Anchor { kStart, kMiddle, kEnd };

using Points = std::vector<std::pair<double, double>>;

// What a chart needs from a surface. Charts are laid out once against this interface, so the SVG
// in the HTML and the PNG files beside it show the same picture. Coordinates are pixels, y down.
class Canvas {
 public:
  virtual ~Canvas() = default;
  // A filled rectangle; `tooltip` (may be empty) is shown on hover where the surface can.
  virtual void rect(double x, double y, double w, double h, Rgb fill,
                    const std::string& tooltip = "") = 0;
  virtual void line(double x1, double y1, double x2, double y2, Rgb color, double width) = 0;
  // An open polyline; `css_class` names it in SVG (ignored by rasters).
  virtual void polyline(const Points& points, Rgb color, double width,
                        const std::string& css_class) = 0;
  // A filled circle (data point marker).
  virtual void dot(double x, double y, double radius, Rgb color, const std::string& tooltip) = 0;
  // Text whose vertical centre is at y; `vertical` turns it a quarter anticlockwise about (x, y).
  virtual void text(double x, double y, const std::string& s, double size, Rgb color,
                    Anchor anchor = Anchor::kStart, bool vertical = false) = 0;
  // Width `s` takes at `size`, so layouts leave room for labels on either surface.
  virtual double text_width(const std::string& s, double size) const = 0;
  // Starts/ends a named group (SVG <g id/class>), so tests and styles can find chart parts.
  virtual void begin_group(const std::string& id, const std::string& css_class) {}
  virtual void end_group() {}
};

// Collects SVG elements. Numbers are written with at most one decimal, so charts stay small.
class SvgCanvas : public Canvas {
 public:
  // Defaults repeat the base's: default arguments are not inherited by overrides.
  void rect(double x, double y, double w, double h, Rgb fill,
            const std::string& tooltip = "") override;
  void line(double x1, double y1, double x2, double y2, Rgb color, double width) override;
  void polyline(const Points& points, Rgb color, double width,
                const std::string& css_class) override;
  void dot(double x, double y, double radius, Rgb color, const std::string& tooltip) override;
  void text(double x, double y, const std::string& s, double size, Rgb color,
            Anchor anchor = Anchor::kStart, bool vertical = false) override;
  double text_width(const std::string& s, double size) const override;
  void begin_group(const std::string& id, const std::string& css_class) override;
  void end_group() override;

  // The whole <svg> element (no xmlns: inline SVG in HTML needs none, and the page must not
  // mention any URL). `id` and `label` (aria-label) may be empty.
  std::string document(const std::string& id, const std::string& css_class, double width,
                       double height, const std::string& label) const;

 private:
  std::string body_;
};

// An RGB image drawn with hard edges. Text uses a 5x7 font (digits, letters, common punctuation;
// lower case is drawn as upper case) scaled by an integer zoom chosen from the size.
class RasterCanvas : public Canvas {
 public:
  RasterCanvas(int width, int height, Rgb background = {255, 255, 255});
  // Defaults repeat the base's: default arguments are not inherited by overrides.
  void rect(double x, double y, double w, double h, Rgb fill,
            const std::string& tooltip = "") override;
  void line(double x1, double y1, double x2, double y2, Rgb color, double width) override;
  void polyline(const Points& points, Rgb color, double width,
                const std::string& css_class) override;
  void dot(double x, double y, double radius, Rgb color, const std::string& tooltip) override;
  void text(double x, double y, const std::string& s, double size, Rgb color,
            Anchor anchor = Anchor::kStart, bool vertical = false) override;
  double text_width(const std::string& s, double size) const override;

  int width() const { return width_; }
  int height() const { return height_; }
  // Row-major RGB bytes, width * height * 3.
  const std::vector<uint8_t>& pixels() const { return rgb_; }
  Rgb at(int x, int y) const;

 private:
  void set(int x, int y, Rgb c);
  int width_, height_;
  std::vector<uint8_t> rgb_;
};

// True when the raster font has a glyph for `c` (after folding lower case to upper case).
bool font_has_glyph(char c);

}  // namespace digitlab::report
