// TCPStore + ProcessGroupGloo as a train::Collective.
#include "dist/group.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <exception>
#include <string>
#include <thread>
#include <vector>

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "core/error.h"
#include "core/interrupt.h"
#include "train/collective.h"
#include "tune/sync.h"

namespace digitlab::dist {
namespace {

// The local address this machine reaches `host` from (a UDP connect sends nothing), so Gloo
// listens where the other machines can reach it; "" when it cannot be found.
std::string local_address_towards(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0 || !found) {
    return "";
  }
  std::string out;
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  if (fd >= 0 && ::connect(fd, found->ai_addr, found->ai_addrlen) == 0) {
    sockaddr_in local{};
    socklen_t len = sizeof local;
    char text[INET_ADDRSTRLEN] = {0};
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) == 0 &&
        ::inet_ntop(AF_INET, &local.sin_addr, text, sizeof text)) {
      out = text;
    }
  }
  if (fd >= 0) ::close(fd);
  ::freeaddrinfo(found);
  return out;
}

// A peer that dies closes its sockets; a write to one then raises SIGPIPE, which would end this
// rank silently (exit 141) before it can say that it lost the group. Ignored, the write fails
// with EPIPE and the group reports the loss.
void ignore_broken_pipes() { std::signal(SIGPIPE, SIG_IGN); }

// The group's key-value store at MASTER_ADDR:MASTER_PORT, served by rank 0; returns once every
// rank has connected (c10d throws after `timeout`).
c10::intrusive_ptr<c10d::TCPStore> make_store(const DistEnv& env,
                                              std::chrono::milliseconds timeout) {
  ignore_broken_pipes();
  c10d::TCPStoreOptions so;
  so.port = uint16_t(env.master_port);
  so.isServer = env.rank == 0;
  so.numWorkers = size_t(env.world_size);
  so.waitWorkers = true;
  so.timeout = timeout;
  return c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
}

class GlooGroup : public train::Collective {
 public:
  GlooGroup(const DistEnv& env, double timeout_seconds) : env_(env) {
    const auto timeout = std::chrono::milliseconds(int64_t(timeout_seconds * 1000));
    const std::string where = "rank " + std::to_string(env.rank) + " of " +
                              std::to_string(env.world_size) + " (" + env.master_addr + ":" +
                              std::to_string(env.master_port) + ")";
    try {
      store_ = make_store(env, timeout);
      auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
      const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
      const std::string local = local_address_towards(env.master_addr, env.master_port);
      if (ifname && *ifname) {
        opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
      } else if (!local.empty()) {
        opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(local));
      } else {
        opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      }
      opts->threads = 1;
      pg_ = c10::make_intrusive<c10d::ProcessGroupGloo>(store_, env.rank, env.world_size, opts);
    } catch (const std::exception& e) {
      throw core::RuntimeError(where + ": the group did not form within " +
                               std::to_string(int(timeout_seconds)) + " s (" + brief(e) + ")");
    }
  }

  int rank() const override { return env_.rank; }
  int world_size() const override { return env_.world_size; }

  void allreduce_sum(torch::Tensor& t) override {
    std::vector<at::Tensor> v = {t};
    run([&] { pg_->allreduce(v)->wait(); }, "allreduce");
  }

  void broadcast(torch::Tensor& t, int root) override {
    std::vector<at::Tensor> v = {t};
    c10d::BroadcastOptions o;
    o.rootRank = root;
    run([&] { pg_->broadcast(v, o)->wait(); }, "broadcast");
  }

 private:
  static std::string brief(const std::exception& e) {
    const auto* c10 = dynamic_cast<const c10::Error*>(&e);
    return core::one_line(c10 ? c10->what_without_backtrace() : e.what());
  }

  template <typename F>
  void run(F&& f, const char* what) {
    try {
      f();
    } catch (const std::exception& e) {
      throw core::RuntimeError("rank " + std::to_string(env_.rank) + " of " +
                               std::to_string(env_.world_size) + ": lost the group during " + what +
                               " (" + brief(e) + ")");
    }
  }

  DistEnv env_;
  c10::intrusive_ptr<c10d::TCPStore> store_;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg_;
};

// The store alone: each round, every rank sets its key and reads everyone's.
class StoreSync : public tune::Sync {
 public:
  StoreSync(const DistEnv& env, double timeout_seconds) : env_(env) {
    try {
      store_ = make_store(env, std::chrono::milliseconds(int64_t(timeout_seconds * 1000)));
    } catch (const std::exception& e) {
      throw core::RuntimeError(
          "rank " + std::to_string(env.rank) + " of " + std::to_string(env.world_size) + " (" +
          env.master_addr + ":" + std::to_string(env.master_port) +
          "): the search group did not form within " + std::to_string(int(timeout_seconds)) +
          " s (" + core::one_line(e.what()) + ")");
    }
  }

  // A rank leaving by an exception tells the others (they stop waiting for it); rank 0, which
  // serves the store, stays until every rank has read the last round.
  ~StoreSync() override {
    try {
      if (std::uncaught_exceptions() > 0) {
        store_->set("tune/abort", std::vector<uint8_t>{1});
      } else if (env_.rank != 0) {
        store_->set("tune/left/" + std::to_string(env_.rank), std::vector<uint8_t>{1});
      } else {
        for (int r = 1; r < env_.world_size; ++r) {
          wait_for("tune/left/" + std::to_string(r), std::chrono::seconds(60));
        }
      }
    } catch (const std::exception&) {
      // Leaving anyway; the others find out from the store.
    }
  }

  int rank() const override { return env_.rank; }
  int size() const override { return env_.world_size; }

  std::vector<std::string> exchange(const std::string& mine) override {
    const std::string prefix = "tune/" + std::to_string(round_++) + "/";
    std::vector<std::string> out;
    try {
      store_->set(prefix + std::to_string(env_.rank),
                  std::vector<uint8_t>(mine.begin(), mine.end()));
      for (int r = 0; r < env_.world_size; ++r) {
        const std::string key = prefix + std::to_string(r);
        wait_for(key, std::chrono::hours(24));
        const std::vector<uint8_t> v = store_->get(key);
        out.emplace_back(v.begin(), v.end());
      }
    } catch (const core::Error&) {
      throw;
    } catch (const std::exception& e) {
      throw core::RuntimeError("rank " + std::to_string(env_.rank) + " of " +
                               std::to_string(env_.world_size) + ": lost the search group (" +
                               core::one_line(e.what()) + ")");
    }
    return out;
  }

 private:
  // Waits for `key` in short slices, so that a failed rank (the abort key) or a signal to this
  // process (launch's SIGTERM after another rank died) ends the wait.
  void wait_for(const std::string& key, std::chrono::seconds limit) {
    using Clock = std::chrono::steady_clock;
    const auto end = Clock::now() + limit;
    Clock::time_point signalled{};
    while (!store_->check({key})) {
      if (store_->check({"tune/abort"})) {
        throw core::RuntimeError("rank " + std::to_string(env_.rank) +
                                 ": another rank of the search failed");
      }
      // After a signal the others normally stop too and answer once their trials have saved;
      // two minutes is the most they get.
      if (core::interrupt_signal() && signalled == Clock::time_point{}) signalled = Clock::now();
      if (signalled != Clock::time_point{} && Clock::now() - signalled > std::chrono::minutes(2)) {
        throw core::RuntimeError("rank " + std::to_string(env_.rank) +
                                 ": stopped while waiting for the other ranks");
      }
      if (std::chrono::steady_clock::now() > end) {
        throw core::RuntimeError("rank " + std::to_string(env_.rank) +
                                 ": the other ranks did not answer in time");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }

  DistEnv env_;
  c10::intrusive_ptr<c10d::TCPStore> store_;
  long round_ = 0;
};

}  // namespace

std::shared_ptr<tune::Sync> join_search(const DistEnv& env, double timeout_seconds) {
  return std::make_shared<StoreSync>(env, timeout_seconds);
}

std::shared_ptr<train::Collective> join_group(const DistEnv& env, double timeout_seconds) {
  return std::make_shared<GlooGroup>(env, timeout_seconds);
}

}  // namespace digitlab::dist
