// Small text helpers for self-contained pages: HTML escaping, base64, data: URIs, numbers.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace digitlab::report {

// Escapes & < > " ' so any text can go into element content or a quoted attribute.
std::string html_escape(std::string_view text);

// Standard base64 (RFC 4648, with '=' padding).
std::string base64(std::string_view bytes);

// "data:image/png;base64,..." for PNG bytes, so pages embed images without separate files.
std::string png_data_uri(std::string_view png_bytes);

// Compact number for tables and labels: up to `significant` significant digits, no trailing
// zeros, no exponent for values in [1e-4, 1e9). "-" for NaN/infinity.
std::string compact(double value, int significant = 4);

// `value` * 100 with `decimals` places and a "%" sign, or "" when absent.
std::string percent(std::optional<double> value, int decimals = 2);

// The start of a self-contained page up to and including <body>: doctype, charset, the escaped
// `title` and the shared inline stylesheet (no external fonts, scripts or links).
std::string page_start(const std::string& title);
std::string page_end();

// Seconds as "12.3 s", "4:05" or "1:02:03".
std::string duration(double seconds);

}  // namespace digitlab::report
