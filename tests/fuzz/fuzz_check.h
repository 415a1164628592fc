// Invariant checks for the fuzz targets: print what broke and abort, whatever NDEBUG says.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

namespace digitlab::fuzz {

// Ends the process with a message on stderr. abort() rather than an exception, so that libFuzzer
// (and a replay under ctest) reports the input as a crash and keeps it as an artifact.
[[noreturn]] inline void fail(const std::string& what) {
  std::fprintf(stderr, "fuzz invariant broken: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

// Aborts with `what` unless `ok`. Requires: nothing. Unlike assert(), active in Release builds,
// since the replay tests run in the normal (NDEBUG) build too.
inline void check(bool ok, const std::string& what) {
  if (!ok) fail(what);
}

// For catch (const std::exception&) after catch (const core::Error&): the libraries promise
// core::Error only, so any other exception type is a defect.
[[noreturn]] inline void unexpected(const char* where, const std::exception& e) {
  fail(std::string(where) + " threw a non-core::Error exception: " + e.what());
}

}  // namespace digitlab::fuzz
