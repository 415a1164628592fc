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
  int threads = 8;  // connections served at once
};

// Serves GET / (drawing page), POST /v1/predict, GET /v1/model, GET /healthz and GET /metrics
// until SIGINT or SIGTERM, then stops accepting, finishes requests in flight and returns 0.
// Prints "serving on http://HOST:PORT" (the real port) on stdout when listening. Throws
// core::RuntimeError when it cannot bind. Every error answer has a JSON body.
int run_server(Predictor& predictor, const ServerOptions& options);

}  // namespace digitlab::serve
