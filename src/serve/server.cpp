// cpp-httplib wiring of the prediction service.
#include "serve/server.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include <httplib.h>

#include "core/error.h"
#include "core/interrupt.h"

namespace digitlab::serve {
namespace {

using Clock = std::chrono::steady_clock;

void send(httplib::Response& res, const Answer& a) {
  res.status = a.status;
  res.set_content(a.body, a.content_type.c_str());
}

}  // namespace

int run_server(Predictor& predictor, const ServerOptions& o) {
  httplib::Server server;
  Metrics metrics;
  const int threads = std::max(1, o.threads);
  server.new_task_queue = [threads] { return new httplib::ThreadPool(size_t(threads)); };
  // httplib refuses longer bodies itself (413 without a body) where no Content-Length tells in
  // advance; with a length, the pre-routing check answers first, in JSON, before reading it.
  server.set_payload_max_length(o.max_body + 1);
  // Answers go out at once: with Nagle's algorithm a keep-alive client's second request waits on
  // the delayed ACK of the first answer (about 40 ms each).
  server.set_tcp_nodelay(true);
  server.set_pre_routing_handler([&](const httplib::Request& req, httplib::Response& res) {
    if (req.has_header("Content-Length")) {
      const std::string v = req.get_header_value("Content-Length");
      char* end = nullptr;
      const unsigned long long n = std::strtoull(v.c_str(), &end, 10);
      if (end == v.c_str() || *end != '\0' || n > o.max_body) {
        send(res, error_answer(413, "body of " + v + " bytes is over the " +
                                        std::to_string(o.max_body) + "-byte limit"));
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // The predict handler records its own requests with their latency (and says so in a header);
  // the logger counts every other answer, the refusals before routing included.
  server.set_logger([&](const httplib::Request& req, const httplib::Response& res) {
    if (!res.has_header("X-Latency-Ms")) metrics.record(req.path, res.status, 0.0);
  });
  server.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(drawing_page(), "text/html; charset=utf-8");
  });
  server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("{\"status\":\"ok\"}\n", "application/json");
  });
  server.Get("/v1/model", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(predictor.model_info().dump(2) + "\n", "application/json");
  });
  server.Get("/metrics", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics.prometheus(), "text/plain; version=0.0.4");
  });
  server.Post("/v1/predict", [&](const httplib::Request& req, httplib::Response& res) {
    const auto t0 = Clock::now();
    send(res,
         handle_predict(req.get_header_value("Content-Type"), req.body, o.max_body, predictor));
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    metrics.record(req.path, res.status, seconds);
    res.set_header("X-Latency-Ms", std::to_string(seconds * 1e3));
  });
  server.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;  // our own error answers already carry a JSON body
    const char* what = res.status == 404   ? "no such path"
                       : res.status == 405 ? "method not allowed"
                       : res.status == 413 ? "body over the size limit"
                                           : "request refused";
    send(res, error_answer(res.status, std::string(what) + ": " + req.method + " " + req.path));
  });
  server.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "internal error";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what += std::string(": ") + e.what();
        } catch (...) {
        }
        send(res, error_answer(500, what));
      });

  int port = o.port;
  if (port == 0) {
    port = server.bind_to_any_port(o.host);
    if (port < 0) throw core::RuntimeError("--host " + o.host + ": cannot bind to any port");
  } else if (!server.bind_to_port(o.host, port)) {
    throw core::RuntimeError("--port " + std::to_string(port) + ": cannot listen on " + o.host +
                             " (in use, or not an address of this machine)");
  }
  core::InterruptGuard interrupts;
  std::atomic<bool> done{false};
  // Signal handlers may not stop the server themselves; this watcher does it for them.
  std::thread watcher([&] {
    while (!done && !core::interrupt_signal()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    server.stop();
  });
  std::printf("serving on http://%s:%d (Ctrl-C stops)\n", o.host.c_str(), port);
  std::fflush(stdout);
  server.listen_after_bind();
  done = true;
  watcher.join();
  std::printf("stopped\n");
  return 0;
}

}  // namespace digitlab::serve
