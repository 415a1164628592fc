// How pixels become model inputs; stored in every checkpoint so all later commands agree.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace digitlab::data {

// mode "standard": (x/255 - mean) / std with mean/std from the training split (seed 002);
// "unit": x/255 (seeds 003, 004); "none": raw 0..255 values.
struct Normalization {
  std::string mode = "standard";
  double mean = 0.0;
  double std = 1.0;

  // Requires: mode is one of the three above. Throws core::UsageError otherwise.
  static void check_mode(const std::string& mode) {
    if (mode != "standard" && mode != "unit" && mode != "none") {
      throw core::UsageError("--normalization: unknown mode '" + mode +
                             "' (allowed: standard, unit, none)");
    }
  }
  // Affine map x_byte * scale + shift that this normalization amounts to.
  double scale() const {
    if (mode == "none") return 1.0;
    if (mode == "unit") return 1.0 / 255.0;
    return 1.0 / (255.0 * std);
  }
  double shift() const { return mode == "standard" ? -mean / std : 0.0; }

  nlohmann::json to_json() const { return {{"mode", mode}, {"mean", mean}, {"std", std}}; }
  static Normalization from_json(const nlohmann::json& j) {
    Normalization n;
    n.mode = j.at("mode").get<std::string>();
    n.mean = j.at("mean").get<double>();
    n.std = j.at("std").get<double>();
    check_mode(n.mode);
    return n;
  }
};

}  // namespace digitlab::data
