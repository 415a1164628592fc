// The poll() loop, connection states and deadlines, and the worker pool of HttpServer.
#include "serve/http_server.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "core/error.h"

namespace digitlab::serve {
namespace {

using Clock = std::chrono::steady_clock;

Clock::duration seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

// How long a closing connection is drained of what its client still sends, so that the answer
// is not lost to a reset (a client sending a body we refused).
constexpr double kLingerSeconds = 2.0;
constexpr size_t kReadChunk = 64 * 1024;

struct Route {
  std::string method;
  std::string path;
  HttpHandler handler;
  bool on_io_thread = false;
};

enum class Phase { kReading, kBusy, kWriting, kDraining };

struct Connection {
  int fd = -1;
  Phase phase = Phase::kReading;
  std::string in;
  std::string out;
  size_t sent = 0;
  RequestParser parser;
  bool started = false;      // part of a request has arrived
  bool peer_done = false;    // the client will send nothing more (EOF)
  bool close_after = false;  // close once the answer is out
  bool head_only = false;
  std::string path;            // of the request being answered, for the observer
  Clock::time_point start;     // of the request being read
  Clock::time_point ready;     // when the request was complete
  Clock::time_point deadline;  // of the current phase
  Clock::time_point activity;  // last byte in or out

  explicit Connection(const HttpLimits& limits) : parser(limits) {}
};

struct Job {
  uint64_t connection;
  HttpRequest request;
  const HttpHandler* handler;
};

struct Done {
  uint64_t connection;
  HttpResponse response;
};

}  // namespace

struct HttpServer::Impl {
  HttpServerOptions o;
  ErrorAnswer error_answer;
  AnswerObserver observer;
  std::vector<Route> routes;
  int listen_fd = -1;
  int wake[2] = {-1, -1};
  std::map<uint64_t, std::unique_ptr<Connection>> connections;
  uint64_t next_id = 1;
  bool stopping = false;

  std::mutex mu;
  std::condition_variable cv;
  std::deque<Job> jobs;
  std::vector<Done> done;
  bool quit = false;
  std::vector<std::thread> workers;

  HttpResponse call(const HttpHandler& handler, const HttpRequest& request) const;
  void work();
  void accept_all();
  bool evict_one();
  void close(uint64_t id);
  void on_readable(uint64_t id);
  void process(uint64_t id);
  void dispatch(uint64_t id, HttpRequest&& request);
  void answer(uint64_t id, const HttpResponse& response);
  void on_writable(uint64_t id);
  void collect_done();
  void expire(Clock::time_point now);
  Clock::time_point next_deadline() const;
  void loop(const std::function<bool()>& stop);
};

HttpServer::HttpServer(HttpServerOptions options, ErrorAnswer error_answer)
    : impl_(std::make_unique<Impl>()) {
  impl_->o = std::move(options);
  impl_->error_answer = std::move(error_answer);
}

HttpServer::~HttpServer() {
  for (auto& [id, c] : impl_->connections) ::close(c->fd);
  if (impl_->listen_fd >= 0) ::close(impl_->listen_fd);
  for (int fd : impl_->wake) {
    if (fd >= 0) ::close(fd);
  }
}

void HttpServer::route(const std::string& method, const std::string& path, HttpHandler handler,
                       bool on_io_thread) {
  impl_->routes.push_back({method, path, std::move(handler), on_io_thread});
}

void HttpServer::observe(AnswerObserver observer) { impl_->observer = std::move(observer); }

int HttpServer::bind() {
  Impl& s = *impl_;
  // Each connection is a descriptor: raise the soft limit toward the hard one where it is lower
  // than the connections allowed (a process past it gets EMFILE, which evicts an idle client).
  rlimit files{};
  const rlim_t wanted = rlim_t(s.o.max_connections) + 64;
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < wanted) {
    files.rlim_cur = std::min(wanted, files.rlim_max);
    setrlimit(RLIMIT_NOFILE, &files);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(s.o.port);
  const std::string where = s.o.port == 0 ? "--host " + s.o.host + ": cannot bind to any port"
                                          : "--port " + port + ": cannot listen on " + s.o.host +
                                                " (in use, or not an address of this machine)";
  if (getaddrinfo(s.o.host.c_str(), port.c_str(), &hints, &found) != 0 || !found) {
    throw core::RuntimeError("--host " + s.o.host + ": not an address of this machine");
  }
  for (addrinfo* a = found; a && s.listen_fd < 0; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd, 1024) == 0) {
      s.listen_fd = fd;
    } else {
      ::close(fd);
    }
  }
  freeaddrinfo(found);
  if (s.listen_fd < 0) throw core::RuntimeError(where);
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  getsockname(s.listen_fd, reinterpret_cast<sockaddr*>(&addr), &len);
  return addr.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port)
                                    : ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
}

void HttpServer::serve(const std::function<bool()>& stop) {
  Impl& s = *impl_;
  if (s.listen_fd < 0) throw core::RuntimeError("HttpServer::serve before bind");
  if (pipe2(s.wake, O_NONBLOCK | O_CLOEXEC) != 0) {
    throw core::RuntimeError(std::string("cannot create a pipe: ") + std::strerror(errno));
  }
  for (int i = 0; i < std::max(1, s.o.workers); ++i) s.workers.emplace_back([&s] { s.work(); });
  s.loop(stop);
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.quit = true;
  }
  s.cv.notify_all();
  for (auto& t : s.workers) t.join();
  s.workers.clear();
}

HttpResponse HttpServer::Impl::call(const HttpHandler& handler, const HttpRequest& request) const {
  try {
    return handler(request);
  } catch (const std::exception& e) {
    return error_answer(500, std::string("internal error: ") + e.what());
  } catch (...) {
    return error_answer(500, "internal error");
  }
}

void HttpServer::Impl::work() {
  while (true) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return quit || !jobs.empty(); });
      if (jobs.empty()) return;
      job = std::move(jobs.front());
      jobs.pop_front();
    }
    HttpResponse response = call(*job.handler, job.request);
    {
      std::lock_guard<std::mutex> lock(mu);
      done.push_back({job.connection, std::move(response)});
    }
    const char byte = 1;
    [[maybe_unused]] const ssize_t n = ::write(wake[1], &byte, 1);  // full pipe: already woken
  }
}

void HttpServer::Impl::close(uint64_t id) {
  auto it = connections.find(id);
  if (it == connections.end()) return;
  ::close(it->second->fd);
  connections.erase(it);
}

// Of the connections waiting on their client (idle, or a request arriving), the one that has
// waited longest; a connection whose answer is being computed or sent is never chosen.
bool HttpServer::Impl::evict_one() {
  uint64_t victim = 0;
  Clock::time_point oldest = Clock::time_point::max();
  for (const auto& [id, c] : connections) {
    const Clock::time_point since = c->started ? c->start : c->activity;
    if ((c->phase == Phase::kReading || c->phase == Phase::kDraining) && since < oldest) {
      oldest = since;
      victim = id;
    }
  }
  if (victim == 0) return false;
  close(victim);
  return true;
}

void HttpServer::Impl::accept_all() {
  while (true) {
    const int fd = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR) continue;
      if ((errno == EMFILE || errno == ENFILE) && evict_one()) continue;
      return;  // EAGAIN: all taken; other errors concern that one client
    }
    if (int(connections.size()) >= o.max_connections && !evict_one()) {
      ::close(fd);
      continue;
    }
    const int one = 1;
    // Answers go out at once: with Nagle's algorithm a keep-alive client's next request waits
    // on the delayed ACK of the previous answer (about 40 ms each).
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto c = std::make_unique<Connection>(o.limits);
    c->fd = fd;
    c->activity = Clock::now();
    c->deadline = c->activity + seconds(o.timeout_seconds);
    connections.emplace(next_id++, std::move(c));
  }
}

void HttpServer::Impl::on_readable(uint64_t id) {
  Connection& c = *connections.at(id);
  char buffer[kReadChunk];
  // Bounded per wake-up so that one fast client cannot keep the loop from the others.
  for (int round = 0; round < 16; ++round) {
    const ssize_t n = ::recv(c.fd, buffer, sizeof buffer, 0);
    if (n > 0) {
      c.activity = Clock::now();
      if (c.phase == Phase::kReading) c.in.append(buffer, size_t(n));
      continue;
    }
    if (n == 0) {
      c.peer_done = true;
      break;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    close(id);  // reset by the client
    return;
  }
  if (c.phase == Phase::kDraining) {
    if (c.peer_done) close(id);
    return;
  }
  process(id);
}

// Reads the requests buffered on a connection, one after another (pipelining), until one is
// incomplete or its answer is pending. A loop, not recursion: a client may pipeline thousands.
void HttpServer::Impl::process(uint64_t id) {
  while (true) {
    auto it = connections.find(id);
    if (it == connections.end()) return;
    Connection& c = *it->second;
    if (c.phase != Phase::kReading) return;
    if (!c.started && c.parser.in_request(c.in)) {
      c.started = true;
      c.start = Clock::now();
    }
    HttpRequest request;
    const RequestParser::State state = c.parser.parse(c.in, request);
    if (state == RequestParser::State::kComplete) {
      c.started = false;
      dispatch(id, std::move(request));
      continue;
    }
    if (state == RequestParser::State::kError) {
      c.close_after = true;
      c.path = c.parser.path();
      c.head_only = false;
      c.ready = Clock::now();
      answer(id, error_answer(c.parser.error_status, c.parser.error_message));
      return;
    }
    if (c.peer_done) {  // the client stopped mid-request or between requests: nothing to answer
      close(id);
      return;
    }
    const double limit =
        c.started && c.parser.have_head() ? o.body_timeout_seconds : o.timeout_seconds;
    c.deadline = (c.started ? c.start : c.activity) + seconds(limit);
    return;
  }
}

void HttpServer::Impl::dispatch(uint64_t id, HttpRequest&& request) {
  Connection& c = *connections.at(id);
  c.ready = Clock::now();
  c.path = request.path;
  c.head_only = request.method == "HEAD";
  c.close_after = !request.keep_alive || c.peer_done || stopping;
  const std::string& method = c.head_only ? std::string("GET") : request.method;
  const Route* found = nullptr;
  std::string allow;
  for (const Route& r : routes) {
    if (r.path != request.path) continue;
    if (r.method == method) found = &r;
    allow += (allow.empty() ? "" : ", ") + r.method + (r.method == "GET" ? ", HEAD" : "");
  }
  if (!found) {
    const bool known = !allow.empty();
    HttpResponse refusal =
        error_answer(known ? 405 : 404, std::string(known ? "method not allowed" : "no such path") +
                                            ": " + request.method + " " + request.path);
    if (known) refusal.headers.emplace_back("Allow", allow);
    answer(id, refusal);
    return;
  }
  if (found->on_io_thread) {
    answer(id, call(found->handler, request));
    return;
  }
  c.phase = Phase::kBusy;
  {
    std::lock_guard<std::mutex> lock(mu);
    jobs.push_back({id, std::move(request), &found->handler});
  }
  cv.notify_one();
}

void HttpServer::Impl::answer(uint64_t id, const HttpResponse& response) {
  Connection& c = *connections.at(id);
  if (observer) {
    observer(c.path, response.status,
             std::chrono::duration<double>(Clock::now() - c.ready).count());
  }
  c.out = serialize_response(response, !c.close_after, c.head_only);
  c.sent = 0;
  c.phase = Phase::kWriting;
  c.deadline = Clock::now() + seconds(o.timeout_seconds);
  on_writable(id);
}

void HttpServer::Impl::on_writable(uint64_t id) {
  Connection& c = *connections.at(id);
  while (c.sent < c.out.size()) {
    const ssize_t n = ::send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
    if (n > 0) {
      c.sent += size_t(n);
      c.activity = Clock::now();
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return;  // the loop waits for POLLOUT
    } else {
      close(id);
      return;
    }
  }
  c.out.clear();
  if (c.close_after) {
    if (c.peer_done) {
      close(id);
      return;
    }
    ::shutdown(c.fd, SHUT_WR);
    c.in.clear();
    c.phase = Phase::kDraining;
    c.deadline = Clock::now() + seconds(kLingerSeconds);
    return;
  }
  c.phase = Phase::kReading;  // the caller goes on with process(): a pipelined request, or the end
  c.deadline = c.activity + seconds(o.timeout_seconds);
}

void HttpServer::Impl::collect_done() {
  char sink[256];
  while (::read(wake[0], sink, sizeof sink) > 0) {
  }
  std::vector<Done> ready;
  {
    std::lock_guard<std::mutex> lock(mu);
    ready.swap(done);
  }
  for (Done& d : ready) {
    if (!connections.count(d.connection)) continue;
    answer(d.connection, d.response);
    process(d.connection);
  }
}

void HttpServer::Impl::expire(Clock::time_point now) {
  std::vector<uint64_t> late;
  for (const auto& [id, c] : connections) {
    if (c->phase != Phase::kBusy && c->deadline <= now) late.push_back(id);
  }
  for (uint64_t id : late) {
    Connection& c = *connections.at(id);
    if (c.phase == Phase::kReading && c.started) {  // a slow or stalled client: say so, then close
      c.close_after = true;
      c.path.clear();
      c.head_only = false;
      c.ready = now;
      answer(id, error_answer(408, "request not received in time"));
    } else {
      close(id);
    }
  }
}

Clock::time_point HttpServer::Impl::next_deadline() const {
  Clock::time_point next = Clock::now() + std::chrono::milliseconds(100);
  for (const auto& [id, c] : connections) {
    if (c->phase != Phase::kBusy) next = std::min(next, c->deadline);
  }
  return next;
}

void HttpServer::Impl::loop(const std::function<bool()>& stop) {
  std::vector<pollfd> fds;
  std::vector<uint64_t> ids;
  while (true) {
    if (!stopping && stop()) {
      stopping = true;
      ::close(listen_fd);
      listen_fd = -1;
    }
    if (stopping) {  // nothing new is read; what is being computed or sent still finishes
      std::vector<uint64_t> idle;
      for (const auto& [id, c] : connections) {
        if (c->phase == Phase::kReading || c->phase == Phase::kDraining) idle.push_back(id);
      }
      for (uint64_t id : idle) close(id);
      if (connections.empty()) return;
    }
    fds.assign({{wake[0], POLLIN, 0}});
    ids.assign({0});
    if (listen_fd >= 0) {
      fds.push_back({listen_fd, POLLIN, 0});
      ids.push_back(0);
    }
    for (const auto& [id, c] : connections) {
      if (c->phase == Phase::kBusy) continue;
      fds.push_back({c->fd, short(c->phase == Phase::kWriting ? POLLOUT : POLLIN), 0});
      ids.push_back(id);
    }
    const auto wait =
        std::chrono::duration_cast<std::chrono::milliseconds>(next_deadline() - Clock::now());
    const int ready = ::poll(fds.data(), fds.size(), int(std::max<int64_t>(0, wait.count())));
    if (ready < 0 && errno != EINTR) {
      throw core::RuntimeError(std::string("poll failed: ") + std::strerror(errno));
    }
    for (size_t i = 0; ready > 0 && i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == wake[0]) {
        collect_done();
      } else if (fds[i].fd == listen_fd && ids[i] == 0) {
        accept_all();
      } else if (connections.count(ids[i])) {
        const Phase phase = connections.at(ids[i])->phase;
        if (phase == Phase::kWriting) {
          on_writable(ids[i]);
          process(ids[i]);
        } else if (phase == Phase::kReading || phase == Phase::kDraining) {
          on_readable(ids[i]);
        }
      }
    }
    expire(Clock::now());
  }
}

}  // namespace digitlab::serve
