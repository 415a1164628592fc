// Trial processes: fork/exec with the log as stdout, a polling wait, signal forwarding.
#include "tune/runner.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "core/error.h"
#include "core/interrupt.h"

extern char** environ;

namespace digitlab::tune {
namespace {

struct Running {
  pid_t pid;
  const Job* job;
  std::chrono::steady_clock::time_point start;
};

// Only async-signal-safe calls between fork and exec.
pid_t spawn(const std::string& program, const Job& job) {
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(program.c_str()));
  for (const auto& a : job.args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  // A trial is a run of its own, never a rank of the group a distributed search runs in.
  static const char* const kGroupVariables[] = {"MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE",
                                                "RANK",        "LOCAL_RANK",  "LOCAL_WORLD_SIZE",
                                                "GROUP_RANK"};
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    const std::string kv = *e;
    const std::string key = kv.substr(0, kv.find('='));
    bool group = false;
    for (const char* g : kGroupVariables) group |= key == g;
    if (!group) env.push_back(kv);
  }
  std::vector<char*> envp;
  for (auto& kv : env) envp.push_back(kv.data());
  envp.push_back(nullptr);
  const int log = ::open(job.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log < 0) {
    throw core::RuntimeError(job.log_path + ": cannot open for writing (" + std::strerror(errno) +
                             ")");
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log);
    throw core::RuntimeError(std::string("cannot start a trial process (") + std::strerror(errno) +
                             ")");
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(143);  // the search died before prctl took effect
    const int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0) {
      ::dup2(null, 0);
      if (null != 0) ::close(null);
    }
    ::dup2(log, 1);
    ::dup2(log, 2);
    ::execve(program.c_str(), argv.data(), envp.data());
    const char msg[] = "digitlab tune: cannot run the trial program\n";
    (void)!::write(2, msg, sizeof msg - 1);
    ::_exit(127);
  }
  ::close(log);
  return pid;
}

}  // namespace

int run_jobs(const std::string& program, const std::vector<Job>& jobs, int parallel,
             const std::function<void(const Job&)>& on_start,
             const std::function<void(const Job&, int code, double seconds)>& on_end) {
  if (jobs.empty()) return core::interrupt_signal();  // a rank with no trials this round
  std::vector<Running> running;
  size_t next = 0;
  bool forwarded = false;
  while (next < jobs.size() || !running.empty()) {
    const int sig = core::interrupt_signal();
    if (sig && !forwarded) {
      for (const auto& r : running) ::kill(r.pid, SIGTERM);
      forwarded = true;
    }
    while (!sig && next < jobs.size() && int(running.size()) < std::max(parallel, 1)) {
      const Job& job = jobs[next++];
      if (on_start) on_start(job);
      running.push_back({spawn(program, job), &job, std::chrono::steady_clock::now()});
    }
    bool reaped = false;
    for (size_t i = 0; i < running.size();) {
      int status = 0;
      const pid_t r = ::waitpid(running[i].pid, &status, WNOHANG);
      if (r == 0 || (r < 0 && errno == EINTR)) {
        ++i;
        continue;
      }
      int code = 1;
      if (r > 0 && WIFEXITED(status)) code = WEXITSTATUS(status);
      if (r > 0 && WIFSIGNALED(status)) code = 128 + WTERMSIG(status);
      const double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - running[i].start)
              .count();
      const Job* job = running[i].job;
      running.erase(running.begin() + long(i));
      if (on_end) on_end(*job, code, secs);
      reaped = true;
    }
    if (sig && running.empty()) return sig;
    if (!reaped) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return 0;
}

}  // namespace digitlab::tune
