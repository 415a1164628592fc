// Reading JSON that comes from outside (files, requests, other ranks) with a nesting limit.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace digitlab::core {

// Deeper nesting than any file of digitlab's; code that walks a value recursively (dump,
// flattening) is then safe from stack overflow however the text was made.
constexpr int kMaxJsonDepth = 64;

// Parses `text`. Requires nothing (any bytes). Guarantees: never throws; returns a discarded
// value (is_discarded()) for text that is not JSON or nests arrays and objects deeper than
// kMaxJsonDepth; `error`, when given, then says which ("nested deeper than 64 levels" or the
// parser's message).
nlohmann::json parse_json(const std::string& text, std::string* error = nullptr);

}  // namespace digitlab::core
