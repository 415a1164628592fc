// Fuzz target for the HTTP request parser: any bytes, whole or in pieces, give the same requests
// or the same refusal, every body matches its Content-Length, and nothing throws.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "serve/http.h"

using digitlab::fuzz::check;
namespace serve = digitlab::serve;

namespace {

struct Outcome {
  std::vector<std::string> requests;  // method, path and body of each, in order
  int refusal = 0;
};

// Feeds `bytes` to a parser `piece` bytes at a time (all at once when 0).
Outcome parse(const std::string& bytes, size_t piece) {
  serve::HttpLimits limits;
  limits.max_body = 1000;
  limits.max_header_bytes = 2048;
  limits.max_headers = 16;
  serve::RequestParser parser(limits);
  Outcome out;
  std::string buffer;
  size_t fed = 0;
  while (true) {
    const size_t n = piece == 0 ? bytes.size() - fed : std::min(piece, bytes.size() - fed);
    buffer.append(bytes, fed, n);
    fed += n;
    serve::HttpRequest r;
    serve::RequestParser::State s;
    while ((s = parser.parse(buffer, r)) == serve::RequestParser::State::kComplete) {
      check(!r.method.empty() && !r.path.empty(), "a request without method or path");
      const std::string length = r.header("content-length");
      check(r.body.size() == (length.empty() ? 0 : std::stoull(length)),
            "body size differs from Content-Length");
      check(r.body.size() <= limits.max_body, "body over the limit");
      out.requests.push_back(r.method + " " + r.path + " " + r.body);
    }
    if (s == serve::RequestParser::State::kError) {
      const int e = parser.error_status;
      check(e == 400 || e == 411 || e == 413 || e == 431 || e == 505, "unknown refusal status");
      check(!parser.error_message.empty(), "a refusal without a message");
      out.refusal = e;
      return out;
    }
    if (fed == bytes.size()) return out;
  }
}

}  // namespace

// The first byte picks the piece size, the rest are the bytes a client sent.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  const Outcome whole = parse(bytes, 0);
  const Outcome pieces = parse(bytes, 1 + data[0] % 64);
  check(whole.requests == pieces.requests, "pieces parse to other requests than the whole");
  // A refusal may come earlier in pieces only where the whole input also ends refused.
  check((whole.refusal != 0) == (pieces.refusal != 0), "pieces and whole disagree on refusal");
  return 0;
}
