// HTTP: the request parser's framing and limits, and the server under slow, idle, half-closing,
// pipelining and over-limit clients on loopback.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "serve/http.h"
#include "serve/http_server.h"
#include "socket_util.h"

namespace digitlab::serve {
namespace {

using testing::closed_by_peer;
using testing::connect_to;
using testing::exchange;
using testing::read_response;
using testing::read_until_close;
using testing::send_all;

using Clock = std::chrono::steady_clock;
using State = RequestParser::State;

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Parses all of `bytes`; returns the requests and the first refusal status (0 if none).
std::vector<HttpRequest> parse_all(std::string bytes, int* refusal = nullptr,
                                   HttpLimits limits = {}) {
  RequestParser parser(limits);
  std::vector<HttpRequest> out;
  HttpRequest r;
  State s;
  while ((s = parser.parse(bytes, r)) == State::kComplete) out.push_back(r);
  if (refusal) *refusal = s == State::kError ? parser.error_status : 0;
  return out;
}

int refusal_of(const std::string& bytes, HttpLimits limits = {}) {
  int status = 0;
  parse_all(bytes, &status, limits);
  return status;
}

TEST(HttpParser, ReadsPipelinedRequestsInOrderWhetherWholeOrByteByByte) {
  const std::string bytes =
      "GET /a%20b?x=1 HTTP/1.1\r\nHost: h\r\n\r\n"
      "POST /v1/predict HTTP/1.1\r\nContent-Length: 5\r\nContent-Type: image/png\r\n\r\nhello"
      "GET /c HTTP/1.0\r\n\r\n";
  const auto whole = parse_all(bytes);
  ASSERT_EQ(whole.size(), 3u);
  EXPECT_EQ(whole[0].path, "/a b");
  EXPECT_EQ(whole[0].target, "/a%20b?x=1");
  EXPECT_TRUE(whole[0].keep_alive);
  EXPECT_EQ(whole[1].body, "hello");
  EXPECT_EQ(whole[1].header("content-type"), "image/png");
  EXPECT_FALSE(whole[2].keep_alive);  // HTTP/1.0 closes unless asked otherwise
  RequestParser parser({});
  std::string buffer;
  std::vector<std::string> paths;
  for (char c : bytes) {
    buffer += c;
    HttpRequest r;
    if (parser.parse(buffer, r) == State::kComplete) paths.push_back(r.path);
  }
  EXPECT_EQ(paths, (std::vector<std::string>{"/a b", "/v1/predict", "/c"}));
}

TEST(HttpParser, AmbiguousOrOversizedFramingIsRefusedWithItsStatus) {
  EXPECT_EQ(refusal_of("GET / HTTP/1.1\nHost: h\r\n\r\n"), 400);  // bare LF
  EXPECT_EQ(refusal_of("GET / HTTP/1.1\r\nHost : h\r\n\r\n"), 400);
  EXPECT_EQ(refusal_of("GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n"), 400);
  EXPECT_EQ(refusal_of("GET /\x01 HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(refusal_of("GET  / HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(refusal_of("GET / HTTP/2.0\r\n\r\n"), 505);
  EXPECT_EQ(refusal_of("GET / FTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(refusal_of("POST / HTTP/1.1\r\n\r\n"), 411);
  EXPECT_EQ(refusal_of("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), 411);
  EXPECT_EQ(
      refusal_of("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"),
      411);
  EXPECT_EQ(refusal_of("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"),
            400);
  EXPECT_EQ(refusal_of("POST / HTTP/1.1\r\nContent-Length: -3\r\n\r\n"), 400);
  EXPECT_EQ(refusal_of("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n"), 400);
  HttpLimits small;
  small.max_body = 10;
  small.max_header_bytes = 200;
  small.max_headers = 3;
  EXPECT_EQ(refusal_of("POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n", small), 413);
  EXPECT_EQ(refusal_of("GET / HTTP/1.1\r\nA: " + std::string(300, 'a'), small), 431);
  EXPECT_EQ(refusal_of("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", small), 431);
  // The same content length twice is one length, and an absolute target keeps its path.
  const auto ok = parse_all(
      "POST http://example.com/v1/predict HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n"
      "Connection: keep-alive, close\r\n\r\nab");
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_EQ(ok[0].path, "/v1/predict");
  EXPECT_FALSE(ok[0].keep_alive);
}

TEST(HttpParser, ResponsesCarryLengthAndConnectionAndHeadHasNoBody) {
  HttpResponse r;
  r.status = 405;
  r.body = "{}";
  r.headers.emplace_back("Allow", "GET, HEAD");
  EXPECT_EQ(serialize_response(r, false, false),
            "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: application/json\r\n"
            "Content-Length: 2\r\nConnection: close\r\nAllow: GET, HEAD\r\n\r\n{}");
  const std::string head = serialize_response(r, true, true);
  EXPECT_NE(head.find("Content-Length: 2\r\n"), std::string::npos);
  EXPECT_EQ(head.substr(head.size() - 4), "\r\n\r\n");
}

// A server on a free loopback port with a health route on the I/O thread, a slow route and an
// echo route on the workers, stopped and joined at the end of the test.
class TestServer {
 public:
  explicit TestServer(HttpServerOptions o) : server_(with_port0(o), error) {
    server_.route(
        "GET", "/healthz", [](const HttpRequest&) { return text("ok"); }, true);
    server_.route("GET", "/echo", [](const HttpRequest& r) { return text(r.target); });
    server_.route("POST", "/echo", [](const HttpRequest& r) { return text(r.body); });
    server_.route("POST", "/slow", [](const HttpRequest&) {
      std::this_thread::sleep_for(std::chrono::milliseconds(700));
      return text("slow");
    });
    server_.route("GET", "/throw",
                  [](const HttpRequest&) -> HttpResponse { throw std::runtime_error("boom"); });
    port_ = server_.bind();
    thread_ = std::thread([this] { server_.serve([this] { return stop_.load(); }); });
  }
  ~TestServer() {
    stop_ = true;
    thread_.join();
  }
  int port() const { return port_; }

 private:
  static HttpServerOptions with_port0(HttpServerOptions o) {
    o.port = 0;
    return o;
  }
  static HttpResponse text(const std::string& body) {
    HttpResponse r;
    r.content_type = "text/plain";
    r.body = body;
    return r;
  }
  static HttpResponse error(int status, const std::string& message) {
    HttpResponse r;
    r.status = status;
    r.body = "{\"error\":\"" + message + "\"}";
    return r;
  }
  HttpServer server_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  int port_ = 0;
};

TEST(HttpServer, HealthAnswersAtOnceUnder200SlowClientsAndBusyWorkers) {
  HttpServerOptions o;
  o.workers = 2;
  TestServer server(o);
  std::vector<int> slow;
  for (int i = 0; i < 200; ++i) {  // slowloris: a request that never ends
    slow.push_back(connect_to(server.port()));
    send_all(slow.back(), "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Wait: ");
  }
  std::vector<int> busy;  // every worker busy, more queued
  for (int i = 0; i < 6; ++i) {
    busy.push_back(connect_to(server.port()));
    send_all(busy.back(), "POST /slow HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  for (int i = 0; i < 5; ++i) {
    const auto t0 = Clock::now();
    EXPECT_EQ(exchange(server.port(), "GET /healthz HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 200 OK", 0),
              0u);
    EXPECT_LT(since(t0), 0.25);
  }
  for (int fd : busy) {
    std::string pending;
    EXPECT_NE(read_response(fd, pending).find("slow"), std::string::npos);
    ::close(fd);
  }
  for (int fd : slow) ::close(fd);
}

TEST(HttpServer, AStalledRequestIsAnswered408AndClosedAtItsDeadline) {
  HttpServerOptions o;
  o.timeout_seconds = 0.5;
  TestServer server(o);
  const int fd = connect_to(server.port());
  const auto t0 = Clock::now();
  send_all(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n");
  const std::string answer = read_until_close(fd);
  EXPECT_EQ(answer.rfind("HTTP/1.1 408 Request Timeout", 0), 0u) << answer;
  EXPECT_GT(since(t0), 0.4);
  EXPECT_LT(since(t0), 2.0);
  ::close(fd);
  const int idle = connect_to(server.port());  // silent: closed without an answer
  EXPECT_TRUE(closed_by_peer(idle));
  ::close(idle);
}

TEST(HttpServer, AClientThatHalfClosesAfterItsRequestGetsTheAnswer) {
  TestServer server({});
  for (int i = 0; i < 20; ++i) {
    const int fd = connect_to(server.port());
    send_all(fd, "POST /echo HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello");
    ::shutdown(fd, SHUT_WR);
    const std::string answer = read_until_close(fd);
    EXPECT_EQ(answer.rfind("HTTP/1.1 200 OK", 0), 0u) << answer;
    EXPECT_EQ(answer.substr(answer.size() - 5), "hello");
    ::close(fd);
  }
}

TEST(HttpServer, MethodsPathsAndFailuresHaveTheirStatus) {
  TestServer server({});
  const std::string wrong = exchange(server.port(), "DELETE /healthz HTTP/1.1\r\n\r\n");
  EXPECT_EQ(wrong.rfind("HTTP/1.1 405", 0), 0u) << wrong;
  EXPECT_NE(wrong.find("Allow: GET, HEAD\r\n"), std::string::npos);
  const std::string post =
      exchange(server.port(), "POST /healthz HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(post.rfind("HTTP/1.1 405", 0), 0u);
  EXPECT_EQ(exchange(server.port(), "GET /nothing HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 404", 0), 0u);
  EXPECT_EQ(exchange(server.port(), "GET /throw HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 500", 0), 0u);
  const int fd = connect_to(server.port());
  send_all(fd, "HEAD /healthz HTTP/1.1\r\nConnection: close\r\n\r\n");
  const std::string head = read_until_close(fd);
  ::close(fd);
  EXPECT_EQ(head.rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_NE(head.find("Content-Length: 2\r\n"), std::string::npos);
  EXPECT_EQ(head.substr(head.size() - 4), "\r\n\r\n");  // no body
}

TEST(HttpServer, APostWithoutLengthIsRefusedAtOnce) {
  TestServer server({});
  const int fd = connect_to(server.port());
  const auto t0 = Clock::now();
  send_all(fd, "POST /echo HTTP/1.1\r\nHost: x\r\n\r\nhello");
  const std::string answer = read_until_close(fd);
  EXPECT_EQ(answer.rfind("HTTP/1.1 411 Length Required", 0), 0u) << answer;
  EXPECT_LT(since(t0), 1.0);
  ::close(fd);
}

TEST(HttpServer, FiftyPipelinedRequestsGetFiftyAnswersInOrder) {
  TestServer server({});
  const int fd = connect_to(server.port());
  std::string burst;
  for (int i = 0; i < 50; ++i) {
    burst += "GET /echo?n=" + std::to_string(i) + " HTTP/1.1\r\n" +
             (i == 49 ? "Connection: close\r\n" : "") + "\r\n";
  }
  send_all(fd, burst);
  const std::string all = read_until_close(fd);
  ::close(fd);
  size_t at = 0;
  for (int i = 0; i < 50; ++i) {
    const std::string body = "\r\n\r\n/echo?n=" + std::to_string(i);
    at = all.find(body, at);
    ASSERT_NE(at, std::string::npos) << "answer " << i << " missing";
  }
}

TEST(HttpServer, ABodyOverTheLimitIsRefusedAndTheAnswerArrives) {
  HttpServerOptions o;
  o.limits.max_body = 1000;
  TestServer server(o);
  const int fd = connect_to(server.port());
  send_all(fd, "POST /echo HTTP/1.1\r\nContent-Length: 200000\r\n\r\n");
  send_all(fd, std::string(200000, 'x'));  // the client sends it anyway
  const std::string answer = read_until_close(fd);
  EXPECT_EQ(answer.rfind("HTTP/1.1 413", 0), 0u) << answer.substr(0, 80);
  ::close(fd);
}

TEST(HttpServer, PastTheConnectionLimitTheLongestIdleIsClosed) {
  HttpServerOptions o;
  o.max_connections = 8;
  TestServer server(o);
  std::vector<int> idle;
  for (int i = 0; i < 20; ++i) idle.push_back(connect_to(server.port()));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto t0 = Clock::now();
  EXPECT_EQ(exchange(server.port(), "GET /healthz HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_LT(since(t0), 0.5);
  EXPECT_TRUE(closed_by_peer(idle.front(), 1));  // the longest idle one was closed
  for (int fd : idle) ::close(fd);
}

}  // namespace
}  // namespace digitlab::serve
