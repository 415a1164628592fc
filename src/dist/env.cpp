// torchrun variables and the local launcher.
#include "dist/env.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <sstream>
#include <thread>

#include "core/error.h"
#include "core/interrupt.h"

extern char** environ;

namespace digitlab::dist {
namespace {

using core::UsageError;

int read_int(const std::function<const char*(const char*)>& get, const char* name, int fallback,
             int lo, int hi) {
  const char* v = get(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  errno = 0;
  const long n = std::strtol(v, &end, 10);
  if (*end != '\0' || errno != 0 || n < lo || n > hi) {
    throw UsageError(std::string(name) + ": '" + v + "' is not a whole number from " +
                     std::to_string(lo) + " to " + std::to_string(hi));
  }
  return int(n);
}

}  // namespace

DistEnv dist_env(const std::function<const char*(const char*)>& get) {
  DistEnv e;
  const char* ws = get("WORLD_SIZE");
  if (!ws || !*ws) return e;
  e.active = true;
  e.world_size = read_int(get, "WORLD_SIZE", 1, 1, 65536);
  e.rank = read_int(get, "RANK", -1, 0, e.world_size - 1);
  if (e.rank < 0) throw UsageError("RANK: not set (WORLD_SIZE is)");
  e.local_world_size = read_int(get, "LOCAL_WORLD_SIZE", e.world_size, 1, e.world_size);
  e.local_rank =
      read_int(get, "LOCAL_RANK", e.rank % e.local_world_size, 0, e.local_world_size - 1);
  e.master_port = read_int(get, "MASTER_PORT", e.master_port, 1, 65535);
  if (const char* a = get("MASTER_ADDR"); a && *a) e.master_addr = a;
  return e;
}

int threads_per_rank(const DistEnv& env) {
  const int cores = int(std::max(1u, std::thread::hardware_concurrency()));
  return std::max(1, cores / std::max(1, env.local_world_size));
}

int launch_command(const LaunchOptions& o) {
  if (o.nproc < 1 || o.nproc > 256) throw UsageError("--nproc: must be 1 to 256");
  if (o.nnodes < 1 || o.nnodes > 4096) throw UsageError("--nnodes: must be 1 to 4096");
  if (o.node_rank < 0 || o.node_rank >= o.nnodes) {
    throw UsageError("--node-rank: must be 0 to " + std::to_string(o.nnodes - 1));
  }
  if (!(o.timeout >= 1 && o.timeout <= 86400)) {
    throw UsageError("--timeout: must be 1 to 86400 seconds");
  }
  const size_t colon = o.master.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    throw UsageError("--master: expected HOST:PORT, got '" + o.master + "'");
  }
  const std::string host = o.master.substr(0, colon);
  const std::string port_text = o.master.substr(colon + 1);
  char* end = nullptr;
  const long port = std::strtol(port_text.c_str(), &end, 10);
  if (port_text.empty() || *end != '\0' || port < 1 || port > 65535) {
    throw UsageError("--master: port '" + port_text + "' is not 1 to 65535");
  }
  if (o.command.empty()) {
    throw UsageError("launch: give the command after --, e.g. -- train --epochs 3");
  }
  if (o.program.empty()) throw core::RuntimeError("launch: the digitlab program was not found");

  const int world = o.nproc * o.nnodes;
  std::vector<pid_t> pids;
  core::InterruptGuard interrupts;
  for (int local = 0; local < o.nproc; ++local) {
    const int rank = o.node_rank * o.nproc + local;
    // The environment for the rank, built before fork: only async-signal-safe calls after it.
    std::vector<std::string> env;
    const std::vector<std::string> ours = {"MASTER_ADDR", "MASTER_PORT",      "WORLD_SIZE", "RANK",
                                           "LOCAL_RANK",  "LOCAL_WORLD_SIZE", "GROUP_RANK"};
    for (char** e = environ; *e; ++e) {
      const std::string kv = *e;
      const std::string key = kv.substr(0, kv.find('='));
      if (std::find(ours.begin(), ours.end(), key) == ours.end()) env.push_back(kv);
    }
    env.push_back("MASTER_ADDR=" + host);
    env.push_back("MASTER_PORT=" + std::to_string(port));
    env.push_back("WORLD_SIZE=" + std::to_string(world));
    env.push_back("RANK=" + std::to_string(rank));
    env.push_back("LOCAL_RANK=" + std::to_string(local));
    env.push_back("LOCAL_WORLD_SIZE=" + std::to_string(o.nproc));
    env.push_back("GROUP_RANK=" + std::to_string(o.node_rank));
    std::vector<char*> envp;
    for (auto& kv : env) envp.push_back(kv.data());
    envp.push_back(nullptr);
    std::vector<std::string> args = {o.program};
    args.insert(args.end(), o.command.begin(), o.command.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) {
      for (pid_t p : pids) ::kill(p, SIGTERM);
      throw core::RuntimeError(std::string("launch: cannot start a rank (") + std::strerror(errno) +
                               ")");
    }
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != parent) ::_exit(143);
      ::execve(o.program.c_str(), argv.data(), envp.data());
      const char msg[] = "digitlab launch: cannot run the rank program\n";
      (void)!::write(2, msg, sizeof msg - 1);
      ::_exit(127);
    }
    pids.push_back(pid);
  }

  using Clock = std::chrono::steady_clock;
  int first_failure = 0;
  Clock::time_point failed_at;
  bool terminated = false, forwarded = false;
  size_t running = pids.size();
  std::vector<bool> done(pids.size(), false);
  while (running > 0) {
    if (const int sig = core::interrupt_signal(); sig && !forwarded) {
      for (size_t i = 0; i < pids.size(); ++i) {
        if (!done[i]) ::kill(pids[i], SIGTERM);
      }
      forwarded = true;
    }
    bool reaped = false;
    for (size_t i = 0; i < pids.size(); ++i) {
      if (done[i]) continue;
      int status = 0;
      const pid_t r = ::waitpid(pids[i], &status, WNOHANG);
      if (r == 0 || (r < 0 && errno == EINTR)) continue;
      done[i] = true;
      --running;
      reaped = true;
      int code = 1;
      if (r > 0 && WIFEXITED(status)) code = WEXITSTATUS(status);
      if (r > 0 && WIFSIGNALED(status)) code = 128 + WTERMSIG(status);
      if (code != 0 && first_failure == 0) {
        first_failure = code;
        failed_at = Clock::now();
        std::ostringstream line;  // one write: the ranks share this stream
        line << "digitlab launch: rank " << o.node_rank * o.nproc + int(i) << " exited with "
             << code << "; the others get " << o.timeout << " s to end\n";
        std::cerr << line.str() << std::flush;
      }
    }
    if (first_failure && !terminated &&
        std::chrono::duration<double>(Clock::now() - failed_at).count() > o.timeout) {
      for (size_t i = 0; i < pids.size(); ++i) {
        if (!done[i]) ::kill(pids[i], SIGTERM);
      }
      terminated = true;
    }
    if (!reaped) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return first_failure;
}

}  // namespace digitlab::dist
