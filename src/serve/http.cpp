// HTTP/1.1 request parsing (RFC 9112) with size limits, strict framing and response bytes.
#include "serve/http.h"

#include <algorithm>
#include <cctype>

namespace digitlab::serve {
namespace {

// RFC 9110 token characters: method and header names.
bool is_token(const std::string& s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isalnum(c) ||
           std::string_view("!#$%&'*+-.^_`|~").find(char(c)) != std::string::npos;
  });
}

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

// Splits `head` at CRLF. A lone CR or LF inside a line is an error, as is anything but a CRLF
// line ending: framing that two parsers could read differently is how requests are smuggled.
bool split_head(const std::string& head, std::vector<std::string>& lines) {
  size_t start = 0;
  while (true) {
    const size_t end = head.find("\r\n", start);
    const std::string line = head.substr(start, end == std::string::npos ? end : end - start);
    if (line.find_first_of("\r\n") != std::string::npos) return false;
    lines.push_back(line);
    if (end == std::string::npos) return true;
    start = end + 2;
  }
}

}  // namespace

std::string HttpRequest::header(const std::string& name) const {
  for (const auto& [key, value] : headers) {
    if (key == name) return value;
  }
  return "";
}

bool HttpRequest::has_header(const std::string& name) const {
  return std::any_of(headers.begin(), headers.end(),
                     [&](const auto& h) { return h.first == name; });
}

RequestParser::State RequestParser::fail(int status, std::string message) {
  error_status = status;
  error_message = std::move(message);
  return State::kError;
}

RequestParser::State RequestParser::parse(std::string& buffer, HttpRequest& out) {
  if (error_status != 0) return State::kError;
  if (!have_head_) {
    // Empty lines before a request line are allowed (RFC 9112 section 2.2).
    const size_t skip = buffer.find_first_not_of("\r\n");
    buffer.erase(0, skip == std::string::npos ? buffer.size() : skip);
    const size_t end = buffer.find("\r\n\r\n");
    if ((end == std::string::npos ? buffer.size() : end + 4) > limits_.max_header_bytes) {
      return fail(431, "request line and headers over the " +
                           std::to_string(limits_.max_header_bytes) + "-byte limit");
    }
    if (end == std::string::npos) return State::kNeedMore;
    request_ = HttpRequest{};
    body_bytes_ = 0;
    if (parse_head(buffer.substr(0, end)) == State::kError) return State::kError;
    head_bytes_ = end + 4;
    have_head_ = true;
  }
  if (buffer.size() < head_bytes_ + body_bytes_) return State::kNeedMore;
  request_.body.assign(buffer, head_bytes_, body_bytes_);
  buffer.erase(0, head_bytes_ + body_bytes_);
  out = std::move(request_);
  request_ = HttpRequest{};
  have_head_ = false;
  head_bytes_ = body_bytes_ = 0;
  return State::kComplete;
}

RequestParser::State RequestParser::parse_head(const std::string& head) {
  std::vector<std::string> lines;
  if (!split_head(head, lines)) return fail(400, "malformed request: a bare CR or LF in the head");
  if (parse_request_line(lines[0]) == State::kError) return State::kError;
  if (lines.size() - 1 > limits_.max_headers) {
    return fail(431, "more than " + std::to_string(limits_.max_headers) + " request headers");
  }
  bool has_length = false;
  for (size_t i = 1; i < lines.size(); ++i) {
    if (parse_header_line(lines[i], has_length) == State::kError) return State::kError;
  }
  if (request_.has_header("transfer-encoding")) {
    return fail(411, "send the body with a Content-Length (Transfer-Encoding is not accepted)");
  }
  const std::string& m = request_.method;
  if (!has_length && (m == "POST" || m == "PUT" || m == "PATCH")) {
    return fail(411, "a " + m + " request needs a Content-Length header");
  }
  std::string connection = "," + lower(request_.header("connection")) + ",";
  connection.erase(std::remove_if(connection.begin(), connection.end(),
                                  [](char c) { return c == ' ' || c == '\t'; }),
                   connection.end());
  request_.keep_alive = request_.minor_version >= 1
                            ? connection.find(",close,") == std::string::npos
                            : connection.find(",keep-alive,") != std::string::npos;
  return State::kComplete;
}

RequestParser::State RequestParser::parse_request_line(const std::string& line) {
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string::npos || line.find(' ', sp2 + 1) != std::string::npos) {
    return fail(400, "malformed request line");
  }
  request_.method = line.substr(0, sp1);
  request_.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string version = line.substr(sp2 + 1);
  if (!is_token(request_.method) || request_.method.size() > 32) {
    return fail(400, "malformed request method");
  }
  std::string target = request_.target;
  for (const char* scheme : {"http://", "https://"}) {  // absolute form: keep the path
    if (lower(target).rfind(scheme, 0) == 0) {
      const size_t slash = target.find('/', std::string(scheme).size());
      target = slash == std::string::npos ? "/" : target.substr(slash);
    }
  }
  const bool printable = std::all_of(target.begin(), target.end(),
                                     [](unsigned char c) { return c > 0x20 && c < 0x7f; });
  if (target.empty() || !printable || (target[0] != '/' && target != "*")) {
    return fail(400, "malformed request target");
  }
  if (version.size() != 8 || version.rfind("HTTP/", 0) != 0 || !std::isdigit(version[5]) ||
      version[6] != '.' || !std::isdigit(version[7])) {
    return fail(400, "malformed HTTP version");
  }
  if (version[5] != '1') return fail(505, "only HTTP/1.0 and HTTP/1.1 are served");
  request_.minor_version = version[7] - '0';
  request_.path = percent_decode(target.substr(0, target.find('?')));
  return State::kComplete;
}

RequestParser::State RequestParser::parse_header_line(const std::string& line, bool& has_length) {
  if (line.empty() || line[0] == ' ' || line[0] == '\t') {
    return fail(400, "malformed header: folded or empty line");
  }
  const size_t colon = line.find(':');
  const std::string name = lower(line.substr(0, colon));
  if (colon == std::string::npos || !is_token(name)) return fail(400, "malformed header name");
  const std::string value = trim(line.substr(colon + 1));
  if (std::any_of(value.begin(), value.end(),
                  [](unsigned char c) { return (c < 0x20 && c != '\t') || c == 0x7f; })) {
    return fail(400, "malformed header: control character in " + name);
  }
  if (name == "content-length") {
    const bool digits =
        !value.empty() && value.size() <= 18 &&
        std::all_of(value.begin(), value.end(), [](unsigned char c) { return std::isdigit(c); });
    if (!digits) return fail(400, "malformed Content-Length '" + value.substr(0, 40) + "'");
    const size_t n = std::stoull(value);
    if (has_length && n != body_bytes_) return fail(400, "conflicting Content-Length headers");
    if (n > limits_.max_body) {
      return fail(413, "body of " + value + " bytes is over the " +
                           std::to_string(limits_.max_body) + "-byte limit");
    }
    has_length = true;
    body_bytes_ = n;
  }
  request_.headers.emplace_back(name, value);
  return State::kComplete;
}

const char* status_text(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 415:
      return "Unsupported Media Type";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

std::string serialize_response(const HttpResponse& r, bool keep_alive, bool head_only) {
  std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + status_text(r.status) + "\r\n";
  out += "Content-Type: " + r.content_type + "\r\n";
  out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
  out += keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
  for (const auto& [name, value] : r.headers) out += name + ": " + value + "\r\n";
  out += "\r\n";
  if (!head_only) out += r.body;
  return out;
}

std::string percent_decode(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() &&
        std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
      out += char(std::stoi(text.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

}  // namespace digitlab::serve
