// TCPStore + ProcessGroupGloo as a train::Collective.
#include "dist/group.h"

#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "core/error.h"
#include "train/collective.h"
#include "tune/sync.h"

namespace digitlab::dist {
namespace {

class GlooGroup : public train::Collective {
 public:
  GlooGroup(const DistEnv& env, double timeout_seconds) : env_(env) {
    const auto timeout = std::chrono::milliseconds(int64_t(timeout_seconds * 1000));
    const std::string where = "rank " + std::to_string(env.rank) + " of " +
                              std::to_string(env.world_size) + " (" + env.master_addr + ":" +
                              std::to_string(env.master_port) + ")";
    try {
      c10d::TCPStoreOptions so;
      so.port = uint16_t(env.master_port);
      so.isServer = env.rank == 0;
      so.numWorkers = size_t(env.world_size);
      so.waitWorkers = true;
      so.timeout = timeout;
      store_ = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
      auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
      const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
      opts->devices.push_back(
          ifname && *ifname ? c10d::ProcessGroupGloo::createDeviceForInterface(ifname)
                            : c10d::ProcessGroupGloo::createDeviceForHostname(env.master_addr));
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
      c10d::TCPStoreOptions so;
      so.port = uint16_t(env.master_port);
      so.isServer = env.rank == 0;
      so.numWorkers = size_t(env.world_size);
      so.waitWorkers = true;
      so.timeout = std::chrono::milliseconds(int64_t(timeout_seconds * 1000));
      store_ = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
    } catch (const std::exception& e) {
      throw core::RuntimeError(
          "rank " + std::to_string(env.rank) + " of " + std::to_string(env.world_size) + " (" +
          env.master_addr + ":" + std::to_string(env.master_port) +
          "): the search group did not "
          "form within " +
          std::to_string(int(timeout_seconds)) + " s (" + core::one_line(e.what()) + ")");
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
        store_->wait({key}, std::chrono::hours(24));
        const std::vector<uint8_t> v = store_->get(key);
        out.emplace_back(v.begin(), v.end());
      }
    } catch (const std::exception& e) {
      throw core::RuntimeError("rank " + std::to_string(env_.rank) + " of " +
                               std::to_string(env_.world_size) + ": lost the search group (" +
                               core::one_line(e.what()) + ")");
    }
    return out;
  }

 private:
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
