// Fuzz target for config files: TOML or JSON text through core::Settings, then train options.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>

#include "core/error.h"
#include "core/settings.h"
#include "data/augment.h"
#include "fuzz_check.h"
#include "train/options.h"

using digitlab::fuzz::check;
namespace core = digitlab::core;
namespace train = digitlab::train;

namespace {

// A resolved integer option holds exactly what the settings say (no silent narrowing to int).
void check_int(const core::Settings& s, const char* key, long long resolved) {
  if (!s.has(key)) return;
  check(s.get_int(key, 0) == resolved,
        std::string(key) + ": resolved value differs from '" + *s.raw(key) + "'");
}

}  // namespace

// The first byte picks the format (odd: JSON, even: TOML), the rest is the file's text.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool json = data[0] & 1;
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  core::Settings s;
  try {
    s.load_config_text(text, json, train::train_option_keys(), json ? "fuzz.json" : "fuzz.toml");
  } catch (const core::Error&) {
    return 0;
  } catch (const std::exception& e) {
    digitlab::fuzz::unexpected("load_config_text", e);
  }
  train::TrainOptions o;
  try {
    o = train::train_options_from(s);
  } catch (const core::Error&) {
    return 0;
  } catch (const std::exception& e) {
    digitlab::fuzz::unexpected("train_options_from", e);
  }
  // Accepted options are what train_options_from promises to have checked.
  check(o.epochs >= 1 && o.epochs <= 100000, "epochs in 1..100000");
  check(o.batch_size >= 1 && o.batch_size <= 65536, "batch_size in 1..65536");
  check(o.lr > 0 && o.lr < 100, "lr in (0, 100)");
  check(std::isfinite(o.momentum) && o.momentum >= 0 && o.momentum < 1, "momentum in [0, 1)");
  check(std::isfinite(o.weight_decay) && o.weight_decay >= 0, "weight_decay finite, >= 0");
  check(std::isfinite(o.early_stopping.min_delta) && o.early_stopping.min_delta >= 0,
        "min_delta finite, >= 0");
  check(o.workers >= 0 && o.workers <= 64, "workers in 0..64");
  check(o.threads >= 0 && o.threads <= 1024, "threads in 0..1024");
  check(o.val_split >= 0 && o.train_limit >= 0 && o.test_every >= 0 && o.tb_every_steps >= 0 &&
            o.early_stopping.patience >= 0,
        "counts not negative");
  // The resolved augmentation is canonical text (data/augment.h): it reads back as itself.
  try {
    check(digitlab::data::to_string(digitlab::data::parse_augment(o.augment)) == o.augment,
          "augment '" + o.augment + "' is canonical");
  } catch (const std::exception& e) {
    digitlab::fuzz::fail("resolved augment '" + o.augment + "' does not parse: " + e.what());
  }
  check_int(s, "epochs", o.epochs);
  check_int(s, "workers", o.workers);
  check_int(s, "threads", o.threads);
  check_int(s, "test_every", o.test_every);
  check_int(s, "early_stopping", o.early_stopping.patience);
  return 0;
}
