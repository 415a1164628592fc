// HTTP/1.1 messages without sockets: an incremental request parser with limits, and responses.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace digitlab::serve {

struct HttpRequest {
  std::string method;                                        // as sent: GET, POST, ...
  std::string target;                                        // as sent: /v1/predict?x=1
  std::string path;                                          // target before '?', percent-decoded
  int minor_version = 1;                                     // HTTP/1.<minor_version>
  std::vector<std::pair<std::string, std::string>> headers;  // names in lower case
  std::string body;
  bool keep_alive = true;  // the client's wish (Connection header and version)

  // The first header of `name` (lower case), or "" when absent.
  std::string header(const std::string& name) const;
  bool has_header(const std::string& name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra ones, e.g. Allow
};

struct HttpLimits {
  size_t max_header_bytes = 16 * 1024;  // request line and headers together
  size_t max_headers = 100;
  size_t max_body = 4 << 20;
};

// Parses the requests of one connection from the bytes it sent, one at a time, in order.
// Refusals name a status and a reason; after one the connection cannot be read further (its
// framing is unknown), so the caller answers and closes.
class RequestParser {
 public:
  enum class State { kNeedMore, kComplete, kError };

  explicit RequestParser(HttpLimits limits) : limits_(limits) {}

  // Consumes the bytes of at most one request from the front of `buffer`. Requires nothing of
  // the bytes. kComplete: `out` holds the request and its bytes are gone from `buffer` (what
  // follows, a pipelined request, stays). kNeedMore: nothing is complete yet; bytes seen may be
  // kept internally. kError: `error_status` (400, 411, 413, 431, 501, 505) and `error_message`
  // say why. Never throws for bad input.
  State parse(std::string& buffer, HttpRequest& out);

  // Whether part of a request has arrived (headers or body not yet complete).
  bool in_request(const std::string& buffer) const { return have_head_ || !buffer.empty(); }
  // Whether the request line and headers are complete (the body may still be arriving).
  bool have_head() const { return have_head_; }

  // The path of the request being parsed, once its request line has been read ("" before): after
  // a refusal, what the refused request asked for.
  const std::string& path() const { return request_.path; }

  int error_status = 0;
  std::string error_message;

 private:
  State fail(int status, std::string message);
  State parse_head(const std::string& head);
  State parse_request_line(const std::string& line);
  State parse_header_line(const std::string& line, bool& has_length);

  HttpLimits limits_;
  bool have_head_ = false;
  size_t head_bytes_ = 0;  // of the buffer: the request line and headers, blank line included
  size_t body_bytes_ = 0;
  HttpRequest request_;
};

// The status line's reason phrase for `status` ("Not Found"); "Unknown" for others.
const char* status_text(int status);

// The bytes of `response`: status line, Content-Type, Content-Length, Connection (keep-alive or
// close), the extra headers, then the body (left out when `head_only`, as HEAD requires).
std::string serialize_response(const HttpResponse& response, bool keep_alive, bool head_only);

// `text` with %XX sequences decoded; a malformed sequence stays as it is.
std::string percent_decode(const std::string& text);

}  // namespace digitlab::serve
