// Fuzz target for the architecture spec language: parse, canonical print, reparse, count.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>

#include "core/error.h"
#include "fuzz_check.h"
#include "models/spec.h"

using digitlab::fuzz::check;
namespace models = digitlab::models;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  models::ArchSpec spec;
  try {
    spec = models::parse_spec(text);
  } catch (const digitlab::core::Error&) {
    return 0;
  } catch (const std::exception& e) {
    digitlab::fuzz::unexpected("parse_spec", e);
  }
  // The printed form is canonical: it parses (a spec that parsed once must print as one that
  // parses), to the same spec (spec.h: parse_spec(to_string(s)) == s), and prints the same.
  const std::string printed = models::to_string(spec);
  models::ArchSpec again;
  try {
    again = models::parse_spec(printed);
  } catch (const std::exception& e) {
    digitlab::fuzz::fail("to_string gave '" + printed + "', which does not parse: " + e.what());
  }
  check(again == spec, "parse_spec(to_string(s)) == s for '" + printed + "'");
  check(models::to_string(again) == printed, "to_string is stable for '" + printed + "'");

  // Shape checking walks every layer whatever the class count; both class counts reach the end.
  for (int64_t classes : {int64_t(10), spec.layers.back().units}) {
    try {
      const int64_t n = models::count_parameters(spec, classes);
      check(n >= 0, "parameter count not negative for '" + printed + "'");
      check(models::count_parameters(again, classes) == n, "same count after reparsing");
    } catch (const digitlab::core::Error&) {
    } catch (const std::exception& e) {
      digitlab::fuzz::unexpected("count_parameters", e);
    }
  }
  return 0;
}
