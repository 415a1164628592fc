// The HTTP server around a Predictor: routes, limits, metrics, shutdown on a signal; no torch.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

#include "serve/api.h"

namespace digitlab::serve {

struct ServerOptions {
  std::string host = "127.0.0.1";  // loopback unless the user says otherwise
  int port = 8080;                 // 0: any free port (printed)
  size_t max_body = kDefaultMaxBodyBytes;
  int workers = 8;              // requests decoded and predicted at once
  int max_connections = 512;    // open at once; past it the longest-waiting idle one is closed
  double timeout_seconds = 10;  // to send a request's headers; idle keep-alive connections
  // How POST /v1/read reads numbers; empty: with the predictor as the digit classifier.
  read::NumberReader reader;
};

// Serves GET / (drawing page), POST /v1/predict, GET /v1/model, GET /healthz and GET /metrics
// until SIGINT or SIGTERM, then stops accepting, finishes requests in flight and returns 0.
// Slow or idle clients hold no worker (serve/http_server.h); /healthz and /metrics answer on the
// I/O thread, so they answer while every worker is busy.
// Prints "serving on http://HOST:PORT" (the real port) on stdout when listening. Throws
// core::RuntimeError when it cannot bind. Every error answer has a JSON body.
int run_server(Predictor& predictor, const ServerOptions& options);

}  // namespace digitlab::serve
