// Augmentation spec parsing and the per-image warp.
#include "data/augment.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <sstream>
#include <vector>

#include "core/error.h"

namespace digitlab::data {
namespace {

[[noreturn]] void bad(const std::string& key, const std::string& problem,
                      const std::string& allowed) {
  throw core::UsageError("--augment: " + key + ": " + problem + " (allowed: " + allowed + ")");
}

double number(const std::string& key, const std::string& text, const std::string& allowed) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !std::isfinite(v)) {
    bad(key, "'" + text + "' is not a number", allowed);
  }
  return v;
}

void range(const std::string& key, const std::string& value, const std::string& allowed, double min,
           double max, double& lo, double& hi) {
  const size_t colon = value.find(':');
  if (colon == std::string::npos) bad(key, "'" + value + "' is not LO:HI", allowed);
  lo = number(key, value.substr(0, colon), allowed);
  hi = number(key, value.substr(colon + 1), allowed);
  if (!(lo > min && lo <= hi && hi <= max)) bad(key, "'" + value + "' is out of range", allowed);
}

// The shortest decimal that reads back as exactly `v`, so to_string round-trips.
std::string fmt(double v) {
  for (int digits = 6; digits <= 17; ++digits) {
    std::ostringstream os;
    os.precision(digits);
    os << v;
    if (std::strtod(os.str().c_str(), nullptr) == v) return os.str();
  }
  return std::to_string(v);
}

}  // namespace

bool AugmentSpec::enabled() const {
  return rotate > 0 || scale_lo < 1 || ratio_lo != 1 || ratio_hi != 1 || translate > 0 ||
         elastic_alpha > 0 || erase > 0;
}

bool AugmentSpec::operator==(const AugmentSpec& o) const {
  return rotate == o.rotate && scale_lo == o.scale_lo && scale_hi == o.scale_hi &&
         ratio_lo == o.ratio_lo && ratio_hi == o.ratio_hi && translate == o.translate &&
         elastic_alpha == o.elastic_alpha && elastic_sigma == o.elastic_sigma && erase == o.erase;
}

AugmentSpec parse_augment(const std::string& text) {
  AugmentSpec s;
  if (text.empty() || text == "none") return s;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item == "seed002") {
      s.rotate = 10, s.scale_lo = 0.7, s.scale_hi = 1, s.ratio_lo = 0.9, s.ratio_hi = 1.1;
      s.translate = 0.1;
      continue;
    }
    const size_t eq = item.find('=');
    if (eq == std::string::npos) {
      bad(item.empty() ? "(empty item)" : item, "expected key=value or a preset",
          "rotate, scale, ratio, translate, elastic, erase, or the preset seed002");
    }
    const std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    if (key == "rotate") {
      const char* allowed = "degrees from 0 to 180";
      s.rotate = number(key, value, allowed);
      if (s.rotate < 0 || s.rotate > 180) bad(key, "'" + value + "' is out of range", allowed);
    } else if (key == "scale") {
      range(key, value, "LO:HI with 0 < LO <= HI <= 1", 0, 1, s.scale_lo, s.scale_hi);
    } else if (key == "ratio") {
      range(key, value, "LO:HI with 0 < LO <= HI <= 10", 0, 10, s.ratio_lo, s.ratio_hi);
    } else if (key == "translate") {
      const char* allowed = "a fraction of the image size from 0 to 0.5";
      s.translate = number(key, value, allowed);
      if (s.translate < 0 || s.translate > 0.5)
        bad(key, "'" + value + "' is out of range", allowed);
    } else if (key == "elastic") {
      const char* allowed = "ALPHA[:SIGMA] with ALPHA 0 to 100 pixels, SIGMA 0.5 to 10";
      const size_t colon = value.find(':');
      s.elastic_alpha = number(key, value.substr(0, colon), allowed);
      if (colon != std::string::npos)
        s.elastic_sigma = number(key, value.substr(colon + 1), allowed);
      if (s.elastic_alpha < 0 || s.elastic_alpha > 100 || s.elastic_sigma < 0.5 ||
          s.elastic_sigma > 10) {
        bad(key, "'" + value + "' is out of range", allowed);
      }
    } else if (key == "erase") {
      const char* allowed = "a probability from 0 to 1";
      s.erase = number(key, value, allowed);
      if (s.erase < 0 || s.erase > 1) bad(key, "'" + value + "' is out of range", allowed);
    } else {
      bad(key, "unknown key",
          "rotate, scale, ratio, translate, elastic, erase, or the preset seed002");
    }
  }
  return s;
}

std::string to_string(const AugmentSpec& s) {
  std::vector<std::string> items;
  if (s.rotate > 0) items.push_back("rotate=" + fmt(s.rotate));
  if (s.scale_lo != 1 || s.scale_hi != 1)
    items.push_back("scale=" + fmt(s.scale_lo) + ":" + fmt(s.scale_hi));
  if (s.ratio_lo != 1 || s.ratio_hi != 1)
    items.push_back("ratio=" + fmt(s.ratio_lo) + ":" + fmt(s.ratio_hi));
  if (s.translate > 0) items.push_back("translate=" + fmt(s.translate));
  if (s.elastic_alpha > 0) {
    items.push_back("elastic=" + fmt(s.elastic_alpha) + ":" + fmt(s.elastic_sigma));
  }  // with alpha 0 the field is off and its sigma means nothing
  if (s.erase > 0) items.push_back("erase=" + fmt(s.erase));
  if (items.empty()) return "none";
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ",") + i;
  return out;
}

uint64_t Rng::next() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

double Rng::uniform(double lo, double hi) {
  return lo + (hi - lo) * (double(next() >> 11) * (1.0 / 9007199254740992.0));
}

int64_t Rng::below(int64_t n) { return n <= 1 ? 0 : int64_t(next() % uint64_t(n)); }

uint64_t image_stream(uint64_t seed, int64_t epoch, int64_t position) {
  Rng r(seed);
  uint64_t h = r.next() ^ (uint64_t(epoch) * 0xd1b54a32d192ed03ULL);
  Rng r2(h);
  return r2.next() ^ (uint64_t(position) * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL);
}

Affine Affine::after(const Affine& o) const {
  // this(o(p)): [a b c; d e f] * [o.a o.b o.c; o.d o.e o.f; 0 0 1]
  return {a * o.a + b * o.d, a * o.b + b * o.e, a * o.c + b * o.f + c,
          d * o.a + e * o.d, d * o.b + e * o.e, d * o.c + e * o.f + f};
}

Affine rotation_inverse(double degrees, int h, int w) {
  const double t = degrees * M_PI / 180.0, cs = std::cos(t), sn = std::sin(t);
  const double cx = (w - 1) / 2.0, cy = (h - 1) / 2.0;
  // Forward (y down, counter-clockwise on screen): r - c = [cs sn; -sn cs](s - c).
  // Inverse: s - c = [cs -sn; sn cs](r - c).
  return {cs, -sn, cx - cs * cx + sn * cy, sn, cs, cy - sn * cx - cs * cy};
}

void warp(const uint8_t* src, float* dst, int h, int w, const Affine& m, const float* dx,
          const float* dy) {
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      double ox = x, oy = y;
      if (dx) ox += dx[y * w + x], oy += dy[y * w + x];
      const double sx = m.a * ox + m.b * oy + m.c, sy = m.d * ox + m.e * oy + m.f;
      const double fx = std::floor(sx), fy = std::floor(sy);
      const int x0 = int(fx), y0 = int(fy);
      const double wx = sx - fx, wy = sy - fy;
      auto at = [&](int yy, int xx) -> double {
        return (xx < 0 || yy < 0 || xx >= w || yy >= h) ? 0.0 : double(src[yy * w + xx]);
      };
      double v = (1 - wy) * ((1 - wx) * at(y0, x0) + (wx > 0 ? wx * at(y0, x0 + 1) : 0.0));
      if (wy > 0) v += wy * ((1 - wx) * at(y0 + 1, x0) + (wx > 0 ? wx * at(y0 + 1, x0 + 1) : 0.0));
      dst[y * w + x] = float(v);
    }
  }
}

namespace {

void elastic_field(int h, int w, double alpha, double sigma, Rng& rng, std::vector<float>& dx,
                   std::vector<float>& dy) {
  const int r = std::max(1, int(std::ceil(3 * sigma)));
  std::vector<float> k(size_t(2 * r + 1));
  for (int i = -r; i <= r; ++i) k[size_t(i + r)] = float(std::exp(-0.5 * i * i / (sigma * sigma)));
  // Normalized kernel: alpha is then the displacement of a fully correlated field.
  float sum = 0;
  for (float v : k) sum += v;
  for (float& v : k) v /= sum;
  // Separable blur with zero padding (as Simard's reference code), on a padded buffer so the
  // inner loops have no bounds checks: 8x faster than checking every tap.
  const int pw = w + 2 * r, ph = h + 2 * r;
  std::vector<float> noise(size_t(pw * ph), 0.0f), tmp(size_t(ph * w));
  for (std::vector<float>* field : {&dx, &dy}) {
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) noise[size_t((y + r) * pw + x + r)] = float(rng.uniform(-1, 1));
    }
    for (int y = 0; y < ph; ++y) {
      const float* row = noise.data() + y * pw;
      for (int x = 0; x < w; ++x) {
        float acc = 0;
        for (int i = 0; i <= 2 * r; ++i) acc += k[size_t(i)] * row[x + i];
        tmp[size_t(y * w + x)] = acc;
      }
    }
    field->assign(size_t(h * w), 0.0f);
    for (int y = 0; y < h; ++y) {
      float* out = field->data() + y * w;
      for (int i = 0; i <= 2 * r; ++i) {
        const float* in = tmp.data() + (y + i) * w;
        const float ki = k[size_t(i)] * float(alpha);
        for (int x = 0; x < w; ++x) out[x] += ki * in[x];
      }
    }
  }
}

}  // namespace

void augment_image(const uint8_t* src, float* dst, int h, int w, const AugmentSpec& s, Rng& rng) {
  Affine map;  // output -> source, built from the last step backwards
  if (s.rotate > 0) map = rotation_inverse(rng.uniform(-s.rotate, s.rotate), h, w);
  if (s.scale_lo < 1 || s.ratio_lo != 1 || s.ratio_hi != 1) {
    // torchvision's RandomResizedCrop: up to 10 tries for a box that fits; else a centre crop of
    // the whole image clamped to the ratio range.
    const double in_ratio = double(w) / double(h);
    double cw = w, ch = h;
    if (in_ratio < s.ratio_lo) ch = std::round(cw / s.ratio_lo);
    if (in_ratio > s.ratio_hi) cw = std::round(ch * s.ratio_hi);
    double left = std::floor((w - cw) / 2), top = std::floor((h - ch) / 2);
    for (int attempt = 0; attempt < 10; ++attempt) {
      const double area = double(h * w) * rng.uniform(s.scale_lo, s.scale_hi);
      const double ratio = std::exp(rng.uniform(std::log(s.ratio_lo), std::log(s.ratio_hi)));
      const double bw = std::round(std::sqrt(area * ratio)),
                   bh = std::round(std::sqrt(area / ratio));
      if (bw >= 1 && bh >= 1 && bw <= w && bh <= h) {
        cw = bw, ch = bh;
        left = double(rng.below(int64_t(w - bw) + 1));
        top = double(rng.below(int64_t(h - bh) + 1));
        break;
      }
    }
    const Affine crop{cw / w, 0, left + 0.5 * cw / w - 0.5, 0, ch / h, top + 0.5 * ch / h - 0.5};
    map = map.after(crop);
  }
  if (s.translate > 0) {
    const double tx = std::round(rng.uniform(-s.translate * w, s.translate * w));
    const double ty = std::round(rng.uniform(-s.translate * h, s.translate * h));
    map = map.after(Affine{1, 0, -tx, 0, 1, -ty});
  }
  if (s.elastic_alpha > 0) {
    std::vector<float> dx, dy;
    elastic_field(h, w, s.elastic_alpha, s.elastic_sigma, rng, dx, dy);
    warp(src, dst, h, w, map, dx.data(), dy.data());
  } else {
    warp(src, dst, h, w, map, nullptr, nullptr);
  }
  if (s.erase > 0 && rng.uniform(0, 1) < s.erase) {
    // torchvision's RandomErasing defaults: area 2-33%, aspect ratio 0.3-3.3, value 0.
    for (int attempt = 0; attempt < 10; ++attempt) {
      const double area = double(h * w) * rng.uniform(0.02, 0.33);
      const double ratio = std::exp(rng.uniform(std::log(0.3), std::log(3.3)));
      const int eh = int(std::round(std::sqrt(area * ratio))),
                ew = int(std::round(std::sqrt(area / ratio)));
      if (eh < 1 || ew < 1 || eh >= h || ew >= w) continue;
      const int y0 = int(rng.below(h - eh + 1)), x0 = int(rng.below(w - ew + 1));
      for (int y = y0; y < y0 + eh; ++y) std::fill(dst + y * w + x0, dst + y * w + x0 + ew, 0.0f);
      break;
    }
  }
}

}  // namespace digitlab::data
