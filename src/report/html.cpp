// Text helpers for self-contained pages.
#include "report/html.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>

namespace digitlab::report {

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string base64(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = uint32_t(uint8_t(bytes[i])) << 16 | uint32_t(uint8_t(bytes[i + 1])) << 8 |
                       uint32_t(uint8_t(bytes[i + 2]));
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  const size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t v = uint32_t(uint8_t(bytes[i])) << 16;
    if (rest == 2) v |= uint32_t(uint8_t(bytes[i + 1])) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string png_data_uri(std::string_view png_bytes) {
  return "data:image/png;base64," + base64(png_bytes);
}

std::string compact(double value, int significant) {
  if (!std::isfinite(value)) return "-";
  if (value == 0) return "0";
  char buf[64];
  const double mag = std::fabs(value);
  if (mag >= 1e-4 && mag < 1e9) {
    // Fixed notation with just enough decimals for the significant digits asked for.
    const int digits_before = int(std::floor(std::log10(mag))) + 1;
    const int decimals = std::max(0, significant - digits_before);
    std::snprintf(buf, sizeof(buf), "%.*f", decimals, value);
    std::string s = buf;
    if (s.find('.') != std::string::npos) {
      while (s.back() == '0') s.pop_back();
      if (s.back() == '.') s.pop_back();
    }
    return s == "-0" ? "0" : s;
  }
  std::snprintf(buf, sizeof(buf), "%.*g", significant, value);
  return buf;
}

std::string percent(std::optional<double> value, int decimals) {
  if (!value || !std::isfinite(*value)) return "";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f%%", decimals, 100 * *value);
  return buf;
}

namespace {

constexpr const char* kStyle = R"(
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1140px;
padding:12px 24px 48px;color:#222;background:#fff;line-height:1.4}
h1{font-size:1.5em;margin:.3em 0 .1em}
h2{font-size:1.15em;margin:1.8em 0 .6em;padding-bottom:.2em;border-bottom:1px solid #ddd}
h3{font-size:1em;margin:1.2em 0 .4em}
.meta{color:#555;margin:.2em 0}
code{background:#f3f3f3;padding:1px 4px;border-radius:3px;font-size:.95em}
table{border-collapse:collapse;font-size:.88em;margin:.3em 0}
th,td{padding:3px 10px;border-bottom:1px solid #eee;text-align:right;white-space:nowrap}
th{background:#f6f6f6;font-weight:600}
th.l,td.l{text-align:left}
tfoot td{font-weight:600;border-top:1px solid #ccc}
.charts{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
svg{max-width:100%;height:auto}
svg text{font-family:sans-serif}
.missing{color:#6b5320;background:#fcf8e3;padding:6px 10px;border-radius:4px}
.warnings ul{margin:.3em 0;padding-left:1.4em}
.warnings li{color:#a94442}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(92px,1fr));gap:10px}
.grid figure{margin:0;text-align:center;font-size:.78em;color:#333}
.grid img{width:56px;height:56px;image-rendering:pixelated;background:#000;display:block;
margin:0 auto 2px}
.grid .noimg{width:56px;height:56px;margin:0 auto 2px;background:#eee}
.bad{color:#c0392b;font-weight:600}
.files a{margin-right:1em}
)";

}  // namespace

std::string page_start(const std::string& title) {
  return "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>" +
         html_escape(title) + "</title>\n<style>" + kStyle + "</style>\n</head>\n<body>\n";
}

std::string page_end() { return "</body>\n</html>\n"; }

std::string duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) seconds = 0;
  char buf[64];
  if (seconds < 60) {
    std::snprintf(buf, sizeof(buf), "%.1f s", seconds);
    return buf;
  }
  const long s = std::lround(seconds);
  if (s >= 3600) {
    std::snprintf(buf, sizeof(buf), "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  } else {
    std::snprintf(buf, sizeof(buf), "%ld:%02ld", s / 60, s % 60);
  }
  return buf;
}

}  // namespace digitlab::report
