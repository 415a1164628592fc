// An HTTP/1.1 server: one thread does every socket's I/O with poll() and deadlines, a pool of
// workers computes the answers, so slow or idle clients hold no thread.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "serve/http.h"

namespace digitlab::serve {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port
  HttpLimits limits;
  int workers = 8;                   // requests computed at once
  int max_connections = 512;         // open at once; past it the longest-waiting idle one is closed
  double timeout_seconds = 10;       // to send a request's headers, to take an answer, to stay idle
  double body_timeout_seconds = 60;  // to send a whole request, body included
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

// Called once per answer on the I/O thread: the request's path ("" when it did not parse), the
// status, and the seconds from the request's last byte to its answer being ready.
using AnswerObserver = std::function<void(const std::string& path, int status, double seconds)>;

// Builds an error answer (status and a one-line message) in the service's format.
using ErrorAnswer = std::function<HttpResponse(int status, const std::string& message)>;

class HttpServer {
 public:
  HttpServer(HttpServerOptions options, ErrorAnswer error_answer);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Adds a route; HEAD is answered for GET routes. A known path with another method is 405 with
  // an Allow header, an unknown path 404. `on_io_thread`: the handler is cheap and never blocks,
  // so it answers even while every worker is busy (health checks, metrics).
  void route(const std::string& method, const std::string& path, HttpHandler handler,
             bool on_io_thread = false);
  void observe(AnswerObserver observer);

  // Binds and listens; returns the port. Throws core::RuntimeError naming the host or port.
  int bind();

  // Serves until `stop()` returns true (asked at least every 100 ms): then stops accepting and
  // reading, finishes the requests being computed and their answers, closes every connection and
  // returns. Requires bind() first. A handler that throws answers 500.
  void serve(const std::function<bool()>& stop);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace digitlab::serve
