// The prediction service's routes on the HTTP server, and its life from bind to a signal.
#include "serve/server.h"

#include <chrono>
#include <cstdio>

#include "core/error.h"
#include "core/interrupt.h"
#include "serve/http_server.h"

namespace digitlab::serve {
namespace {

HttpResponse to_response(const Answer& a) {
  HttpResponse r;
  r.status = a.status;
  r.content_type = a.content_type;
  r.body = a.body;
  return r;
}

HttpResponse json(const std::string& body) {
  HttpResponse r;
  r.body = body;
  return r;
}

}  // namespace

int run_server(Predictor& predictor, const ServerOptions& o) {
  HttpServerOptions h;
  h.host = o.host;
  h.port = o.port;
  h.limits.max_body = o.max_body;
  h.workers = o.workers;
  h.max_connections = o.max_connections;
  h.timeout_seconds = o.timeout_seconds;
  HttpServer server(h, [](int status, const std::string& message) {
    return to_response(error_answer(status, message));
  });
  Metrics metrics;
  server.observe([&metrics](const std::string& path, int status, double seconds) {
    metrics.record(path, status, seconds);
  });
  server.route(
      "GET", "/",
      [](const HttpRequest&) {
        HttpResponse r;
        r.content_type = "text/html; charset=utf-8";
        r.body = drawing_page();
        return r;
      },
      true);
  server.route(
      "GET", "/healthz", [](const HttpRequest&) { return json("{\"status\":\"ok\"}\n"); }, true);
  server.route(
      "GET", "/metrics",
      [&metrics](const HttpRequest&) {
        HttpResponse r;
        r.content_type = "text/plain; version=0.0.4";
        r.body = metrics.prometheus();
        return r;
      },
      true);
  server.route("GET", "/v1/model", [&predictor](const HttpRequest&) {
    return json(predictor.model_info().dump(2) + "\n");
  });
  server.route("POST", "/v1/predict", [&](const HttpRequest& req) {
    const auto t0 = std::chrono::steady_clock::now();
    HttpResponse r =
        to_response(handle_predict(req.header("content-type"), req.body, o.max_body, predictor));
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    r.headers.emplace_back("X-Latency-Ms", std::to_string(ms));
    return r;
  });
  const read::NumberReader reader = o.reader ? o.reader : classifier_reader(predictor);
  server.route("POST", "/v1/read", [&](const HttpRequest& req) {
    return to_response(handle_read(req.header("content-type"), req.body, o.max_body, reader));
  });
  const int port = server.bind();
  core::InterruptGuard interrupts;
  std::printf("serving on http://%s:%d (Ctrl-C stops)\n", o.host.c_str(), port);
  std::fflush(stdout);
  server.serve([] { return core::interrupt_signal() != 0; });
  std::printf("stopped\n");
  return 0;
}

}  // namespace digitlab::serve
